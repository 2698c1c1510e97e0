package store

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/index"
)

// TestAuditRowsEqualExtract: the rows the audit log builds by hand for
// each shape of record are the rows FHIRPath extracts from the stored
// AuditEvent, so a search (and a reindex) finds the records alike; the
// AuditEvent is valid R4 and its meta.compartment is what the generic
// write path computes.
func TestAuditRowsEqualExtract(t *testing.T) {
	project := "0342d123-6e19-4de9-a4a1-f44cb2ba8d90"
	patient := "Patient/f0ae2736-1889-4846-a5c3-fc8695582150"
	other := "Patient/11111111-2222-4333-8444-555555555555"
	for name, rec := range map[string]*ward.AuditRecord{
		"read": {ProjectID: project, Kind: "rest", Action: "R", Interaction: "read", Outcome: "0", Status: 200,
			User: "User/u1", Profile: "Practitioner/p1", Membership: "ProjectMembership/m1", Address: "10.1.2.3",
			UserAgent: "curl/8", RequestID: "r1", ResourceType: "Observation", ResourceID: "o1", VersionID: "v1",
			Results: -1, Patients: []string{patient}},
		"search": {ProjectID: project, Kind: "rest", Action: "E", Interaction: "search-type", Outcome: "0", Status: 200,
			Client: "ClientApplication/c1", Address: "::1", ResourceType: "Patient", Query: "name=smith&_count=2",
			Results: 2, Patients: []string{patient, other, "Patient/not-a-uuid"}},
		"refusal": {ProjectID: project, Kind: "rest", Action: "E", Interaction: "search-type", Outcome: "4", Status: 403,
			Reason: "Forbidden", User: "User/u1", Profile: "Practitioner/p1", Client: "ClientApplication/c1",
			OnBehalfOf: "ProjectMembership/m2", Address: "clinic.example", ResourceType: "Patient", Results: 0},
		"anonymous": {Kind: "rest", Action: "R", Interaction: "read", Outcome: "4", Status: 401, Reason: "Unauthorized",
			Address: "10.0.0.1", RequestID: "r2", ResourceType: "Patient", ResourceID: "x", Results: -1},
		"login": {ProjectID: project, Kind: "login", Action: "E", Interaction: "login", Outcome: "4", Status: 400,
			Reason: "Email or password is invalid", Address: "10.0.0.2", UserAgent: "Mozilla/5.0 ünïcode"},
		"logout": {ProjectID: project, Kind: "login", Action: "E", Interaction: "logout", Outcome: "0", Status: 200, User: "User/u1"},
		"operation": {ProjectID: project, Kind: "rest", Action: "E", Interaction: "$graphql", Outcome: "0", Status: 200,
			Profile: "Patient/f0ae2736-1889-4846-a5c3-fc8695582150", Query: "{PatientList{id}}", Results: -1},
		"erasure": {ProjectID: project, Kind: "rest", Action: "D", Interaction: "$expunge", Outcome: "0", Status: 200,
			Profile: "Practitioner/p1", ResourceType: "Patient", ResourceID: "f0ae2736-1889-4846-a5c3-fc8695582150", Results: 6},
		"history": {ProjectID: project, Kind: "rest", Action: "R", Interaction: "history-instance", Outcome: "0", Status: 200,
			User: "User/u1", ResourceType: "Observation", ResourceID: "o1", Results: 3, Patients: []string{patient}},
		"hostile input": {ProjectID: project, Kind: "rest", Action: "E", Interaction: "search-type", Outcome: "4", Status: 400,
			Address: "10.0.0.3", UserAgent: strings.Repeat("A\x00", 2000), Query: "name=\xff\x00" + strings.Repeat("x", 9000),
			ResourceType: "Observation", Results: -1, Reason: "Unknown search parameter"},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := auditVersion(rec, time.Now().UTC().Truncate(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeResource(v.res.Content)
			if err != nil {
				t.Fatal(err)
			}
			if err := fhir.ValidateResource(d.tree); err != nil {
				t.Fatalf("not a valid AuditEvent: %v\n%s", err, v.res.Content)
			}
			want, err := index.New().Extract(context.Background(), "AuditEvent", d.tree)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(want, v.rows) {
				t.Errorf("rows differ from FHIRPath's:\nextract %+v\nbuilt   %+v", want, v.rows)
			}
			refs, uuids := index.Compartments(metaProject(v.res.ProjectID), "AuditEvent", v.res.ID, d.tree, want)
			if !slices.Equal(uuids, v.compartments) {
				t.Errorf("compartments = %v, want %v", v.compartments, uuids)
			}
			var stored struct {
				Meta struct{ Compartment []struct{ Reference string } }
			}
			if err := json.Unmarshal(v.res.Content, &stored); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range stored.Meta.Compartment {
				got = append(got, c.Reference)
			}
			if !slices.Equal(refs, got) {
				t.Errorf("meta.compartment = %v, want %v", got, refs)
			}
		})
	}
}
