package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// The change feed's configuration as admin API calls (issue 14):
//
//	GET         /admin/projects/{projectId}/feed   a project's own feed
//	PUT | POST  /admin/projects/{projectId}/feed   set it
//	GET         /admin/feed                        the server-wide feed
//	PUT | POST  /admin/feed                        set it
//	DELETE      /admin/feed                        back to ward serve's flags
//
// A project's feed is read and set by its admins and by super admins; an
// admin naming another project gets 404, as if it did not exist (the
// literal ":projectId" names the caller's own, as on the other admin
// routes). The server-wide feed is super admins' only. The body is a
// ward.FeedConfig: {"enabled", "sinks", "types", "audit"} (a GET's answer
// sent back is fine: its read-only fields are ignored); a sink must be
// one ward serve connected, a type a FHIR resource type the outbox
// carries. Every change is recorded in the caller's trail.

// FeedSettings are the change feed's settings the admin API needs.
type FeedSettings struct {
	// Sinks are the sinks ward serve connected ("kafka", "nats"); a
	// configuration may name only these.
	Sinks []string
	// Default is the server-wide configuration while none is stored (the
	// flags'); nil: off.
	Default *ward.FeedConfig
}

// feedView is a feed configuration as the API answers it.
type feedView struct {
	ward.FeedConfig
	Project string `json:"project,omitempty"`
	// Connected are the sinks this server connected.
	Connected []string `json:"connected"`
	// Default: no configuration is stored; this is the flags' (server-wide)
	// or off (a project).
	Default bool `json:"default,omitempty"`
}

func (s *Service) mountFeed(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/projects/{projectId}/feed", s.adminRoute(s.handleGetProjectFeed))
	mux.HandleFunc("PUT /admin/projects/{projectId}/feed", s.adminWrite("feed-config", "U", s.handleSetProjectFeed))
	mux.HandleFunc("POST /admin/projects/{projectId}/feed", s.adminWrite("feed-config", "U", s.handleSetProjectFeed))
	mux.HandleFunc("GET /admin/feed", s.adminRoute(s.handleGetServerFeed))
	mux.HandleFunc("PUT /admin/feed", s.adminWrite("feed-config", "U", s.handleSetServerFeed))
	mux.HandleFunc("POST /admin/feed", s.adminWrite("feed-config", "U", s.handleSetServerFeed))
	mux.HandleFunc("DELETE /admin/feed", s.adminWrite("feed-config", "D", s.handleResetServerFeed))
}

// feedConfigs is the store's feed configuration interface.
func (s *Service) feedConfigs() (ward.FeedConfigs, error) {
	f, ok := s.store.(ward.FeedConfigs)
	if !ok {
		return nil, ward.Errorf(ward.ENOTFOUND, "Feed configuration is not supported by this store")
	}
	return f, nil
}

// feedProject is the project whose feed an admin request acts on: 403 for
// callers who are not admins, 404 for a project other than the caller's
// unless they are a super admin.
func (s *Service) feedProject(ctx context.Context, c *Caller, pathProjectID string) (string, error) {
	p, _, err := s.adminProject(ctx, c, pathProjectID)
	if err != nil {
		return "", err
	}
	if isPathID(pathProjectID) && pathProjectID != p.ID {
		return "", ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	if p.ID == ward.SystemProjectID {
		return "", badRequest("projectId", "The server's own project has no feed of its own; use /admin/feed")
	}
	return p.ID, nil
}

func (s *Service) handleGetProjectFeed(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	project, err := s.feedProject(ctx, c, r.PathValue("projectId"))
	if err != nil {
		return 0, nil, err
	}
	return s.feedAnswer(ctx, project, nil)
}

func (s *Service) handleSetProjectFeed(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	project, err := s.feedProject(ctx, c, r.PathValue("projectId"))
	if err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, "Project", project)
	return s.setFeed(ctx, project, r)
}

