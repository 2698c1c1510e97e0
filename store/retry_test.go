package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/storetest"
)

// sqlStateError is a driver error carrying a PostgreSQL SQLSTATE.
type sqlStateError string

func (e sqlStateError) Error() string    { return "ERROR: SQLSTATE " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

// A transaction PostgreSQL keeps aborting for deadlocks or serialization
// failures is run a bounded number of times, then answered with a 409
// conflict the caller may retry — not an internal error — and nothing of
// it is kept or announced.
func TestWriteGivesUpOnEndlessConflictsWithConflict(t *testing.T) {
	s := storetest.OpenPostgres(t)
	var commits atomic.Int32
	s.OnCommit(func(context.Context, []*ward.Resource) { commits.Add(1) })
	ctx := as(uuid.NewString())
	for _, code := range []string{"40P01", "40001"} {
		runs := 0
		var id string
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			runs++
			res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
			if err != nil {
				return err
			}
			id = res.ID
			return sqlStateError(code)
		})
		if ward.ErrorCode(err) != ward.ECONFLICT {
			t.Errorf("%s every time: %v, want a conflict", code, err)
		}
		if runs < 3 || runs > 5 {
			t.Errorf("%s every time: run %d times, want 3 to 5", code, runs)
		}
		if _, err := s.Read(ctx, "Patient", id); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("%s: the rolled back Patient reads %v", code, err)
		}
	}
	if n := commits.Load(); n != 0 {
		t.Errorf("OnCommit called %d times for transactions that never committed", n)
	}
}

// Two transactions updating two Patients in opposite order deadlock; the
// one PostgreSQL aborts is run again from the start, so both commit, and
// OnCommit hears of each once.
func TestDeadlockedWriteIsRunAgain(t *testing.T) {
	s := storetest.OpenPostgres(t)
	ctx := as(uuid.NewString())
	a := create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`)
	b := create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`)
	var commits atomic.Int32
	s.OnCommit(func(context.Context, []*ward.Resource) { commits.Add(1) })
	var runs atomic.Int32
	var both sync.WaitGroup // each holds its first row before taking the second
	both.Add(2)
	write := func(first, second *ward.Resource, family string) error {
		firstRun := true
		return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			runs.Add(1)
			for i, p := range []*ward.Resource{first, second} {
				body := `{"resourceType":"Patient","id":"` + p.ID + `","name":[{"family":"` + family + `"}]}`
				if _, _, err := tx.Update(ctx, "Patient", p.ID, []byte(body), ""); err != nil {
					return err
				}
				if i == 0 && firstRun {
					firstRun = false
					both.Done()
					both.Wait()
				}
			}
			return nil
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- write(a, b, "ab") }()
	go func() { errs <- write(b, a, "ba") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("write: %v", err)
		}
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("%d runs, want 3 (one deadlock victim run again)", n)
	}
	if n := commits.Load(); n != 2 {
		t.Errorf("OnCommit called %d times, want 2", n)
	}
	ra, _ := s.Read(ctx, "Patient", a.ID)
	rb, _ := s.Read(ctx, "Patient", b.ID)
	if fa, fb := family(t, ra), family(t, rb); fa != fb {
		t.Errorf("Patients end as %q and %q: the transaction that committed last wrote both", fa, fb)
	}
}

func family(t *testing.T, r *ward.Resource) string {
	t.Helper()
	if r == nil {
		t.Fatal("no resource")
	}
	var p struct{ Name []struct{ Family string } }
	if err := json.Unmarshal(r.Content, &p); err != nil || len(p.Name) == 0 {
		t.Fatalf("%s: %v", r.Content, err)
	}
	return p.Name[0].Family
}
