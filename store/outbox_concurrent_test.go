package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestOutboxFollowedUnderConcurrentWrites: 16 writers create
// Observations and update a few shared Patients (each update If-Match the
// version it read, so a Patient's versions form one chain) while a
// follower reads the outbox after its cursor. The follower reads every
// committed change exactly once, in rising seq, and each Patient's
// versions in the order they were written.
func TestOutboxFollowedUnderConcurrentWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := as(uuid.NewString())
		start := lastSeq(t, s)
		var mu sync.Mutex
		step := map[string]int{} // versionId → its place in its resource's chain
		committed := map[string]bool{}
		record := func(r *ward.Resource, n int) {
			mu.Lock()
			defer mu.Unlock()
			step[r.VersionID], committed[r.Type+"/"+r.ID+"/"+r.VersionID] = n, true
		}
		var patients []string
		for range 4 {
			p := create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`)
			record(p, 0)
			patients = append(patients, p.ID)
		}

		var read []store.Change
		stop := make(chan struct{})
		followed := make(chan error, 1)
		go func() { followed <- follow(s, start, stop, &mu, &read) }()

		var writers sync.WaitGroup
		for w := range 16 {
			writers.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range 15 {
					if err := writeOne(ctx, s, rng, patients, record); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		writers.Wait()
		mu.Lock()
		want := len(committed)
		mu.Unlock()
		deadline := time.Now().Add(20 * time.Second)
		for len(readNow(&mu, &read)) < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		close(stop)
		if err := <-followed; err != nil {
			t.Fatal(err)
		}

		seen := map[string]int{}
		last := map[string]int{} // the step last read, plus one
		prev := int64(0)
		for _, c := range read {
			key := c.Type + "/" + c.ID + "/" + c.VersionID
			if c.Seq <= prev {
				t.Errorf("seq %d read after %d", c.Seq, prev)
			}
			prev = c.Seq
			if seen[key]++; seen[key] > 1 {
				t.Errorf("%s read %d times", key, seen[key])
			}
			if !committed[key] {
				t.Errorf("%s read, never committed", key)
			}
			if c.Type == "Patient" {
				n := step[c.VersionID]
				if n+1 <= last[c.ID] {
					t.Errorf("Patient/%s: version %d read after version %d", c.ID, n, last[c.ID]-1)
				}
				last[c.ID] = n + 1
			}
		}
		for key := range committed {
			if seen[key] == 0 {
				t.Errorf("%s committed, never read", key)
			}
		}
		if len(read) != want {
			t.Errorf("read %d changes, %d committed", len(read), want)
		}
	})
}

// writeOne creates an Observation or moves a Patient's chain one step on.
func writeOne(ctx context.Context, s *store.Store, rng *rand.Rand, patients []string, record func(*ward.Resource, int)) error {
	if rng.IntN(2) == 0 {
		var res *ward.Resource
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			var err error
			res, err = tx.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`))
			return err
		})
		if err == nil {
			record(res, 0)
		}
		return err
	}
	id := patients[rng.IntN(len(patients))]
	for {
		cur, err := s.Read(ctx, "Patient", id)
		if err != nil {
			return err
		}
		n := chainStep(cur.Content) + 1
		res, _, err := update(s, ctx, "Patient", id, fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"n%d"}]}`, id, n), cur.VersionID)
		if ward.ErrorCode(err) == ward.EPRECONDITION || ward.ErrorCode(err) == ward.ECONFLICT {
			continue // another writer moved it first
		}
		if err == nil {
			record(res, n)
		}
		return err
	}
}

// chainStep is the place of a Patient's version in its chain: the n of
// its family name "n<n>" (0 without one).
func chainStep(content []byte) int {
	var p struct {
		Name []struct{ Family string } `json:"name"`
	}
	n := 0
	if json.Unmarshal(content, &p) == nil && len(p.Name) > 0 {
		fmt.Sscanf(p.Name[0].Family, "n%d", &n)
	}
	return n
}

// follow reads the outbox after cursor into read until stop, as a
// follower does: small batches, the cursor moved to the last change read.
func follow(s *store.Store, cursor int64, stop <-chan struct{}, mu *sync.Mutex, read *[]store.Change) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		changes, err := s.OutboxAfter(context.Background(), cursor, 7)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		mu.Lock()
		*read = append(*read, changes...)
		mu.Unlock()
		cursor = changes[len(changes)-1].Seq
	}
}

func readNow(mu *sync.Mutex, read *[]store.Change) []store.Change {
	mu.Lock()
	defer mu.Unlock()
	return *read
}

// TestOutboxWaitsForALateCommit: a transaction that drew a seq and stays
// open keeps the reader from passing it while later seqs commit; once it
// commits it is read first, in its place; once one rolls back, the reader
// passes its seq. PostgreSQL only: SQLite's one writer cannot commit past
// an open write.
func TestOutboxWaitsForALateCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if s.Dialect().Name() != "postgres" {
			t.Skip("SQLite has one writer: no seq commits after a higher one")
		}
		ctx := as(uuid.NewString())
		for _, commit := range []bool{true, false} {
			// The highest seq, not the last a follower reaches: the first
			// round's held row is deleted, and a follower from 0 stops
			// before its gap until the horizon passes it.
			start, err := s.OutboxLast(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			held := drawAndHold(t, s)
			var later []string
			for range 3 {
				later = append(later, create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`).ID)
			}
			time.Sleep(200 * time.Millisecond) // the horizon's chance to pass it, were it wrong
			if got := readIDs(t, s, start); len(got) != 0 {
				t.Fatalf("read %v past the open transaction's seq", got)
			}
			want := later
			if commit {
				if err := held.Commit(); err != nil {
					t.Fatal(err)
				}
				want = append([]string{"held"}, later...)
			} else if err := held.Rollback(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			got := readIDs(t, s, start)
			for len(got) < len(want) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				got = readIDs(t, s, start)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("commit %v: read %v, want %v", commit, got, want)
			}
			if !commit {
				break
			}
			deleteHeld(t, s)
		}
	})
}

// drawAndHold opens a transaction that draws an outbox seq as a writer
// does (holding a transaction id first) and leaves it open.
func drawAndHold(t *testing.T, s *store.Store) *sql.Tx {
	t.Helper()
	tx, err := s.WriterDB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	if _, err := tx.Exec("SELECT pg_current_xact_id()"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)
		VALUES ('p', nextval('outbox_next_seq'), 'Patient', 'held', 'v', 'create', 0, '')`); err != nil {
		t.Fatal(err)
	}
	return tx
}

func deleteHeld(t *testing.T, s *store.Store) {
	t.Helper()
	if _, err := s.WriterDB().Exec("DELETE FROM outbox WHERE resource_id = 'held'"); err != nil {
		t.Fatal(err)
	}
}

// readIDs are the ids of the changes after cursor, read as a follower reads.
func readIDs(t *testing.T, s *store.Store, cursor int64) []string {
	t.Helper()
	var ids []string
	for {
		changes, err := s.OutboxAfter(context.Background(), cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) == 0 {
			return ids
		}
		for _, c := range changes {
			ids = append(ids, c.ID)
		}
		cursor = changes[len(changes)-1].Seq
	}
}
