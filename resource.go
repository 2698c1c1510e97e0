package ward

import (
	"time"

	"github.com/google/uuid"
)

// Resource is one stored version of a FHIR resource. Content is the JSON as
// stored, including meta, and is served byte for byte.
type Resource struct {
	Type        string
	ID          string
	VersionID   string
	ProjectID   string
	LastUpdated time.Time
	Deleted     bool
	Content     []byte // nil for a deletion version
	// Patients are the "Patient/…" references of the resource's
	// meta.compartment, filled by the store for the audit trail before
	// the output gate strips meta.compartment; never shown to a caller.
	Patients []string
}

// Reference returns "Type/id".
func (r *Resource) Reference() string { return r.Type + "/" + r.ID }

// NewID returns a new resource or version id: a UUID, version 7, so ids
// created together sort together and B-tree inserts land on the same
// pages instead of scattering over the whole index.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString() // v7 fails only if the random source does
	}
	return id.String()
}
