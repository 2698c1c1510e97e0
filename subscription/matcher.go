package subscription

import (
	"context"
	"log/slog"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// Searcher is the store's search, the only thing matching reads.
type Searcher interface {
	Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error)
}

// DeletedSearcher is the store's search of a deleted resource's last live
// version (*store.Store): with it deletions are matched, without it a
// deletion matches nothing.
type DeletedSearcher interface {
	SearchDeleted(ctx context.Context, q *ward.SearchQuery, id string) (*ward.Resource, error)
}

// matcher is the one place a committed change is matched to
// Subscriptions, whatever their channel: the rest-hook dispatcher and the
// WebSocket follower both ask it. It keeps an index of the active
// subscriptions by project and type and matches each under its author's
// principal as it is when the change is matched.
type matcher struct {
	store      Searcher
	principals Principals
	logger     *slog.Logger
	subs       *index
}

func newMatcher(s Searcher, p Principals, logger *slog.Logger) *matcher {
	return &matcher{store: s, principals: p, logger: logger, subs: newIndex()}
}

// matched is a subscription and the changed resource as its author sees it.
type matched struct {
	sub      *subscription
	resource *ward.Resource
}

// authors caches principals within one batch of changes: one membership
// read per author per batch, dropped when a Subscription changes.
type authors map[string]*ward.Principal

// matches returns the active subscriptions of c's project on channel
// whose criteria select c's resource under their author's access policy.
// keep, when set, narrows the candidates before any search runs.
// A subscription hears the interactions its supported-interaction
// extension names (all without it); a deletion is matched, as Medplum
// does, against the resource as it was just before it — its last live
// version, judged under the author's policy as it is now — and an
// $expunge matches nothing.
func (m *matcher) matches(ctx context.Context, c store.Change, channel string, seen authors, keep func(*subscription) bool) ([]matched, error) {
	if c.Type == "Subscription" {
		if err := m.subscriptionChanged(ctx, c); err != nil {
			return nil, err
		}
		clear(seen)
	}
	if c.Operation == store.OpExpunge {
		return nil, nil
	}
	subs, err := m.subs.of(ctx, m.load, c.ProjectID, c.Type)
	if err != nil {
		return nil, err
	}
	var out []matched
	for _, s := range subs {
		if s.Channel != channel || !s.hears(interaction(c.Operation)) || (keep != nil && !keep(s)) {
			continue
		}
		r, err := m.match(ctx, s, c, seen)
		if err != nil {
			return out, err
		}
		if r != nil {
			out = append(out, matched{s, r})
		}
	}
	return out, nil
}

// match returns the changed resource as s's author sees it when s's
// criteria select it under the author's access policy, else nil.
func (m *matcher) match(ctx context.Context, s *subscription, c store.Change, seen authors) (*ward.Resource, error) {
	p, ok := seen[s.Author]
	if !ok {
		var err error
		if p, err = m.principals.SubscriberPrincipal(ctx, s.ProjectID, s.Author); err != nil {
			m.log().Debug("subscriptions: author has no access", "subscription", s.ID, "author", s.Author, "err", err)
			p = nil
		}
		seen[s.Author] = p
	}
	if p == nil || p.ProjectID != c.ProjectID {
		return nil, nil
	}
	q, err := s.matchQuery(c.ID)
	if err != nil {
		return nil, nil // criteria checked at write; an _id that does not parse matches nothing
	}
	if c.Operation == store.OpDelete {
		return m.matchDeleted(ward.NewContextWithPrincipal(ctx, p), q, c.ID)
	}
	res, err := m.store.Search(ward.NewContextWithPrincipal(ctx, p), q)
	if err != nil {
		if ward.ErrorCode(err) != "" && ward.ErrorCode(err) != ward.EINTERNAL {
			return nil, nil // the author may not search the type: no match
		}
		return nil, err
	}
	if len(res.Matches) == 0 {
		return nil, nil
	}
	return res.Matches[0], nil
}

// matchDeleted is match for a deletion: the last live version of the
// deleted resource when q selects it under ctx's principal.
func (m *matcher) matchDeleted(ctx context.Context, q *ward.SearchQuery, id string) (*ward.Resource, error) {
	ds, ok := m.store.(DeletedSearcher)
	if !ok {
		return nil, nil
	}
	r, err := ds.SearchDeleted(ctx, q, id)
	if err != nil && ward.ErrorCode(err) != "" && ward.ErrorCode(err) != ward.EINTERNAL {
		return nil, nil // the author may not search the type: no match
	}
	return r, err
}

// subscriptionChanged keeps the index current after a change to one of a
// loaded project's Subscriptions: that Subscription alone is read again
// (walls on, policies off) and replaces its entry, so a new Subscription —
// MedplumClient.subscribeToCriteria creates one per session — costs one
// read, not a reload of every Subscription of the project.
func (m *matcher) subscriptionChanged(ctx context.Context, c store.Change) error {
	if !m.subs.loaded(c.ProjectID) {
		return nil // loaded, current, on the project's next change
	}
	var s *subscription
	if c.Operation != store.OpDelete && c.Operation != store.OpExpunge {
		ctx := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: c.ProjectID, Admin: true, Extended: true})
		q, err := search.Parse("Subscription", map[string][]string{"_id": {c.ID}})
		if err != nil {
			return err
		}
		q.Total = "none"
		res, err := m.store.Search(ctx, q)
		if err != nil {
			return err
		}
		if len(res.Matches) > 0 {
			s = parseSubscription(res.Matches[0])
		}
	}
	m.subs.put(c.ProjectID, c.ID, s)
	return nil
}

// load reads project's active subscriptions, walls on, policies off.
// It reads them all and keeps the active ones: a status=active search
// paged by offset took 20 s a page deep into 10,000 on PostgreSQL.
func (m *matcher) load(ctx context.Context, project string) ([]*subscription, error) {
	ctx = ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true, Extended: true})
	var out []*subscription
	for offset := 0; ; offset += 1000 {
		q, err := search.Parse("Subscription", map[string][]string{"_sort": {"_id"}, "_count": {"1000"}})
		if err != nil {
			return nil, err
		}
		q.Offset, q.Total = offset, "none"
		res, err := m.store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Matches {
			if s := parseSubscription(r); s != nil {
				out = append(out, s)
			}
		}
		if !res.HasMore {
			return out, nil
		}
	}
}

func (m *matcher) log() *slog.Logger {
	if m.logger != nil {
		return m.logger
	}
	return slog.Default()
}
