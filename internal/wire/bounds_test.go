package wire_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward/internal/wire"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestResourceSizeBounds: a Patient with 100,000 names was accepted and
// cost seconds per write; any array over 10,000 items is now a 400 naming
// it, while 10,000 is still stored.
func TestResourceSizeBounds(t *testing.T) {
	skipExternal(t, "needs a server with a 4 MB body limit")
	names := func(n int) string {
		return `{"resourceType":"Patient","name":[` + strings.TrimSuffix(strings.Repeat(`{"family":"F"},`, n), ",") + `]}`
	}
	cases := []struct {
		name, body string
		status     int
		names      string
	}{
		{"100,000 names", names(100_000), 400, "Patient.name"},
		{"10,001 names", names(10_001), 400, "at most 10000"},
		{"10,000 given names", `{"resourceType":"Patient","name":[{"given":[` + strings.TrimSuffix(strings.Repeat(`"G",`, 10_000), ",") + `]}]}`, 201, ""},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		// The test server's 1 MB body limit would answer 413 first.
		srv := httptest.NewServer(wire.Handler(s, wire.Config{BaseURL: "http://bounds/", MaxBodyBytes: 4 << 20, Authenticate: wire.HeaderProject}, slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError}))))
		t.Cleanup(srv.Close)
		c := newClient(t, srv, projectBad)
		for _, tc := range cases {
			r := c.do("POST", "Patient", tc.body)
			switch {
			case r.status != tc.status:
				t.Errorf("%s: %d %.300s, want %d", tc.name, r.status, r.raw, tc.status)
			case tc.status == 400 && (!isOutcome(r.body) || !strings.Contains(outcomeText(r.body), tc.names)):
				t.Errorf("%s: outcome %q does not name %q", tc.name, outcomeText(r.body), tc.names)
			}
		}
	})
}
