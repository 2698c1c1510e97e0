package store_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// chainHashes are project's links as (hash, prev_hash, content_hash), in
// seq order.
func chainHashes(t *testing.T, s *store.Store, project string) [][3]string {
	t.Helper()
	rows, err := s.DB().Query(s.Dialect().Rebind("SELECT hash, prev_hash, content_hash FROM audit_chain WHERE project_id = ? ORDER BY seq"), project)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var l [3]string
		if err := rows.Scan(&l[0], &l[1], &l[2]); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuditAppendInSQLAgreesWithGo: on PostgreSQL the audit chain is
// folded by ward_audit_append (migration 00021); the links it writes are
// the very links the Go path writes for the same records — batch by
// batch, after a head the other path wrote, and after a damaged head —
// and the chain verifies. Plain and hash-partitioned layouts.
func TestAuditAppendInSQLAgreesWithGo(t *testing.T) {
	for _, partitions := range []int{0, 4} {
		t.Run(fmt.Sprintf("partitions=%d", partitions), func(t *testing.T) {
			s := storetest.OpenPostgresWith(t, postgres.Options{HashPartitions: partitions})
			if !s.AuditInSQL() {
				t.Skip("the database links audit batches in Go (Citus)")
			}
			inSQL, inGo := uuid.NewString(), uuid.NewString()
			// Batches of 1, 3 and 2 records; the SQL project's second
			// batch is linked by Go, the Go project's third by SQL: each
			// path continues the other's head.
			batches := []int{1, 3, 2}
			paths := map[string][]bool{inSQL: {true, false, true}, inGo: {false, false, true}}
			n := 0
			for b, size := range batches {
				ids, contents := make([]string, size), make([][]byte, size)
				for i := range size {
					n++
					ids[i] = fmt.Sprintf("ev-%d", n)
					contents[i] = []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":"ev-%d","outcome":"0","note":"é %d"}`, n, n))
				}
				for _, project := range []string{inSQL, inGo} {
					s.SetAuditInSQL(paths[project][b])
					seqs, err := store.AppendAuditContents(s, project, ids, contents)
					if err != nil {
						t.Fatalf("batch %d of %s: %v", b, project, err)
					}
					if want := int64(n - size + 1); seqs[0] != want || seqs[size-1] != int64(n) {
						t.Fatalf("batch %d of %s got seqs %v, want %d…%d", b, project, seqs, want, n)
					}
				}
			}
			sqlLinks, goLinks := chainHashes(t, s, inSQL), chainHashes(t, s, inGo)
			if len(sqlLinks) != n || fmt.Sprint(sqlLinks) != fmt.Sprint(goLinks) {
				t.Fatalf("links differ:\nSQL %v\nGo  %v", sqlLinks, goLinks)
			}
			for _, project := range []string{inSQL, inGo} {
				if v, err := s.VerifyAudit(sysCtx(), project); err != nil || !v.OK || v.Checked != int64(n) {
					t.Errorf("chain of %s = %+v %v, want %d links OK", project, v, err, n)
				}
			}
			// A head whose hash is not hex (damaged behind the server's
			// back) is hashed as its text by both paths alike.
			for _, project := range []string{inSQL, inGo} {
				if _, err := s.WriterDB().Exec("UPDATE audit_chain SET hash = 'not hex!' WHERE project_id = $1 AND seq = $2", project, n); err != nil {
					t.Fatal(err)
				}
				s.SetAuditInSQL(project == inSQL)
				if _, err := store.AppendAuditContents(s, project, []string{"after-damage"}, [][]byte{[]byte(`{"resourceType":"AuditEvent"}`)}); err != nil {
					t.Fatal(err)
				}
			}
			sqlLinks, goLinks = chainHashes(t, s, inSQL), chainHashes(t, s, inGo)
			if fmt.Sprint(sqlLinks[n]) != fmt.Sprint(goLinks[n]) {
				t.Errorf("after a damaged head: SQL %v, Go %v", sqlLinks[n], goLinks[n])
			}
		})
	}
}

// TestAuditChainTwoPathsTwoProcesses: two processes on one PostgreSQL
// database, one linking in SQL and one in Go (a fleet mid-upgrade), each
// recording reads and audited writes into one project at once: one
// contiguous chain holds every record. The advisory lock both take is
// the same.
func TestAuditChainTwoPathsTwoProcesses(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	var stores []*store.Store
	var logs []*store.AuditLog
	for i := range 2 {
		s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.SetAuditInSQL(i == 0)
		stores = append(stores, s)
		logs = append(logs, newAuditLog(t, s, store.AuditOptions{}))
	}
	proj := uuid.NewString()
	const reads, writes = 200, 40
	var wg sync.WaitGroup
	errs := make(chan error, reads+writes)
	for i := range reads {
		wg.Go(func() {
			errs <- logs[i%2].Record(context.Background(), readRecord(proj, uuid.NewString(), uuid.NewString()))
		})
	}
	for i := range writes {
		wg.Go(func() { errs <- auditedCreate(stores[i%2], proj) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, err := stores[1].VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != reads+writes {
		t.Errorf("chain after two processes = %+v %v, want %d links OK", v, err, reads+writes)
	}
}

// auditedCreate creates a Patient in project as a request with an audit
// access would: its record is linked in the write's transaction.
func auditedCreate(s *store.Store, project string) error {
	ctx := ward.NewContextWithAccess(adminOf(project), &ward.Access{Record: ward.AuditRecord{ProjectID: project, Kind: "rest", Interaction: "create"}})
	return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		_, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
		return err
	})
}

// TestAuditBatchKeepsTheGoodRecords: a batch that fails for one record
// (its id taken by the record before it) commits every other record, one
// by one, and the chain has no gap.
func TestAuditBatchKeepsTheGoodRecords(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		var recs []*ward.AuditRecord
		for range 6 {
			recs = append(recs, readRecord(proj, uuid.NewString(), uuid.NewString()))
		}
		errs, err := store.CommitAuditBatch(l, recs, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if (err != nil) != (i == 3) {
				t.Errorf("record %d: %v, want only record 3 refused", i, err)
			}
		}
		l.Flush(context.Background())
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 5 {
			t.Errorf("chain = %+v %v, want the 5 good records linked", v, err)
		}
		if res, err := trySearch(s, adminOf(proj), "AuditEvent", "_count=100"); err != nil || len(res.Matches) != 5 {
			t.Errorf("search finds %v (%v), want the 5 good records", res, err)
		}
	})
}

