package store_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// errMember is the error a member's own fn returns after writing.
var errMember = errors.New("the member gave up")

// TestGroupCommitFailuresStayTheirOwn: writes queued behind a running one
// share one commit on SQLite (on PostgreSQL they are transactions of
// their own). Each member that fails — a reference to nothing, an
// If-Match on an old version, an id already taken, a fn that wrote and
// then failed, a fn that panicked, a caller that went away while queued —
// gets its own answer and leaves nothing behind; every other member is
// acknowledged, readable, on the outbox once in commit order, and linked
// into an audit chain that verifies.
func TestGroupCommitFailuresStayTheirOwn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		store.SetGroupRun(s, time.Minute)
		trail := newAuditLog(t, s, store.AuditOptions{}) // audited writes link their records in their transaction
		base := as(proj)
		audited := func(ctx context.Context) context.Context {
			return ward.NewContextWithAccess(ctx, &ward.Access{Record: ward.AuditRecord{RequestID: uuid.NewString()}})
		}
		patient := create(t, s, audited(base), "Patient", `{"resourceType":"Patient"}`)
		startSeq := lastSeq(t, s)
		trail.Flush(context.Background()) // its projection writes nothing while the writer is held
		sqlite := s.Dialect().Name() == "sqlite"

		// The writer connection is held until every member is queued: the
		// first write to come leads, waiting for it, the others queue.
		release := holdWriter(t, s)
		type outcome struct {
			res      *ward.Resource
			err      error
			panicked any
		}
		type member struct {
			name string
			ok   bool   // acknowledged and readable
			code string // else the error code it gets ("" for a non-ward error)
			run  func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error)
		}
		createObs := func(text string) func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
			return func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				return tx.Create(ctx, "Observation", obsOf(patient.ID, text))
			}
		}
		var orphan, panicked *ward.Resource
		members := []member{
			{name: "create 1", ok: true, run: createObs("c1")},
			{name: "reference to nothing", code: ward.ESTRUCTURE, run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				checked := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: proj, Author: "Practitioner/" + proj, CheckReferences: true})
				return tx.Create(checked, "Observation", obsOf(uuid.NewString(), "dangling"))
			}},
			{name: "create 2", ok: true, run: createObs("c2")},
			{name: "If-Match an old version", code: ward.EPRECONDITION, run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				res, _, err := tx.Update(ctx, "Patient", patient.ID, []byte(`{"resourceType":"Patient","id":"`+patient.ID+`","gender":"other"}`), uuid.NewString())
				return res, err
			}},
			{name: "create 3", ok: true, run: createObs("c3")},
			{name: "id already taken", code: ward.ECONFLICT, run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				return tx.(interface {
					CreateWithID(ctx context.Context, typ, id string, content []byte) (*ward.Resource, error)
				}).CreateWithID(ctx, "Patient", patient.ID, []byte(`{"resourceType":"Patient"}`))
			}},
			{name: "wrote, then failed", run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","gender":"male"}`))
				if err != nil {
					return nil, err
				}
				orphan = res
				return nil, errMember
			}},
			{name: "update", ok: true, run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				res, _, err := tx.Update(ctx, "Patient", patient.ID, []byte(`{"resourceType":"Patient","id":"`+patient.ID+`","gender":"female"}`), patient.VersionID)
				return res, err
			}},
			{name: "panicked", run: func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
				res, err := tx.Create(ctx, "Observation", obsOf(patient.ID, "panic"))
				if err != nil {
					return nil, err
				}
				panicked = res
				panic("member panics")
			}},
			{name: "create 4", ok: true, run: createObs("c4")},
		}
		outcomes := make([]outcome, len(members))
		var wg sync.WaitGroup
		for i, m := range members {
			wg.Go(func() {
				defer func() { outcomes[i].panicked = recover() }()
				outcomes[i].err = s.Write(audited(base), func(ctx context.Context, tx ward.ResourceTx) error {
					var err error
					outcomes[i].res, err = m.run(ctx, tx)
					return err
				})
			})
		}
		// A caller that goes away while queued is dropped.
		gone, leave := context.WithCancel(audited(base))
		goneErr := make(chan error, 1)
		var goneWrote bool
		if sqlite {
			waitQueued(t, s, len(members)-1)
			go func() {
				goneErr <- s.Write(gone, func(ctx context.Context, tx ward.ResourceTx) error {
					goneWrote = true
					_, err := tx.Create(ctx, "Observation", obsOf(patient.ID, "gone"))
					return err
				})
			}()
			waitQueued(t, s, len(members))
			leave()
			if err := <-goneErr; !errors.Is(err, context.Canceled) {
				t.Errorf("a write whose caller left while queued: %v, want context.Canceled", err)
			}
			if n := store.GroupQueued(s); n != len(members)-1 {
				t.Errorf("%d writes queued after the caller left, want %d", n, len(members)-1)
			}
		} else {
			leave()
		}
		commitsBefore := store.GroupCommits(s)
		release()
		wg.Wait()
		if sqlite {
			if n := store.GroupCommits(s) - commitsBefore; n != 1 {
				t.Errorf("%d commits for %d queued writes, want 1", n, len(members))
			}
			if goneWrote {
				t.Error("a write dropped from the queue ran")
			}
		}

		wantChanges := map[string]bool{}
		for i, m := range members {
			o := outcomes[i]
			switch {
			case m.name == "panicked":
				if o.panicked != "member panics" {
					t.Errorf("%s: the caller saw panic %v", m.name, o.panicked)
				}
			case m.ok:
				if o.err != nil || o.panicked != nil {
					t.Errorf("%s: %v %v, want acknowledged", m.name, o.err, o.panicked)
					continue
				}
				if got, err := s.Read(base, o.res.Type, o.res.ID); err != nil || got.VersionID != o.res.VersionID {
					t.Errorf("%s: acknowledged %s/%s but read %v %v", m.name, o.res.Type, o.res.ID, got, err)
				}
				wantChanges[o.res.Type+"/"+o.res.ID] = true
			case m.code != "":
				if code(o.err) != m.code {
					t.Errorf("%s: %v, want %s", m.name, o.err, m.code)
				}
			default:
				if !errors.Is(o.err, errMember) {
					t.Errorf("%s: %v, want its own error", m.name, o.err)
				}
			}
		}
		if orphan == nil {
			t.Fatal("the member that wrote then failed did not write")
		}
		if _, err := s.Read(base, "Patient", orphan.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("the Patient of a member that failed reads %v, want not found", err)
		}
		if panicked == nil {
			t.Fatal("the member that panicked did not write")
		}
		if _, err := s.Read(base, "Observation", panicked.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("the Observation of a member that panicked reads %v, want not found", err)
		}
		res, err := trySearch(s, base, "Observation", "subject=Patient/"+patient.ID+"&_count=100")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Matches) != 4 { // c1-c4; not the panicked member's
			t.Errorf("%d Observations of the patient, want 4", len(res.Matches))
		}

		changes, err := s.OutboxAfter(context.Background(), startSeq, 100)
		if err != nil {
			t.Fatal(err)
		}
		prev := startSeq
		for _, c := range changes {
			if !wantChanges[c.Type+"/"+c.ID] {
				t.Errorf("outbox has %s/%s (seq %d), which no acknowledged write made", c.Type, c.ID, c.Seq)
			}
			delete(wantChanges, c.Type+"/"+c.ID)
			if c.Seq <= prev || sqlite && c.Seq != prev+1 {
				t.Errorf("outbox seq %d after %d", c.Seq, prev)
			}
			prev = c.Seq
		}
		if len(wantChanges) > 0 {
			t.Errorf("acknowledged writes missing from the outbox: %v", wantChanges)
		}
		// The patient's create and the 5 members'.
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 6 {
			t.Errorf("audit chain = %+v %v, want 6 links OK", v, err)
		}
	})
}

