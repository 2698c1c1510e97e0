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
	out    chan frame
	cancel context.CancelFunc // ends the socket's reader and writer
	once   sync.Once
}

func newSocket(conn *websocket.Conn, cancel context.CancelFunc) *socket {
	return &socket{conn: conn, out: make(chan frame, socketQueue), cancel: cancel}
}

// frame is one queued message, or, with closing set, the close that
// follows the messages queued before it.
type frame struct {
	msg     []byte
	closing bool
	code    websocket.StatusCode
	reason  string
}

// send queues msg; a socket whose queue is full is closed.
func (s *socket) send(msg []byte) {
	select {
	case s.out <- frame{msg: msg}:
	default:
		s.close(websocket.StatusPolicyViolation, "client too slow")
	}
}

// sendThenClose queues msg and then closes the socket with code, once
// the messages queued before it are written.
func (s *socket) sendThenClose(msg []byte, code websocket.StatusCode, reason string) {
	s.send(msg)
	select {
	case s.out <- frame{closing: true, code: code, reason: reason}:
	default:
		s.close(code, reason)
	}
}

// writeLoop writes the queued messages until ctx ends or a write fails.
func (s *socket) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-s.out:
			if f.closing {
				s.close(f.code, f.reason)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := s.conn.Write(wctx, websocket.MessageText, f.msg)
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
