package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
)

// WebSocketPath is where Medplum's clients open their subscription socket.
const WebSocketPath = "/ws/subscriptions-r4"

// WebSocketStore is what the WebSocket subscriptions read: *store.Store.
type WebSocketStore interface {
	Searcher
	Read(ctx context.Context, typ, id string) (*ward.Resource, error)
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.Change, error)
	OutboxLast(ctx context.Context) (int64, error)
	// Write deletes the websocket Subscriptions whose binding ended.
	Write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error
}

// Tokens issues and verifies WebSocket binding tokens: *auth.Service.
type Tokens interface {
	IssueWSBindingToken(ctx context.Context, p *ward.Principal, subscriptionID string) (string, time.Time, error)
	VerifyWSBindingToken(ctx context.Context, token string) (*auth.WSBinding, error)
	// CheckWSBinding checks a bound token's login again (cached):
	// EUNAUTHORIZED once it is revoked.
	CheckWSBinding(ctx context.Context, token string, b *auth.WSBinding) error
}

// WebSockets serves Medplum's /ws/subscriptions-r4: a client binds its
// socket to a websocket Subscription with a token from
// Subscription/$get-ws-binding-token, gets a handshake, a heartbeat every
// Heartbeat and an event-notification Bundle for each committed change
// the matcher finds for that Subscription. Sockets live in this process:
// while at least one is bound, a follower of the outbox with an in-memory
// cursor (starting at the outbox's end when the first socket binds) runs
// the matcher for the projects with bound sockets; with none bound it
// reads nothing.
type WebSockets struct {
	Store      WebSocketStore
	Principals Principals
	Tokens     Tokens
	// BaseURL is the server's public URL, for the fullUrl of a notified
	// resource and the websocket-url of a binding token.
	BaseURL string
	// Heartbeat is the wait between heartbeats (default 10s, Medplum's).
	Heartbeat time.Duration
	// Poll is how long the idle follower waits before reading again
	// (default 50ms); Notify ends the wait early.
	Poll time.Duration
	// MaxPerUser bounds the websocket Subscriptions one author may have
	// bound in this process at once (default 20, Medplum's
	// defaultMaxUserWebSocketSubscriptions); a project's systemSetting
	// maxUserWebSocketSubscriptions overrides it.
	MaxPerUser int
	// RetireAfter is how long a websocket Subscription may go unwritten
	// before the reaper deletes it when no socket of this process is
	// bound to it (default 24h, the lifetime Medplum's cache gives one).
	RetireAfter time.Duration
	// ReapEvery is the wait between the reaper's passes (default 10m).
	ReapEvery time.Duration
	Logger    *slog.Logger

	once  sync.Once
	wake  chan struct{}
	ready chan struct{} // closed once Run has started

	mu sync.Mutex
	// life is Run's context: bound sockets and the follower end with it.
	life       context.Context
	stopFollow context.CancelFunc // nil while no socket is bound
	bySub      map[string]map[*socket]*binding
	bySocket   map[*socket]map[string]*binding
	byProject  map[string]int
	// byAuthor counts, per project and author, the sockets bound to each
	// of their subscriptions (MaxPerUser).
	byAuthor map[string]map[string]int
	// serving counts the sockets being served: Run waits for them to
	// retire their Subscriptions before it returns.
	serving sync.WaitGroup
}

// binding is one socket bound to one Subscription by a verified token.
type binding struct {
	sock         *socket
	subscription string
	project      string
	profile      string // who the token was issued to: the Subscription's author
	expires      time.Time
	// token and grant are checked again (Tokens.CheckWSBinding) before
	// each notification and heartbeat: a revoked login ends the socket.
	token string
	grant *auth.WSBinding
}

func (b *binding) authorKey() string { return b.project + "\x00" + b.profile }

func (w *WebSockets) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		w.ready = make(chan struct{})
		w.bySub = map[string]map[*socket]*binding{}
		w.bySocket = map[*socket]map[string]*binding{}
		w.byProject = map[string]int{}
		w.byAuthor = map[string]map[string]int{}
	})
}

// Notify wakes the follower: ward serve calls it after every commit of
// this process that appended to the outbox (other processes' commits are
// read within Poll).
func (w *WebSockets) Notify() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends the heartbeats until ctx ends, then closes every socket. The
// sockets are served by ServeHTTP meanwhile. Call it once.
func (w *WebSockets) Run(ctx context.Context) error {
	w.init()
	w.mu.Lock()
	w.life = ctx
	w.mu.Unlock()
	close(w.ready)
	t := time.NewTicker(orDefault(w.Heartbeat, 10*time.Second))
	defer t.Stop()
	reap := time.NewTicker(orDefault(w.ReapEvery, 10*time.Minute))
	defer reap.Stop()
	for {
		select {
		case <-ctx.Done():
			w.closeAll()
			w.awaitSockets(5 * time.Second)
			return ctx.Err()
		case <-t.C:
			w.heartbeat(ctx)
		case <-reap.C:
			w.reap(ctx)
		}
	}
}