// TestGroupCommitKeepsACallerThatLeftAfterItRan: a member after the
// first of a group whose caller goes away while it runs still commits,
// and is answered as committed (SQLite: an interrupted statement could
// roll back the other members' writes with its own). A lone write keeps
// its context, as a transaction of its own does.
func TestGroupCommitKeepsACallerThatLeftAfterItRan(t *testing.T) {
	s := storetest.OpenSQLite(t)
	store.SetGroupRun(s, time.Minute)
	base := as(uuid.NewString())
	patient := create(t, s, base, "Patient", `{"resourceType":"Patient"}`)

	lone, leaveLone := context.WithCancel(base)
	err := s.Write(lone, func(ctx context.Context, tx ward.ResourceTx) error {
		leaveLone()
		_, err := tx.Create(ctx, "Observation", obsOf(patient.ID, "lone"))
		return err
	})
	if err == nil {
		t.Error("a lone write whose caller left while it ran committed; want it cancelled as a transaction of its own is")
	}

	release := holdWriter(t, s)
	results := make(chan error, 2)
	go func() { results <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { return nil }) }()
	waitLeading(t, s)
	var left *ward.Resource
	leaving, leave := context.WithCancel(base)
	go func() {
		results <- s.Write(leaving, func(ctx context.Context, tx ward.ResourceTx) error {
			leave()
			var err error
			left, err = tx.Create(ctx, "Observation", obsOf(patient.ID, "left"))
			return err
		})
	}()
	waitQueued(t, s, 1)
	release()
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("a grouped write: %v, want committed", err)
		}
	}
	if left == nil {
		t.Fatal("the write whose caller left did not run")
	}
	if _, err := s.Read(base, "Observation", left.ID); err != nil {
		t.Errorf("acknowledged Observation/%s reads %v", left.ID, err)
	}
}

