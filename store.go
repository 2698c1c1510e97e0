package ward

import (
	"context"
	"io"
	"time"
)

// ResourceStore is the FHIR repository. Every method reads the caller's
// Principal from ctx and scopes its SQL to the caller's project (and, later,
// access policy); without a Principal every method fails with EINTERNAL.
//
// A resource outside the caller's reach is ENOTFOUND, exactly as if it did
// not exist; a deleted one is EGONE.
type ResourceStore interface {
	ResourceReader

	// Write runs fn in one atomic transaction: either every write fn made is
	// committed or none is. fn must not keep tx after it returns.
	Write(ctx context.Context, fn func(ctx context.Context, tx ResourceTx) error) error
}

// ResourceReader holds the read paths, available inside and outside a transaction.
type ResourceReader interface {
	// Read returns the current version. ENOTFOUND, EGONE.
	Read(ctx context.Context, resourceType, id string) (*Resource, error)
	// VRead returns one version. ENOTFOUND; EGONE for a deletion version.
	VRead(ctx context.Context, resourceType, id, versionID string) (*Resource, error)
	// History lists versions, newest first. ENOTFOUND for an unknown instance.
	History(ctx context.Context, q HistoryQuery) (*HistoryPage, error)
	// Search runs q. EINVALID for parameters the store cannot compile.
	Search(ctx context.Context, q *SearchQuery) (*SearchResult, error)
}

// ResourceTx is a write transaction.
type ResourceTx interface {
	ResourceReader

	// Create stores a new resource with a server-assigned id. content is the
	// client's JSON; the store sets id and meta (versionId, lastUpdated,
	// project, compartment). EINVALID for bad content.
	Create(ctx context.Context, resourceType string, content []byte) (*Resource, error)

	// Update writes a new version of resourceType/id, creating it when it
	// does not exist (created reports which). ifMatch, when not empty, is the
	// expected current versionId (EPRECONDITION otherwise). An update equal
	// to the current version returns the current version unchanged.
	Update(ctx context.Context, resourceType, id string, content []byte, ifMatch string) (res *Resource, created bool, err error)

	// Delete marks the resource deleted (a new, empty version). Deleting a
	// missing or already deleted resource is not an error.
	Delete(ctx context.Context, resourceType, id string) error
}

// HistoryQuery selects versions: of one instance (ID set), of a type, or of
// every type (ResourceType empty).
type HistoryQuery struct {
	ResourceType string
	ID           string
	Since        time.Time // zero = no lower bound
	Count        int       // 0 = default (20)
	Offset       int
}

// HistoryPage is one page of versions, newest first.
type HistoryPage struct {
	Versions []*Resource
	Total    int
}

// SearchResult is one page of matches plus included resources.
type SearchResult struct {
	Matches  []*Resource
	Included []*Resource
	// Total is the number of matches when it was counted, else -1.
	Total int
	// HasMore reports that another page exists.
	HasMore bool
}

// ProjectBackups makes and restores a project's encrypted backups (the
// archive of store/archive.go, encrypted with age to the project's backup
// key); only system principals may call it, on a super admin's behalf.
type ProjectBackups interface {
	// BackupProject writes project's backup to w: ENOTFOUND before
	// anything is written when the project does not exist.
	BackupProject(ctx context.Context, project string, w io.Writer) error
	// RestoreProject restores a backup read from r, decrypted with key (an
	// age identity; "" uses the key this server holds), under its own
	// project id, or as a copy under asProject. EINVALID for what is not
	// an intact backup the key opens, ECONFLICT when the project exists;
	// nothing is written then.
	RestoreProject(ctx context.Context, r io.Reader, key, asProject string) (*ProjectRestore, error)
}

// ProjectRestore is what a restore did.
type ProjectRestore struct {
	// Project is the restored project; From the project the backup was
	// made of (the same, unless restored as a copy).
	Project      string `json:"project"`
	From         string `json:"from"`
	Resources    int64  `json:"resources"`
	Versions     int64  `json:"versions"`
	AuditRecords int64  `json:"auditRecords"`
}
