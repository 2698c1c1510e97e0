package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

// TestRotateKey: each `ward rotate-key` adds one active signing key to the
// configured database and retires the one before it, which stays stored
// (it keeps verifying the tokens it signed). Each rotation is in the
// server's audit trail.
func TestRotateKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for range 2 {
		if err := run(ctx, []string{"rotate-key", "-data-dir", dir}); err != nil {
			t.Fatal(err)
		}
	}
	db := dbConfig{dataDir: dir, sqliteSync: "NORMAL"}
	s, err := db.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := search.Parse("JsonWebKey", url.Values{"_count": {"100"}})
	if err != nil {
		t.Fatal(err)
	}
	found, err := s.Search(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), q)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, res := range found.Matches {
		var k struct{ Active bool }
		if err := json.Unmarshal(res.Content, &k); err != nil {
			t.Fatal(err)
		}
		if k.Active {
			active++
		}
	}
	if len(found.Matches) != 2 || active != 1 {
		t.Errorf("after two rotations: %d keys, %d active; want 2 keys, 1 active", len(found.Matches), active)
	}
	trail, err := s.VerifyAudit(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), ward.SystemProjectID)
	if err != nil || !trail.OK || trail.Checked != 2 {
		t.Errorf("server audit trail after two rotations: %+v %v, want 2 intact records", trail, err)
	}
}