// TestGroupCommitFirstMemberFails: the first write of a group runs
// without a savepoint (its failure rolls back the transaction, which held
// nothing else); the writes after it still commit, together.
func TestGroupCommitFirstMemberFails(t *testing.T) {
	s := storetest.OpenSQLite(t)
	store.SetGroupRun(s, time.Minute)
	base := as(uuid.NewString())
	release := holdWriter(t, s)
	failed := make(chan error, 1)
	var orphan *ward.Resource
	go func() {
		failed <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
			var err error
			if orphan, err = tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`)); err != nil {
				return err
			}
			return errMember
		})
	}()
	waitLeading(t, s)
	kept := make([]*ward.Resource, 3)
	var wg sync.WaitGroup
	for i := range kept {
		wg.Go(func() {
			if err := s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
				var err error
				kept[i], err = tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
				return err
			}); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, s, len(kept))
	before := store.GroupCommits(s)
	release()
	wg.Wait()
	if err := <-failed; !errors.Is(err, errMember) {
		t.Errorf("the first member: %v, want its own error", err)
	}
	if _, err := s.Read(base, "Patient", orphan.ID); code(err) != ward.ENOTFOUND {
		t.Errorf("the first member's Patient reads %v, want not found", err)
	}
	for _, r := range kept {
		if r == nil {
			continue
		}
		if _, err := s.Read(base, "Patient", r.ID); err != nil {
			t.Errorf("acknowledged Patient/%s reads %v", r.ID, err)
		}
	}
	if n := store.GroupCommits(s) - before; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
}

// TestGroupCommitSurvivesAGoexit: a member's fn that ends the goroutine
// running the group (runtime.Goexit, as a test's t.FailNow does) leaves
// nothing of the group committed, answers its members, and the write
// queued behind leads the next group and commits.
func TestGroupCommitSurvivesAGoexit(t *testing.T) {
	s := storetest.OpenSQLite(t)
	store.SetGroupRun(s, time.Minute)
	base := as(uuid.NewString())
	release := holdWriter(t, s)
	var first *ward.Resource
	leaderGone := make(chan bool, 1)
	go func() {
		returned := false
		defer func() { leaderGone <- returned }()
		_ = s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
			var err error
			first, err = tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
			return err
		})
		returned = true
	}()
	waitLeading(t, s)
	exited := make(chan error, 1)
	go func() {
		exited <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { runtime.Goexit(); return nil })
	}()
	waitQueued(t, s, 1)
	after := make(chan error, 1)
	go func() { after <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { return nil }) }()
	waitQueued(t, s, 2)
	release()
	if returned := <-leaderGone; returned {
		t.Error("the goroutine whose group a member ended returned")
	}
	if err := <-exited; err == nil {
		t.Error("the member that ended the group was answered as committed")
	}
	if err := <-after; err != nil {
		t.Errorf("the write queued after the abandoned group: %v, want committed by the next group", err)
	}
	if first == nil {
		t.Fatal("the group's first member did not run")
	}
	if _, err := s.Read(base, "Patient", first.ID); code(err) != ward.ENOTFOUND {
		t.Errorf("the abandoned group's Patient reads %v, want not found", err)
	}
	create(t, s, base, "Patient", `{"resourceType":"Patient"}`)
}

// TestGroupCommitOffWritesAlone: with group commit off every write is a
// transaction of its own (the baseline benchmarks compare against).
func TestGroupCommitOffWritesAlone(t *testing.T) {
	s := storetest.OpenSQLite(t)
	s.SetGroupCommit(false)
	base := as(uuid.NewString())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { create(t, s, base, "Patient", `{"resourceType":"Patient"}`) })
	}
	wg.Wait()
	if n := store.GroupCommits(s); n != 0 {
		t.Errorf("%d group commits with group commit off", n)
	}
}

func obsOf(patient, text string) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"text":%q},"subject":{"reference":"Patient/%s"}}`, text, patient)
}

