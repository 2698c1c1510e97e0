package feed

import (
	"context"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// Configs is where Routes read feed configurations: *store.Store.
type Configs interface {
	FeedConfigsOf(ctx context.Context, projects []string) (map[string]*ward.FeedConfig, error)
}

// Routes decide where each change and audit record goes: to the
// server-wide feed, when its configuration (stored under the server's own
// project, else Default — ward serve's flags) sends it to the sink, and
// to its project's own feed, when the project's configuration does. The
// configurations are read for every batch, of the batch's projects only,
// so a change of configuration applies from the feed's position onward
// and routing costs one indexed read per batch and a map lookup per
// change, however many projects are configured.
type Routes struct {
	Configs Configs
	// Default is the server-wide configuration while none is stored.
	Default *ward.FeedConfig
}

// Delivery is one change and where it goes: the sink's server-wide
// destination (Shared), its project's own (Own), or both.
type Delivery struct {
	store.Change
	Shared, Own bool
}

// AuditDelivery is one audit record and where it goes.
type AuditDelivery struct {
	store.AuditLink
	Shared, Own bool
}

// RoutedSink is a sink that sends to per-project destinations too.
type RoutedSink interface {
	Sink
	Deliver(ctx context.Context, deliveries []Delivery) error
}

// AuditSink is a sink of the audit feed.
type AuditSink interface {
	Name() string
	DeliverAudit(ctx context.Context, records []AuditDelivery) error
}

// routing is the configurations that apply to one batch.
type routing struct {
	server   *ward.FeedConfig
	projects map[string]*ward.FeedConfig
}

// load reads the server-wide configuration and those of projects.
func (r *Routes) load(ctx context.Context, projects []string) (*routing, error) {
	configs, err := r.Configs.FeedConfigsOf(ctx, append(projects, ward.SystemProjectID))
	if err != nil {
		return nil, err
	}
	server, ok := configs[ward.SystemProjectID]
	if !ok {
		server = r.Default
	}
	return &routing{server: server, projects: configs}, nil
}

// changes routes changes to sink; those going nowhere are left out.
func (r *Routes) changes(ctx context.Context, sink string, changes []store.Change) ([]Delivery, error) {
	rt, err := r.load(ctx, distinctProjects(changes, func(c store.Change) string { return c.ProjectID }))
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(changes))
	for _, c := range changes {
		d := Delivery{Change: c, Shared: rt.server.Sends(sink, c.Type)}
		// The server's own project is the server-wide feed's key, never a
		// project feed of its own.
		if c.ProjectID != ward.SystemProjectID {
			d.Own = rt.projects[c.ProjectID].Sends(sink, c.Type)
		}
		if d.Shared || d.Own {
			out = append(out, d)
		}
	}
	return out, nil
}

// auditOf says where project's audit records go on sink.
func (rt *routing) auditOf(sink, project string) (shared, own bool) {
	shared = rt.server.SendsAudit(sink)
	if project != ward.SystemProjectID {
		own = rt.projects[project].SendsAudit(sink)
	}
	return shared, own
}

func distinctProjects[T any](items []T, project func(T) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if p := project(it); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
