package subscription

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
)

// webSocketFollower names the follower in logs; its cursor is never stored.
const webSocketFollower = "websockets"

// memoryCursor is the outbox with a cursor kept in memory: sockets live
// in one process and start at the outbox's end, so a restart has nothing
// to resume.
type memoryCursor struct {
	WebSocketStore
	seq atomic.Int64
}

func (m *memoryCursor) OutboxCursor(context.Context, string) (int64, error) { return m.seq.Load(), nil }

func (m *memoryCursor) SetOutboxCursor(_ context.Context, _ string, seq int64) error {
	m.seq.Store(seq)
	return nil
}

// follow matches the changes after start until ctx ends (the last socket
// unbound, or the server stops). Its matcher is its own: the index it
// builds is only as old as this run, which saw every Subscription change
// since it started.
func (w *WebSockets) follow(ctx context.Context, start int64) {
	src := &memoryCursor{WebSocketStore: w.Store}
	src.seq.Store(start)
	m := newMatcher(w.Store, w.Principals, w.Logger)
	f := &feed.Follower{Source: src, Name: webSocketFollower, Poll: w.Poll, Wake: w.wake, Logger: w.Logger,
		Handle: func(ctx context.Context, cursor int64, changes []store.Change) (int64, error) {
			return w.handle(ctx, m, cursor, changes)
		}}
	_ = f.Run(ctx) // ends only with ctx
}

// handle matches changes in order for the projects with bound sockets.
func (w *WebSockets) handle(ctx context.Context, m *matcher, cursor int64, changes []store.Change) (int64, error) {
	done := cursor
	seen := authors{}
	for _, c := range changes {
		if c.Type == "Subscription" && (c.Operation == store.OpDelete || c.Operation == store.OpExpunge) {
			w.subscriptionGone(c.ID)
		}
		if !w.projectBound(c.ProjectID) {
			if c.Type == "Subscription" {
				m.subs.forget(c.ProjectID) // a later binding in the project reloads it
			}
			done = c.Seq
			continue
		}
		found, err := m.matches(ctx, c, ChannelWebSocket, seen, w.listened)
		for _, f := range found {
			w.notify(ctx, f.sub, f.resource)
		}
		if err != nil {
			return done, err
		}
		done = c.Seq
	}
	return done, nil
}

func (w *WebSockets) projectBound(project string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byProject[project] > 0
}

// listened reports a socket bound to s by its author with a live token:
// only those subscriptions are worth a search.
func (w *WebSockets) listened(s *subscription) bool {
	return len(w.listeners(s)) > 0
}

// listeners are the bindings to s by its author with a live token.
func (w *WebSockets) listeners(s *subscription) []*binding {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*binding
	for _, b := range w.bySub[s.ID] {
		if b.profile == s.Author && b.project == s.ProjectID && now.Before(b.expires) {
			out = append(out, b)
		}
	}
	return out
}

// notify sends one event-notification to every socket listening to s
// whose login is still valid (a revoked one's socket is closed instead).
func (w *WebSockets) notify(ctx context.Context, s *subscription, r *ward.Resource) {
	msg := eventNotification(w.BaseURL, s.ID, r)
	for _, b := range w.listeners(s) {
		if w.allowed(ctx, b) {
			b.sock.send(msg)
		}
	}
}
