package ward

import "time"

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
}

// Reference returns "Type/id".
func (r *Resource) Reference() string { return r.Type + "/" + r.ID }
