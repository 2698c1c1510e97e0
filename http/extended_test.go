package wardhttp_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/mock"
)

// TestExtendedReachesTheStore: "X-Medplum: extended" sets Principal.Extended
// for the store (admins write meta.accounts only in that mode), on a copy:
// the principal Authenticate returns is shared by requests and stays as is.
func TestExtendedReachesTheStore(t *testing.T) {
	shared := &ward.Principal{ProjectID: "p1", Admin: true}
	var seen *ward.Principal
	st := &mock.ResourceStore{ReadFn: func(ctx context.Context, typ, id string) (*ward.Resource, error) {
		seen = ward.PrincipalFromContext(ctx)
		return &ward.Resource{Type: typ, ID: id, VersionID: "v1", Content: []byte(`{"resourceType":"Patient","id":"` + id + `"}`)}, nil
	}}
	srv := wardhttp.NewServer(wardhttp.Options{
		Store:         st,
		Authenticate:  func(*http.Request) (*ward.Principal, error) { return shared, nil },
		ResourceTypes: []string{"Patient"},
		Logger:        discardLogger(),
	})
	f := &fixture{h: srv.Handler()}
	for _, tt := range []struct {
		name    string
		headers []string
		want    bool
	}{
		{"no header", nil, false},
		{"extended", []string{"X-Medplum", "extended"}, true},
		{"in a list, any case", []string{"X-Medplum", "other, Extended"}, true},
		{"other value", []string{"X-Medplum", "basic"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/1", "", tt.headers...), 200)
			if seen == nil || seen.Extended != tt.want || !seen.Admin || seen.ProjectID != "p1" {
				t.Fatalf("store saw %+v, want Extended %v on the caller", seen, tt.want)
			}
			if shared.Extended {
				t.Fatal("the shared principal was modified")
			}
		})
	}
}
