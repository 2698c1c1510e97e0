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
		newAuditLog(t, s, store.AuditOptions{}) // audited writes link their records in their transaction
		base := as(proj)
		audited := func(ctx context.Context) context.Context {
			return ward.NewContextWithAccess(ctx, &ward.Access{Record: ward.AuditRecord{RequestID: uuid.NewString()}})
		}
		patient := create(t, s, audited(base), "Patient", `{"resourceType":"Patient"}`)
		startSeq := lastSeq(t, s)
		sqlite := s.Dialect().Name() == "sqlite"

		// The holder keeps the writer busy until every member is queued.
		release := make(chan struct{})
		holding := make(chan struct{})
		holder := make(chan error, 1)
		var held *ward.Resource
		go func() {
			holder <- s.Write(audited(base), func(ctx context.Context, tx ward.ResourceTx) error {
				close(holding)
				<-release
				var err error
				held, err = tx.Create(ctx, "Observation", obsOf(patient.ID, "held"))
				return err
			})
		}()
		<-holding

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
			waitQueued(t, s, len(members))
			go func() {
				goneErr <- s.Write(gone, func(ctx context.Context, tx ward.ResourceTx) error {
					goneWrote = true
					_, err := tx.Create(ctx, "Observation", obsOf(patient.ID, "gone"))
					return err
				})
			}()
			waitQueued(t, s, len(members)+1)
			leave()
			if err := <-goneErr; !errors.Is(err, context.Canceled) {
				t.Errorf("a write whose caller left while queued: %v, want context.Canceled", err)
			}
			if n := store.GroupQueued(s); n != len(members) {
				t.Errorf("%d writes queued after the caller left, want %d", n, len(members))
			}
		} else {
			leave()
			time.Sleep(50 * time.Millisecond) // PostgreSQL: the members run beside the holder
		}
		commitsBefore := store.GroupCommits(s)
		close(release)
		if err := <-holder; err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if sqlite {
			if n := store.GroupCommits(s) - commitsBefore; n != 2 {
				t.Errorf("%d commits for the holder and %d queued writes, want 2 (one for the group)", n, len(members))
			}
			if goneWrote {
				t.Error("a write dropped from the queue ran")
			}
		}

		wantChanges := map[string]bool{"Observation/" + held.ID: true}
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
		if len(res.Matches) != 5 { // held and c1-c4; not the panicked member's
			t.Errorf("%d Observations of the patient, want 5", len(res.Matches))
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
		// The patient's create, the holder's and the 5 members'.
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 7 {
			t.Errorf("audit chain = %+v %v, want 7 links OK", v, err)
		}
	})
}

// TestGroupCommitKeepsACallerThatLeftAfterItRan: a member whose caller
// goes away while it runs in a group still commits, and is answered as
// committed (SQLite: an interrupted statement could roll back the other
// members' writes with its own). A lone write keeps its context.
func TestGroupCommitKeepsACallerThatLeftAfterItRan(t *testing.T) {
	s := storetest.OpenSQLite(t)
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

	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	results := make(chan error, 2)
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
	go func() { results <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { return nil }) }()
	waitQueued(t, s, 2)
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
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
	base := as(uuid.NewString())
	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
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
	waitQueued(t, s, 1)
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
	waitQueued(t, s, 1+len(kept))
	before := store.GroupCommits(s)
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
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
	if n := store.GroupCommits(s) - before; n != 2 {
		t.Errorf("%d commits, want 2 (the holder's, the group's)", n)
	}
}

// TestGroupCommitSurvivesAGoexit: a member's fn that ends the goroutine
// running the group (runtime.Goexit, as a test's t.FailNow does) leaves
// nothing of the group committed, answers the other members, and the
// next write still commits.
func TestGroupCommitSurvivesAGoexit(t *testing.T) {
	s := storetest.OpenSQLite(t)
	base := as(uuid.NewString())
	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
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
	waitQueued(t, s, 1)
	answers := make(chan error, 2)
	go func() {
		answers <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { runtime.Goexit(); return nil })
	}()
	waitQueued(t, s, 2)
	go func() { answers <- s.Write(base, func(ctx context.Context, tx ward.ResourceTx) error { return nil }) }()
	waitQueued(t, s, 3)
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if returned := <-leaderGone; returned {
		t.Error("the goroutine whose group a member ended returned")
	}
	for range 2 {
		if err := <-answers; err == nil {
			t.Error("a member of the abandoned group was answered as committed")
		}
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