// TestAuditProjectionCommitsUnflushed: on PostgreSQL a record's append
// commits as any transaction does (its acknowledgement waits for the WAL
// flush), and only the projection that follows it turns
// synchronous_commit off, inside its own transaction. That a lost
// projection is redone from the chain is TestAuditIndexCatchesUpAfterACrash.
func TestAuditProjectionCommitsUnflushed(t *testing.T) {
	var mu sync.Mutex
	var stmts []string
	trace := func(_ context.Context, query string, _ []driver.NamedValue) {
		mu.Lock()
		stmts = append(stmts, query)
		mu.Unlock()
	}
	s := storetest.OpenPostgresWith(t, postgres.Options{Trace: trace})
	proj := uuid.NewString()
	l := newAuditLog(t, s, store.AuditOptions{})
	mu.Lock()
	stmts = nil
	mu.Unlock()
	record(t, l, readRecord(proj, uuid.NewString(), uuid.NewString()))
	l.Flush(context.Background())
	mu.Lock()
	defer mu.Unlock()
	appended, relaxed, marked := -1, -1, -1
	for i, q := range stmts {
		switch {
		case strings.Contains(q, "ward_audit_append") || strings.HasPrefix(q, "INSERT INTO audit_chain"):
			appended = i
		case q == "SET LOCAL synchronous_commit = off" && relaxed < 0:
			relaxed = i
		case strings.HasPrefix(q, "UPDATE audit_projected"):
			marked = i
		}
	}
	if appended < 0 || relaxed <= appended || marked <= relaxed {
		t.Errorf("append at %d, synchronous_commit off at %d, mark moved at %d; want append < off < mark in\n%s",
			appended, relaxed, marked, strings.Join(stmts, "\n"))
	}
}
