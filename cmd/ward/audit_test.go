package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// TestAuditVerifyCommand: `ward audit verify` passes on intact trails and
// fails (exit status 1) naming the project and seq of a tampered one; the
// -audit-log file got one JSON line per record.
func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := dbConfig{dataDir: dir, sqliteSync: "NORMAL"}
	s, err := db.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sinkPath := filepath.Join(dir, "audit.jsonl")
	sink, closeSink, err := auditSink(sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	trail := s.NewAuditLog(store.AuditOptions{Sink: sink})
	good, bad := uuid.NewString(), uuid.NewString()
	for _, p := range []string{good, bad, good, bad} {
		if err := trail.Record(ctx, &ward.AuditRecord{Time: time.Now(), ProjectID: p, Kind: "rest", Action: "R", Interaction: "read", Outcome: "0"}); err != nil {
			t.Fatal(err)
		}
	}
	trail.Close()
	closeSink()
	if lines, _ := os.ReadFile(sinkPath); bytes.Count(lines, []byte("\n")) != 4 || !bytes.Contains(lines, []byte(`"resourceType":"AuditEvent"`)) {
		t.Errorf("-audit-log file: %s, want 4 AuditEvent lines", lines)
	}
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	var out bytes.Buffer
	if err := verifyAudit(sys, s, "", &out); err != nil || strings.Count(out.String(), ": ok, 2 records") != 2 {
		t.Fatalf("intact trails: %v\n%s", err, out.String())
	}
	if _, err := s.WriterDB().Exec(`UPDATE audit_chain SET hash = 'x' WHERE project_id = ? AND seq = 2`, bad); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := verifyAudit(sys, s, "", &out); !errors.Is(err, errBrokenChain) || !strings.Contains(out.String(), "project "+bad+": BROKEN at seq 2") {
		t.Errorf("tampered trail: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"audit", "verify", "-data-dir", dir, "-project", good}); err != nil {
		t.Errorf("ward audit verify -project <intact>: %v", err)
	}
	if err := run(ctx, []string{"audit", "verify", "-data-dir", dir}); !errors.Is(err, errBrokenChain) {
		t.Errorf("ward audit verify: %v, want the broken chain", err)
	}
}
