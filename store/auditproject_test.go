package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestAuditReadYourTrailAcrossAHole: when the projection mark lies far
// below a new record (links left unindexed, as past the in-memory queue's
// bound), the hole is filled from the chain a bounded step at a time and
// the new record is still found by the very next search, with every link
// below it.
func TestAuditReadYourTrailAcrossAHole(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj, patient := uuid.NewString(), uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		const n = 100 // two steps of the hole fill
		for range n {
			record(t, l, readRecord(proj, uuid.NewString(), patient))
		}
		l.Flush(context.Background())
		// The hole: every link's index rows gone and the mark back at 0, under a running log.
		for _, q := range []string{"search_token", "search_string", "search_date", "search_reference", "resource_compartments"} {
			q = `DELETE FROM ` + q + ` WHERE project_id = ? AND resource_type = 'AuditEvent' AND ? <> ''`
			if _, err := s.WriterDB().Exec(s.Dialect().Rebind(q), proj, proj); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.WriterDB().Exec(s.Dialect().Rebind(`UPDATE audit_projected SET seq = 0 WHERE project_id = ?`), proj); err != nil {
			t.Fatal(err)
		}
		obs := uuid.NewString()
		record(t, l, readRecord(proj, obs, patient))
		if res, err := trySearch(s, adminOf(proj), "AuditEvent", "entity=Observation/"+obs); err != nil || len(res.Matches) != 1 {
			t.Fatalf("the record above the hole, right after Record: %v %v", res, err)
		}
		res, err := trySearch(s, adminOf(proj), "AuditEvent", "patient=Patient/"+patient+"&_count=1000")
		if err != nil || len(res.Matches) != n+1 {
			t.Fatalf("the trail after the hole filled: %d records (%v), want %d", len(res.Matches), err, n+1)
		}
		if other, err := trySearch(s, adminOf(uuid.NewString()), "AuditEvent", "patient=Patient/"+patient); err != nil || len(other.Matches) != 0 {
			t.Errorf("another project's admin finds %d of the records (%v), want none", len(other.Matches), err)
		}
	})
}

// TestAuditCloseLeavesTheBacklog: a log told to close does not index a
// backlog of links first (a server past SIGTERM spent minutes on one);
// the next log on the database projects it, and every record is found.
func TestAuditCloseLeavesTheBacklog(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj, patient := uuid.NewString(), uuid.NewString()
		const n = 2000 // about 30 catch-up transactions
		recs := make([]*ward.AuditRecord, n)
		for i := range recs {
			recs[i] = readRecord(proj, uuid.NewString(), patient)
		}
		if err := store.LoadAuditRecords(context.Background(), s, recs, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriterDB().Exec(s.Dialect().Rebind(`UPDATE audit_projected SET seq = 0 WHERE project_id = ?`), proj); err != nil {
			t.Fatal(err)
		}
		s.NewAuditLog(store.AuditOptions{}).Close() // its start-up catch-up sees the whole backlog
		var mark int64
		if err := s.WriterDB().QueryRow(s.Dialect().Rebind(`SELECT seq FROM audit_projected WHERE project_id = ?`), proj).Scan(&mark); err != nil {
			t.Fatal(err)
		}
		if mark >= n {
			t.Errorf("Close returned after projecting the whole backlog (mark %d of %d)", mark, n)
		}
		l := newAuditLog(t, s, store.AuditOptions{})
		l.Flush(context.Background())
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := s.WriterDB().QueryRow(s.Dialect().Rebind(`SELECT seq FROM audit_projected WHERE project_id = ?`), proj).Scan(&mark)
			if err == nil && mark == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the next log projected the backlog up to %d of %d (%v)", mark, n, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
