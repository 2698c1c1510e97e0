package subscription

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// socketQueue is how many messages may wait for one socket; a client
// that falls this far behind is disconnected rather than let it hold up
// the follower or the other sockets.
const socketQueue = 256

// writeTimeout bounds one message's write to a client.
const writeTimeout = 10 * time.Second

// socket is one client connection: messages leave through its own
// writer, in the order they were queued.
type socket struct {
	conn   *websocket.Conn
	out    chan []byte
	cancel context.CancelFunc // ends the socket's reader and writer
	once   sync.Once
}

func newSocket(conn *websocket.Conn, cancel context.CancelFunc) *socket {
	return &socket{conn: conn, out: make(chan []byte, socketQueue), cancel: cancel}
}

// send queues msg; a socket whose queue is full is closed.
func (s *socket) send(msg []byte) {
	select {
	case s.out <- msg:
	default:
		s.close(websocket.StatusPolicyViolation, "client too slow")
	}
}

// writeLoop writes the queued messages until ctx ends or a write fails.
func (s *socket) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-s.out:
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := s.conn.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				s.close(websocket.StatusGoingAway, "write failed")
				return
			}
		}
	}
}

// close ends the socket once, with a close frame the client can read.
func (s *socket) close(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		go func() {
			_ = s.conn.Close(code, reason)
			s.cancel()
		}()
	})
}