// waitQueued waits until n writes wait in s's group commit queue.
func waitQueued(t *testing.T, s *store.Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if store.GroupQueued(s) == n {
			return
		}
	}
	t.Fatalf("%d writes queued, want %d", store.GroupQueued(s), n)
}

// TestGroupCommitBounds: a group takes at most 64 writes, and stops
// taking more once it has run for its time (a long write is not held up
// by everyone queued behind it).
func TestGroupCommitBounds(t *testing.T) {
	for _, c := range []struct {
		name    string
		run     time.Duration
		queued  int
		commits int64
	}{
		{"64 at most", time.Minute, 70, 2},
		{"for its time at most", time.Nanosecond, 5, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storetest.OpenSQLite(t)
			store.SetGroupRun(s, c.run)
			base := as(uuid.NewString())
			release := holdWriter(t, s)
			before := store.GroupCommits(s)
			var wg sync.WaitGroup
			for range c.queued {
				wg.Go(func() { create(t, s, base, "Patient", `{"resourceType":"Patient"}`) })
			}
			waitQueued(t, s, c.queued-1) // the first leads, waiting for the writer
			release()
			wg.Wait()
			if n := store.GroupCommits(s) - before; n != c.commits {
				t.Errorf("%d commits, want %d", n, c.commits)
			}
		})
	}
}

// holdWriter holds s's writer connection (SQLite's only one) until the
// returned release: a write that comes leads, waiting for it, and the
// writes after it queue.
func holdWriter(t *testing.T, s *store.Store) (release func()) {
	t.Helper()
	held, err := s.WriterDB().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { held.Commit() }) }
	t.Cleanup(release) // a test that failed while holding must not hang its cleanups
	return release
}

// waitLeading waits until a write leads s's groups with none queued.
func waitLeading(t *testing.T, s *store.Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if store.GroupLeading(s) && store.GroupQueued(s) == 0 {
			return
		}
	}
	t.Fatal("no write leads")
}