// awaitSockets waits up to limit for the sockets being served to end
// and retire their Subscriptions.
func (w *WebSockets) awaitSockets(limit time.Duration) {
	done := make(chan struct{})
	go func() { w.serving.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
	}
}

// ServeHTTP upgrades to a WebSocket and answers the client's messages
// until it goes.
func (w *WebSockets) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.init()
	select { // a client may come as the server starts
	case <-w.ready:
	case <-time.After(5 * time.Second):
	case <-r.Context().Done():
	}
	w.mu.Lock()
	life := w.life
	w.mu.Unlock()
	if life == nil || life.Err() != nil {
		http.Error(rw, "WebSocket subscriptions are not running", http.StatusServiceUnavailable)
		return
	}
	// Any origin: the socket carries no ambient credential (no cookie);
	// every binding is authorized by the token in its message.
	conn, err := websocket.Accept(rw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the client
	}
	conn.SetReadLimit(maxMessageBytes)
	ctx, cancel := context.WithCancel(life)
	defer cancel()
	w.serving.Add(1)
	defer w.serving.Done()
	sock := newSocket(conn, cancel)
	defer w.unbindAll(sock)
	go sock.writeLoop(ctx)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			sock.close(websocket.StatusNormalClosure, "")
			return
		}
		w.answer(ctx, sock, data)
	}
}

// maxMessageBytes bounds a client message: a bind holds one token.
const maxMessageBytes = 64 << 10

// clientMessage is one of Medplum's client messages.
type clientMessage struct {
	Type    string `json:"type"`
	Payload struct {
		Token string `json:"token"`
	} `json:"payload"`
}

// answer handles one client message.
func (w *WebSockets) answer(ctx context.Context, sock *socket, data []byte) {
	var msg clientMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		sock.send(badRequest("Invalid message: not JSON"))
		return
	}
	switch msg.Type {
	case "ping":
		sock.send([]byte(`{"type":"pong"}`))
	case "bind-with-token", "unbind-from-token":
		if msg.Payload.Token == "" {
			sock.send(badRequest("Missing token in " + msg.Type + " message"))
			return
		}
		b, err := w.Tokens.VerifyWSBindingToken(ctx, msg.Payload.Token)
		if err != nil {
			sock.send(badRequest("Token failed to validate. Check token expiry."))
			return
		}
		if msg.Type == "unbind-from-token" {
			w.unbind(sock, b.SubscriptionID)
			return
		}
		w.bind(ctx, sock, b, msg.Payload.Token)
	default:
		sock.send(badRequest("Invalid message type: " + msg.Type))
	}
}

// bind binds sock to the token's Subscription once it is an active
// websocket Subscription of the token's project written by the token's
// caller (deliveries are matched under the author's access policy, so
// nobody else may listen to it), then sends the handshake.
func (w *WebSockets) bind(ctx context.Context, sock *socket, b *auth.WSBinding, token string) {
	// Walls on, policies off, extended: meta.author as stored, as the index reads it.
	walls := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: b.ProjectID, Admin: true, Extended: true})
	r, err := w.Store.Read(walls, "Subscription", b.SubscriptionID)
	if err != nil {
		sock.send(badRequest("Subscription not found: Subscription/" + b.SubscriptionID))
		return
	}
	s := parseSubscription(r)
	if s == nil || s.Channel != ChannelWebSocket {
		sock.send(badRequest("Subscription/" + b.SubscriptionID + " is not an active websocket Subscription"))
		return
	}
	if s.Author != b.Profile {
		sock.send(badRequest("Only the author of Subscription/" + b.SubscriptionID + " may bind to it"))
		return
	}
	limit := w.perUserLimit(walls, s.ProjectID)
	err = w.add(ctx, &binding{sock: sock, subscription: s.ID, project: s.ProjectID, profile: b.Profile, expires: b.Expires,
		token: token, grant: b}, limit)
	if errors.Is(err, errTooMany) {
		sock.send(badRequest(fmt.Sprintf("User has exceeded allotted maximum number of concurrent WebSocket subscriptions: %d", limit)))
		return
	}
	if err != nil {
		w.logger().Error("subscriptions: websocket bind failed", "subscription", s.ID, "err", err)
		sock.send(serverError())
		return
	}
	w.logger().Info("subscriptions: websocket bound", "subscription", s.ID, "project", s.ProjectID, "profile", b.Profile)
	sock.send(handshake(s.ID))
}