// superAdminFeed checks the caller may act on the server-wide feed.
func superAdminFeed(c *Caller) error {
	if c == nil || !c.SuperAdmin() {
		return ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	return nil
}

func (s *Service) handleGetServerFeed(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	if err := superAdminFeed(c); err != nil {
		return 0, nil, err
	}
	return s.feedAnswer(ctx, ward.SystemProjectID, s.cfg.Feed.Default)
}

func (s *Service) handleSetServerFeed(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	if err := superAdminFeed(c); err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, "Project", ward.SystemProjectID)
	return s.setFeed(ctx, ward.SystemProjectID, r)
}

func (s *Service) handleResetServerFeed(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	if err := superAdminFeed(c); err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, "Project", ward.SystemProjectID)
	f, err := s.feedConfigs()
	if err != nil {
		return 0, nil, err
	}
	if err := f.SetFeedConfig(system(ctx), ward.SystemProjectID, nil); err != nil {
		return 0, nil, err
	}
	return s.feedAnswer(ctx, ward.SystemProjectID, s.cfg.Feed.Default)
}

// setFeed stores the configuration in r's body for project.
func (s *Service) setFeed(ctx context.Context, project string, r *http.Request) (int, any, error) {
	f, err := s.feedConfigs()
	if err != nil {
		return 0, nil, err
	}
	cfg, err := s.decodeFeedConfig(r)
	if err != nil {
		return 0, nil, err
	}
	if err := f.SetFeedConfig(system(ctx), project, cfg); err != nil {
		return 0, nil, err
	}
	return s.feedAnswer(ctx, project, nil)
}

// feedAnswer answers project's stored configuration, else def (off when
// nil).
func (s *Service) feedAnswer(ctx context.Context, project string, def *ward.FeedConfig) (int, any, error) {
	f, err := s.feedConfigs()
	if err != nil {
		return 0, nil, err
	}
	cfg, err := f.FeedConfig(system(ctx), project)
	if err != nil {
		return 0, nil, err
	}
	view := feedView{Connected: nonNil(s.cfg.Feed.Sinks)}
	if project != ward.SystemProjectID {
		view.Project = project
	}
	switch {
	case cfg != nil:
		view.FeedConfig = *cfg
	case def != nil:
		view.FeedConfig, view.Default = *def, true
	default:
		view.Default = true
	}
	view.Sinks, view.Types = nonNil(view.Sinks), nonNil(view.Types)
	return http.StatusOK, view, nil
}

// decodeFeedConfig reads and checks a configuration: 400 for a body that
// is not one, a sink this server did not connect, a type the feed cannot
// carry, or a feed turned on without a sink.
func (s *Service) decodeFeedConfig(r *http.Request) (*ward.FeedConfig, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, ward.Errorf(ward.EINVALID, "Could not read request body")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var view feedView // an answer sent back is fine: its read-only fields are ignored
	if err := dec.Decode(&view); err != nil {
		return nil, badRequest("feed", "Invalid feed configuration: "+err.Error())
	}
	cfg := view.FeedConfig
	for _, sink := range cfg.Sinks {
		if !slices.Contains(s.cfg.Feed.Sinks, sink) {
			return nil, badRequest("sinks", "Sink "+sink+" is not connected on this server (connected: "+listOrNone(s.cfg.Feed.Sinks)+")")
		}
	}
	for _, typ := range cfg.Types {
		switch {
		case ward.IsServerWrittenType(typ):
			return nil, badRequest("types", typ+" is not on the change feed; set audit: true for the audit trail")
		case !fhir.IsResourceType(typ):
			return nil, badRequest("types", "Unknown resource type "+typ)
		}
	}
	if cfg.Enabled && len(cfg.Sinks) == 0 {
		return nil, badRequest("sinks", "An enabled feed needs a sink")
	}
	slices.Sort(cfg.Sinks)
	slices.Sort(cfg.Types)
	cfg.Sinks, cfg.Types = slices.Compact(cfg.Sinks), slices.Compact(cfg.Types)
	return &cfg, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}
