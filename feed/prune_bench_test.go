package feed_test

import (
	"context"
	"testing"
	"time"

	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkOutboxPrune is the pruning loop's cost (docs/benchmarks.md):
// one Prune deleting 100,000 rows every cursor has passed, in batches of
// 10,000 (rows/s), and one Prune with nothing to delete (idle-ms: its
// reads of the outbox's bounds and the cursors, every -outbox-prune-every).
// The rows are inserted directly, as the outbox holds them.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench OutboxPrune -benchtime 3x ./feed/
func BenchmarkOutboxPrune(b *testing.B) {
	const rows = 100_000
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			ctx := context.Background()
			p := &feed.Pruner{Source: s}
			var deleting, idle time.Duration
			var deleted int64
			for range b.N {
				b.StopTimer()
				last := fillOutbox(b, s, rows)
				if err := s.SetOutboxCursor(ctx, "bench", last); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				began := time.Now()
				got, err := p.Prune(ctx)
				if err != nil || got.Deleted < rows-1 { // the highest row stays
					b.Fatalf("pruned %+v, %v; want %d rows", got, err, rows)
				}
				deleted += got.Deleted
				deleting += time.Since(began)
				began = time.Now()
				if _, err := p.Prune(ctx); err != nil {
					b.Fatal(err)
				}
				idle += time.Since(began)
			}
			b.ReportMetric(float64(deleted)/deleting.Seconds(), "rows/s")
			b.ReportMetric(float64(idle.Microseconds())/1000/float64(b.N), "idle-ms")
		})
	}
}

// fillOutbox appends n rows after the highest and returns the new highest.
func fillOutbox(b *testing.B, s *store.Store, n int) int64 {
	b.Helper()
	var err error
	if s.Dialect().Name() == "postgres" {
		_, err = s.WriterDB().Exec(`INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)
			SELECT 'p', nextval('outbox_next_seq'), 'Observation', 'o' || g, 'v', 'create', 0, 'Patient/x' FROM generate_series(1, $1) AS g`, n)
	} else {
		_, err = s.WriterDB().Exec(`WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
			INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)
			SELECT 'p', (SELECT COALESCE(MAX(seq), 0) FROM outbox) + i, 'Observation', 'o' || i, 'v', 'create', 0, 'Patient/x' FROM g`, n)
	}
	if err != nil {
		b.Fatal(err)
	}
	_, last, err := s.OutboxBounds(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	return last
}