// add records a binding; the first one starts the follower at the
// outbox's end, read before the handshake is sent, so every change
// committed after the client hears it is matched.
func (w *WebSockets) add(ctx context.Context, b *binding, limit int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if mine := w.byAuthor[b.authorKey()]; mine[b.subscription] == 0 && len(mine) >= limit {
		return errTooMany
	}
	if w.stopFollow == nil {
		start, err := w.startCursor(ctx)
		if err != nil {
			return err
		}
		fctx, cancel := context.WithCancel(w.life)
		w.stopFollow = cancel
		go w.follow(fctx, start)
	}
	if w.bySub[b.subscription] == nil {
		w.bySub[b.subscription] = map[*socket]*binding{}
	}
	if w.bySocket[b.sock] == nil {
		w.bySocket[b.sock] = map[string]*binding{}
	}
	if old := w.bySocket[b.sock][b.subscription]; old == nil {
		w.byProject[b.project]++
		if w.byAuthor[b.authorKey()] == nil {
			w.byAuthor[b.authorKey()] = map[string]int{}
		}
		w.byAuthor[b.authorKey()][b.subscription]++
	}
	w.bySub[b.subscription][b.sock] = b
	w.bySocket[b.sock][b.subscription] = b
	return nil
}

// startWindow is how far back from the outbox's end a new follower looks
// for a seq that may still commit.
const startWindow = 256

// startCursor is where a new follower starts: the outbox's end, or, when
// a seq near the end is still missing (on PostgreSQL a seq is drawn before
// its transaction commits), just before it — a change that commits after
// the handshake is never skipped; one that committed just before it may
// be sent too.
func (w *WebSockets) startCursor(ctx context.Context) (int64, error) {
	last, err := w.Store.OutboxLast(ctx)
	if err != nil {
		return 0, err
	}
	from := max(last-startWindow, 0)
	recent, err := w.Store.OutboxAfter(ctx, from, startWindow) // stops before a seq that may still commit
	if err != nil || len(recent) == 0 {
		return from, err
	}
	return recent[len(recent)-1].Seq, nil
}

// unbind removes sock's binding to subscription, if any, and retires
// the Subscription when no other socket here is bound to it.
func (w *WebSockets) unbind(sock *socket, subscription string) {
	w.mu.Lock()
	ended := w.removeLocked(sock, subscription)
	w.mu.Unlock()
	w.retire(ended)
}

// unbindAll removes every binding of a socket that went.
func (w *WebSockets) unbindAll(sock *socket) {
	w.retire(w.dropSocket(sock))
}

// dropSocket removes every binding of sock and returns the bindings no
// other socket here shares.
func (w *WebSockets) dropSocket(sock *socket) []*binding {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ended []*binding
	for sub := range w.bySocket[sock] {
		ended = append(ended, w.removeLocked(sock, sub)...)
	}
	return ended
}

// removeLocked drops one binding; the last one stops the follower. It
// returns the binding when it was the last one to its subscription here.
func (w *WebSockets) removeLocked(sock *socket, subscription string) []*binding {
	b := w.bySocket[sock][subscription]
	if b == nil {
		return nil
	}
	delete(w.bySocket[sock], subscription)
	if len(w.bySocket[sock]) == 0 {
		delete(w.bySocket, sock)
	}
	delete(w.bySub[subscription], sock)
	last := len(w.bySub[subscription]) == 0
	if last {
		delete(w.bySub, subscription)
	}
	if w.byProject[b.project]--; w.byProject[b.project] == 0 {
		delete(w.byProject, b.project)
	}
	mine := w.byAuthor[b.authorKey()]
	if mine[subscription]--; mine[subscription] <= 0 {
		delete(mine, subscription)
		if len(mine) == 0 {
			delete(w.byAuthor, b.authorKey())
		}
	}
	if len(w.bySub) == 0 && w.stopFollow != nil {
		w.stopFollow()
		w.stopFollow = nil
	}
	if !last {
		return nil
	}
	return []*binding{b}
}

// heartbeat sends each bound socket a heartbeat naming its Subscriptions,
// after dropping the bindings whose token expired (a client refreshes its
// token before then and binds again) and ending the sockets whose login
// was revoked since they bound.
func (w *WebSockets) heartbeat(ctx context.Context) {
	now := time.Now()
	var ended []*binding
	w.mu.Lock()
	live := map[*socket][]*binding{}
	for sock, subs := range w.bySocket {
		for sub, b := range subs {
			if now.After(b.expires) {
				ended = append(ended, w.removeLocked(sock, sub)...)
				continue
			}
			live[sock] = append(live[sock], b)
		}
	}
	w.mu.Unlock()
	w.retire(ended)
	for sock, bs := range live {
		if !w.allowed(ctx, bs...) {
			continue
		}
		subs := make([]string, len(bs))
		for i, b := range bs {
			subs[i] = b.subscription
		}
		sock.send(heartbeatBundle(subs))
	}
}

// closeAll ends every socket: the server is stopping.
func (w *WebSockets) closeAll() {
	w.mu.Lock()
	socks := make([]*socket, 0, len(w.bySocket))
	for sock := range w.bySocket {
		socks = append(socks, sock)
	}
	w.mu.Unlock()
	for _, sock := range socks {
		sock.close(websocket.StatusGoingAway, "server stopping")
	}
}

func (w *WebSockets) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}
