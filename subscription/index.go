package subscription

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

// MaxAttemptsURL is Medplum's extension on a Subscription bounding the
// retries of a failed rest-hook delivery.
const MaxAttemptsURL = "https://medplum.com/fhir/StructureDefinition/subscription-max-attempts"

// SupportedInteractionURL is Medplum's extension on a Subscription naming
// the one interaction (valueCode create, update or delete) it hears;
// without it a Subscription hears all three.
const SupportedInteractionURL = "https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction"

const (
	defaultMaxAttempts = 4  // Medplum's DEFAULT_ATTEMPTS
	maxJobAttempts     = 19 // Medplum's MAX_JOB_ATTEMPTS: no more runs than this whatever the extension says
)

// Channel types the index keeps (Subscription.channel.type).
const (
	ChannelRestHook  = "rest-hook"
	ChannelWebSocket = "websocket"
)

// subscription is one active rest-hook or websocket Subscription as the
// index keeps it.
type subscription struct {
	ID          string
	ProjectID   string
	Type        string // the criteria's resource type
	Criteria    string
	Channel     string // ChannelRestHook or ChannelWebSocket
	Endpoint    string // rest-hook only
	Headers     [][2]string
	MaxAttempts int // retries after the first attempt (Medplum's attemptsMade bound)
	Author      string
	// Interaction is the one interaction heard (SupportedInteractionURL),
	// "" for every one.
	Interaction string
	// Secret signs each rest-hook body (SecretURL); "" sends no signature.
	Secret string
	// Success are the statuses that count as delivered (SuccessCodesURL);
	// nil: 2xx and 3xx.
	Success *successCodes
}

// hears reports whether s is told of interaction (create, update, delete).
func (s *subscription) hears(interaction string) bool {
	return s.Interaction == "" || s.Interaction == interaction
}

// subscriptionJSON is the part of a Subscription the dispatcher reads.
type subscriptionJSON struct {
	Status    string `json:"status"`
	Criteria  string `json:"criteria"`
	Extension []struct {
		URL          string `json:"url"`
		ValueInteger *int   `json:"valueInteger"`
		ValueCode    string `json:"valueCode"`
		ValueString  string `json:"valueString"`
	} `json:"extension"`
	Channel struct {
		Type     string   `json:"type"`
		Endpoint string   `json:"endpoint"`
		Header   []string `json:"header"`
	} `json:"channel"`
	Meta struct {
		Author struct {
			Reference string `json:"reference"`
		} `json:"author"`
	} `json:"meta"`
}

// parseSubscription returns r as an active rest-hook or websocket
// subscription, or nil when it is not one (inactive, another channel,
// criteria that do not parse, a rest-hook without an http(s) endpoint).
func parseSubscription(r *ward.Resource) *subscription {
	var j subscriptionJSON
	if r.Deleted || json.Unmarshal(r.Content, &j) != nil || j.Status != "active" {
		return nil
	}
	if j.Channel.Type != ChannelWebSocket && (j.Channel.Type != ChannelRestHook || !isHTTP(j.Channel.Endpoint)) {
		return nil
	}
	q, err := search.ParseCriteria(j.Criteria)
	if err != nil {
		return nil
	}
	s := &subscription{ID: r.ID, ProjectID: r.ProjectID, Type: q.ResourceType, Criteria: j.Criteria, Channel: j.Channel.Type,
		Endpoint: j.Channel.Endpoint, MaxAttempts: defaultMaxAttempts, Author: j.Meta.Author.Reference}
	for _, e := range j.Extension {
		if e.URL == MaxAttemptsURL && e.ValueInteger != nil {
			s.MaxAttempts = min(max(*e.ValueInteger, 0), maxJobAttempts-1)
		}
		if e.URL == SupportedInteractionURL {
			s.Interaction = e.ValueCode
		}
		if e.URL == SuccessCodesURL {
			s.Success = parseSuccessCodes(e.ValueString)
		}
	}
	s.Secret = secretOf(j)
	for _, h := range j.Channel.Header {
		// Medplum's quirk kept: the value is the piece after the first
		// colon only, both pieces trimmed.
		parts := strings.Split(h, ":")
		if len(parts) >= 2 && strings.TrimSpace(parts[0]) != "" {
			s.Headers = append(s.Headers, [2]string{strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])})
		}
	}
	return s
}

// isHTTP reports an absolute http or https URL with a host.
func isHTTP(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// matchQuery is s's criteria narrowed to one resource.
func (s *subscription) matchQuery(id string) (*ward.SearchQuery, error) {
	typ, query, _ := strings.Cut(s.Criteria, "?")
	if query != "" {
		query += "&"
	}
	q, err := search.ParseCriteria(typ + "?" + query + "_id=" + url.QueryEscape(id))
	if err != nil {
		return nil, err
	}
	q.Count, q.Total = 1, "none"
	return q, nil
}

// index holds the active subscriptions of the projects seen so far, by
// resource type. A project is loaded on its first change; a change to one
// of its Subscriptions replaces that one entry (put), so a write costs one
// map lookup and the subscriptions of its own type, never a scan of all.
type index struct {
	mu       sync.Mutex
	projects map[string]map[string][]*subscription
}

func newIndex() *index { return &index{projects: map[string]map[string][]*subscription{}} }

// forget drops project's subscriptions; the next lookup reloads them.
func (x *index) forget(project string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.projects, project)
}

// loaded reports whether project's subscriptions are in the index.
func (x *index) loaded(project string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.projects[project]
	return ok
}

// put replaces subscription id of a loaded project with s (nil: removes
// it). The project's map is copied, never changed in place: a lookup may
// still hold the old one.
func (x *index) put(project, id string, s *subscription) {
	x.mu.Lock()
	defer x.mu.Unlock()
	old, ok := x.projects[project]
	if !ok {
		return
	}
	byType := make(map[string][]*subscription, len(old)+1)
	for typ, subs := range old {
		kept := make([]*subscription, 0, len(subs))
		for _, sub := range subs {
			if sub.ID != id {
				kept = append(kept, sub)
			}
		}
		if len(kept) > 0 {
			byType[typ] = kept
		}
	}
	if s != nil {
		byType[s.Type] = append(byType[s.Type], s)
	}
	x.projects[project] = byType
}

// of returns project's subscriptions to typ, loading the project once.
func (x *index) of(ctx context.Context, load func(ctx context.Context, project string) ([]*subscription, error), project, typ string) ([]*subscription, error) {
	x.mu.Lock()
	byType, ok := x.projects[project]
	x.mu.Unlock()
	if !ok {
		subs, err := load(ctx, project)
		if err != nil {
			return nil, err
		}
		byType = map[string][]*subscription{}
		for _, s := range subs {
			byType[s.Type] = append(byType[s.Type], s)
		}
		x.mu.Lock()
		x.projects[project] = byType
		x.mu.Unlock()
	}
	return byType[typ], nil
}
