package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestOutboxRecordsEveryCommittedChange: each committed write of every
// kind — create, update, PATCH, delete, a transaction's entries, the
// resources $set-accounts touched, $expunge — leaves exactly one outbox
// row with its project, type, id, versionId, operation and compartment,
// in commit order; a rolled-back write leaves none.
func TestOutboxRecordsEveryCommittedChange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		start := lastSeq(t, s)
		f := newSAFixture(t, s) // a Patient, an Observation and a DiagnosticReport about it
		admin := f.admin
		var want []string
		want = append(want, "create Patient/"+f.patient, "create Observation/"+f.obs, "create DiagnosticReport/"+f.dr)

		upd, _, err := update(s, admin, "Patient", f.patient, `{"resourceType":"Patient","id":"`+f.patient+`","name":[{"family":"Renamed"}]}`, "")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "update Patient/"+f.patient)
		patched := ward.NewContextWithAccess(admin, &ward.Access{Record: ward.AuditRecord{Interaction: "patch"}})
		if _, _, err := update(s, patched, "Patient", f.patient, `{"resourceType":"Patient","id":"`+f.patient+`","name":[{"family":"Patched"}]}`, ""); err != nil {
			t.Fatal(err)
		}
		want = append(want, "patch Patient/"+f.patient)

		var bundle []*ward.Resource
		err = s.Write(admin, func(ctx context.Context, tx ward.ResourceTx) error {
			for range 2 {
				res, err := tx.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+f.patient+`"}}`))
				if err != nil {
					return err
				}
				bundle = append(bundle, res)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range bundle {
			want = append(want, "create Observation/"+r.ID)
		}

		boom := errors.New("boom")
		err = s.Write(admin, func(ctx context.Context, tx ward.ResourceTx) error {
			if _, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled-back write: %v", err)
		}

		n := f.set(t, "Patient", f.patient, true, f.o1)
		touched := []string{"Patient/" + f.patient, "Observation/" + f.obs, "DiagnosticReport/" + f.dr, "Observation/" + bundle[0].ID, "Observation/" + bundle[1].ID}
		if n != len(touched) {
			t.Fatalf("$set-accounts touched %d resources, want %d", n, len(touched))
		}
		setAt := len(want)
		for range touched {
			want = append(want, "") // any order within the one transaction
		}

		if err := s.Write(admin, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, "DiagnosticReport", f.dr) }); err != nil {
			t.Fatal(err)
		}
		want = append(want, "delete DiagnosticReport/"+f.dr)
		other := create(t, s, admin, "Patient", `{"resourceType":"Patient"}`)
		want = append(want, "create Patient/"+other.ID)
		if _, err := s.Expunge(admin, "Patient", other.ID, true); err != nil {
			t.Fatal(err)
		}
		want = append(want, "expunge Patient/"+other.ID)

		changes, err := s.OutboxAfter(ctx, start, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, c := range changes {
			if c.Seq != start+int64(i)+1 {
				t.Errorf("seq %d at position %d: not contiguous after %d", c.Seq, i, start)
			}
			if c.ProjectID != f.project {
				t.Errorf("%s/%s in project %s, want %s", c.Type, c.ID, c.ProjectID, f.project)
			}
			if c.VersionID == "" || c.Time.IsZero() {
				t.Errorf("%s %s/%s: versionId %q, time %v", c.Operation, c.Type, c.ID, c.VersionID, c.Time)
			}
			got = append(got, c.Operation+" "+c.Type+"/"+c.ID)
		}
		if len(got) != len(want) {
			t.Fatalf("outbox holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		setGot := slices.Clone(got[setAt : setAt+len(touched)])
		for i := range touched {
			want[setAt+i] = "update " + touched[i]
		}
		slices.Sort(setGot)
		setWant := slices.Clone(want[setAt : setAt+len(touched)])
		slices.Sort(setWant)
		copy(got[setAt:], setGot)
		copy(want[setAt:], setWant)
		if !slices.Equal(got, want) {
			t.Errorf("outbox holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		byKey := map[string]store.Change{}
		for _, c := range changes {
			key := fmt.Sprint(c.Operation, " ", c.Type, "/", c.ID)
			if _, ok := byKey[key]; !ok {
				byKey[key] = c // the first: $set-accounts updates the Patient again
			}
		}
		if c := byKey["update Patient/"+f.patient]; c.VersionID != upd.VersionID {
			t.Errorf("update carries versionId %q, the write made %q", c.VersionID, upd.VersionID)
		}
		if c := byKey["create Observation/"+f.obs]; !slices.Contains(c.Compartment, "Patient/"+f.patient) || !slices.Contains(c.Compartment, "Project/"+f.project) {
			t.Errorf("Observation's compartment %v lacks its patient or project", c.Compartment)
		}
		if c := byKey["delete DiagnosticReport/"+f.dr]; !slices.Contains(c.Compartment, "Patient/"+f.patient) {
			t.Errorf("deletion's compartment %v lacks the patient", c.Compartment)
		}
		if c := byKey["expunge Patient/"+other.ID]; c.VersionID != other.VersionID {
			t.Errorf("expunge carries versionId %q, want the erased version %q", c.VersionID, other.VersionID)
		}
	})
}

// TestOutboxCursor: a sink's cursor starts at 0, keeps what it was set to
// and never moves back (a second server publishing to the same sink).
func TestOutboxCursor(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sink := "test-" + uuid.NewString()
		if seq, err := s.OutboxCursor(ctx, sink); err != nil || seq != 0 {
			t.Fatalf("new cursor: %d, %v", seq, err)
		}
		for _, step := range []struct{ set, want int64 }{{5, 5}, {9, 9}, {7, 9}} {
			if err := s.SetOutboxCursor(ctx, sink, step.set); err != nil {
				t.Fatal(err)
			}
			if got, err := s.OutboxCursor(ctx, sink); err != nil || got != step.want {
				t.Fatalf("cursor set to %d reads %d, %v; want %d", step.set, got, err, step.want)
			}
		}
	})
}

// lastSeq is the highest seq on the outbox.
func lastSeq(t *testing.T, s *store.Store) int64 {
	t.Helper()
	var seq int64
	for {
		changes, err := s.OutboxAfter(context.Background(), seq, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) == 0 {
			return seq
		}
		seq = changes[len(changes)-1].Seq
	}
}

// TestOutboxWakesOnlyOnChanges: the outbox's followers are woken by a
// commit that appended changes, not by one that linked only audit records
// (every audited read commits one).
func TestOutboxWakesOnlyOnChanges(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		var wakes atomic.Int64
		s.OnOutbox(func() { wakes.Add(1) })
		project := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		tests := []struct {
			name  string
			do    func()
			wakes int64
		}{
			{"an audited read's record", func() { record(t, l, readRecord(project, uuid.NewString(), uuid.NewString())) }, 0},
			{"a create", func() { create(t, s, adminOf(project), "Patient", `{"resourceType":"Patient"}`) }, 1},
			{"a create, audited", func() {
				ctx := ward.NewContextWithAccess(adminOf(project), &ward.Access{Record: ward.AuditRecord{ProjectID: project}})
				create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`)
			}, 1},
		}
		for _, tt := range tests {
			before := wakes.Load()
			tt.do()
			if got := wakes.Load() - before; got != tt.wakes {
				t.Errorf("%s: %d outbox wakes, want %d", tt.name, got, tt.wakes)
			}
		}
	})
}
