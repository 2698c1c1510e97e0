package ward

import "context"

// UsageDay is one project's usage on one UTC day (the usage report for
// per-project pricing): requests answered that day, and the storage,
// resources and users measured last that day.
type UsageDay struct {
	ProjectID string `json:"project"`
	Day       string `json:"day"` // YYYY-MM-DD, UTC
	Requests  int64  `json:"requests"`
	// StorageBytes are the bytes of resource JSON stored for the project:
	// its current versions and every version in history (search index
	// rows and Binary content excluded).
	StorageBytes int64 `json:"storageBytes"`
	Resources    int64 `json:"resources"` // current, not deleted
	Users        int64 `json:"users"`     // distinct Users with a membership
}

// UsageStore keeps the usage report. Only system principals may call it.
type UsageStore interface {
	// AddRequests adds each entry's Requests to its project's day.
	AddRequests(ctx context.Context, counts []UsageDay) error
	// MeasureUsage measures every project's storage, resources and users
	// now and stores them as day's; it returns what it measured.
	MeasureUsage(ctx context.Context, day string) ([]UsageDay, error)
	// Usage lists the days from..to (inclusive) of one project, or of
	// every project when projectID is "", by project then day.
	Usage(ctx context.Context, from, to, projectID string) ([]UsageDay, error)
}
