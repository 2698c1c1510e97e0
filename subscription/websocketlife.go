package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

// The life of a websocket Subscription. MedplumClient.subscribeToCriteria
// creates one per session and never deletes it; Medplum keeps them in its
// cache only, dropped when their binding ends (unbind, socket closed) and
// at the latest 24 hours after their last write. Ward stores them like
// any resource, so it deletes them itself: when the last socket of this
// process bound to one unbinds, closes, lets its token expire or loses
// its login (retire), and, for those no socket ever bound or whose
// process died, once unwritten for RetireAfter (reap). A socket bound to
// a Subscription deleted meanwhile — by its author, or by another
// process's reaper — is told and closed, and MedplumClient, reconnecting,
// creates a new one.

// defaultMaxPerUser is Medplum's defaultMaxUserWebSocketSubscriptions.
const defaultMaxPerUser = 20

// maxPerUserSetting is the Project.systemSetting overriding MaxPerUser.
const maxPerUserSetting = "maxUserWebSocketSubscriptions"

var errTooMany = errors.New("too many websocket subscriptions bound by one user")

// perUserLimit is the project's maxUserWebSocketSubscriptions, else
// MaxPerUser. ctx reads the project (walls on, policies off).
func (w *WebSockets) perUserLimit(ctx context.Context, project string) int {
	limit := defaultMaxPerUser
	if w.MaxPerUser > 0 {
		limit = w.MaxPerUser
	}
	r, err := w.Store.Read(ctx, "Project", project)
	if err != nil {
		return limit
	}
	var p struct {
		SystemSetting []struct {
			Name         string `json:"name"`
			ValueInteger *int   `json:"valueInteger"`
		} `json:"systemSetting"`
	}
	if json.Unmarshal(r.Content, &p) != nil {
		return limit
	}
	for _, s := range p.SystemSetting {
		if s.Name == maxPerUserSetting && s.ValueInteger != nil {
			return *s.ValueInteger
		}
	}
	return limit
}

// retireTimeout bounds the deletion of one ended binding's Subscription.
const retireTimeout = 10 * time.Second

// retire deletes the Subscriptions of ended bindings, each the last
// binding to its Subscription in this process. It runs when the binding
// ended, whatever the socket's own context, so it detaches from it.
func (w *WebSockets) retire(ended []*binding) {
	for _, b := range ended {
		ctx, cancel := context.WithTimeout(context.Background(), retireTimeout)
		if err := w.deleteWebSocketSubscription(ctx, b.project, b.subscription); err != nil {
			w.logger().Warn("subscriptions: deleting an unbound websocket Subscription failed; the reaper retries",
				"subscription", b.subscription, "project", b.project, "err", err)
		} else {
			w.logger().Info("subscriptions: websocket Subscription unbound and deleted", "subscription", b.subscription, "project", b.project)
		}
		cancel()
	}
}

// deleteWebSocketSubscription deletes id in project if it is still a
// websocket Subscription (walls on, policies off: the server's own
// housekeeping, whoever the author is).
func (w *WebSockets) deleteWebSocketSubscription(ctx context.Context, project, id string) error {
	ctx = ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true, Extended: true})
	return w.Store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		r, err := tx.Read(ctx, "Subscription", id)
		if code := ward.ErrorCode(err); code == ward.ENOTFOUND || code == ward.EGONE {
			return nil
		} else if err != nil {
			return err
		}
		var j subscriptionJSON
		if json.Unmarshal(r.Content, &j) != nil || j.Channel.Type != ChannelWebSocket {
			return nil
		}
		return tx.Delete(ctx, "Subscription", id)
	})
}

// allowed checks the logins of a socket's bindings again (cached by the
// identity service) and ends the socket when one was revoked. A check
// that fails otherwise (the database) sends nothing this time.
func (w *WebSockets) allowed(ctx context.Context, bs ...*binding) bool {
	for _, b := range bs {
		if b.grant == nil {
			continue
		}
		err := w.Tokens.CheckWSBinding(ctx, b.token, b.grant)
		if ward.ErrorCode(err) == ward.EUNAUTHORIZED {
			w.logger().Info("subscriptions: websocket login no longer valid; closing", "subscription", b.subscription, "profile", b.profile)
			w.evict(b.sock, "login", "Unauthorized: the login bound to Subscription/"+b.subscription+" is no longer valid", "login no longer valid")
			return false
		}
		if err != nil {
			w.logger().Warn("subscriptions: checking a websocket login failed", "subscription", b.subscription, "err", err)
			return false
		}
	}
	return true
}

// evict ends sock: its bindings go (their Subscriptions retired), it is
// sent an OperationOutcome and then closed with reason.
func (w *WebSockets) evict(sock *socket, code, text, reason string) {
	w.retire(w.dropSocket(sock))
	sock.sendThenClose(outcome(code, text), websocket.StatusPolicyViolation, reason)
}

// subscriptionGone ends the sockets bound to a Subscription just deleted.
func (w *WebSockets) subscriptionGone(id string) {
	w.mu.Lock()
	var socks []*socket
	for sock := range w.bySub[id] {
		socks = append(socks, sock)
	}
	w.mu.Unlock()
	for _, sock := range socks {
		w.evict(sock, "not-found", "Subscription/"+id+" was deleted", "subscription deleted")
	}
}

// reapPage is how many Subscriptions one reaper search returns.
const reapPage = 500

// reap deletes the websocket Subscriptions of every project not written
// for RetireAfter that no socket of this process is bound to: those
// never bound, and those whose process stopped before it could retire
// them. A pass stops at the first error; the next one starts over.
func (w *WebSockets) reap(ctx context.Context) {
	cutoff := time.Now().Add(-orDefault(w.RetireAfter, 24*time.Hour))
	sys := ward.NewContextWithPrincipal(ctx, &ward.Principal{System: true, Extended: true})
	skipped, deleted := 0, 0
	for ctx.Err() == nil {
		q, err := search.Parse("Subscription", url.Values{"type": {ChannelWebSocket},
			"_lastUpdated": {"lt" + cutoff.UTC().Format(time.RFC3339Nano)}, "_count": {"500"}})
		if err != nil {
			w.logger().Error("subscriptions: reaper query", "err", err)
			return
		}
		// In id order (the default). Those deleted leave the results, so
		// only the bound ones kept are skipped.
		q.Offset, q.Total = skipped, "none"
		res, err := w.Store.Search(sys, q)
		if err != nil {
			w.logger().Warn("subscriptions: reaper search failed", "err", err)
			return
		}
		for _, r := range res.Matches {
			if w.boundHere(r.ID) {
				skipped++
				continue
			}
			if err := w.deleteWebSocketSubscription(ctx, r.ProjectID, r.ID); err != nil {
				w.logger().Warn("subscriptions: reaper delete failed", "subscription", r.ID, "err", err)
				return
			}
			deleted++
		}
		if len(res.Matches) < reapPage {
			break
		}
	}
	if deleted > 0 {
		w.logger().Info("subscriptions: reaped websocket Subscriptions", "deleted", deleted, "unwritten since", cutoff)
	}
}

func (w *WebSockets) boundHere(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.bySub[id]) > 0
}
