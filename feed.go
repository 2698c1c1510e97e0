package ward

import "context"

// FeedConfig says which of a project's data its change feed carries (issue
// 14): a project's own feed, set by its admins, or — stored under
// SystemProjectID — the server-wide feed of every project, set by super
// admins. Sinks name the brokers the server connected ("kafka", "nats");
// Types, when not empty, are the resource types sent; Audit sends the
// audit trail's records too.
type FeedConfig struct {
	Enabled bool     `json:"enabled"`
	Sinks   []string `json:"sinks"`
	Types   []string `json:"types"`
	Audit   bool     `json:"audit"`
}

// Sends reports whether c sends a change of resource type typ to sink.
func (c *FeedConfig) Sends(sink, typ string) bool {
	if c == nil || !c.Enabled || !c.hasSink(sink) {
		return false
	}
	if len(c.Types) == 0 {
		return true
	}
	for _, t := range c.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// SendsAudit reports whether c sends the audit trail to sink.
func (c *FeedConfig) SendsAudit(sink string) bool {
	return c != nil && c.Enabled && c.Audit && c.hasSink(sink)
}

func (c *FeedConfig) hasSink(sink string) bool {
	for _, s := range c.Sinks {
		if s == sink {
			return true
		}
	}
	return false
}

// FeedConfigs stores feed configurations, one per project; only system
// principals may call it, on an admin's behalf.
type FeedConfigs interface {
	// FeedConfig is project's stored configuration; nil when it has none.
	FeedConfig(ctx context.Context, project string) (*FeedConfig, error)
	// SetFeedConfig stores project's configuration (nil removes it).
	SetFeedConfig(ctx context.Context, project string, c *FeedConfig) error
}
