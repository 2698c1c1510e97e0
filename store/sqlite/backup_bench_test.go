package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqlite"
)

// BenchmarkBackupUnderWrites is the whole-server backup figure of
// docs/benchmarks.md: a database of WARD_BENCH_BACKUP_RESOURCES resources
// (20000 unless set; one Patient to ten Observations, synchronous=FULL as
// ward serve runs), then, in one run:
//
//   - backup-idle-s: sqlite.Backup with no writes;
//   - writes/s-alone: single-resource creates (one per transaction, from
//     WARD_BENCH_BACKUP_WRITERS goroutines, 4 unless set) for as long as
//     that backup took, at least 3 s, without a backup;
//   - backup-s, backup-MB/s: sqlite.Backup while those writes go on;
//   - writes/s-during: the creates acknowledged while that backup ran;
//   - x-alone: writes/s-during / writes/s-alone (1 = the backup costs the
//     writers nothing).
//
// The copy goes next to the database unless WARD_BENCH_BACKUP_OUT_DIR
// names another directory.
//
// With -benchtime Nx each figure is the mean of N rounds on one database.
//
// Run: WARD_BENCH_BACKUP_RESOURCES=200000 go test -run '^$' -bench BackupUnderWrites -benchtime 1x -timeout 30m ./store/sqlite/
func BenchmarkBackupUnderWrites(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("WARD_BENCH_BACKUP_RESOURCES")); err == nil && v > 0 {
		n = v
	}
	writers := 4
	if v, err := strconv.Atoi(os.Getenv("WARD_BENCH_BACKUP_WRITERS")); err == nil && v > 0 {
		writers = v
	}
	dir := b.TempDir()
	dbPath := filepath.Join(dir, "ward.db")
	s, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Synchronous: "FULL"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := asProject("bench")
	start := time.Now()
	fillBackupBench(b, s, ctx, n)
	b.Logf("filled %d resources in %s", n, time.Since(start).Round(time.Millisecond))
	// A checkpoint, so the database file holds the data as a server's would.
	if _, err := s.WriterDB().Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("database: %.1f MB", float64(fi.Size())/1e6)

	rng := rand.New(rand.NewPCG(7, 8))
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i], _ = json.Marshal(synth.Observation(rng, "Patient/00000000-0000-4000-8000-000000000000"))
	}
	// writeLoad creates resources one per transaction until stop is closed,
	// counting acknowledgements in acked.
	writeLoad := func(acked *atomic.Int64, stop <-chan struct{}) (wait func()) {
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; ; i += writers {
					select {
					case <-stop:
						return
					default:
					}
					err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
						_, err := tx.Create(ctx, "Observation", bodies[i%len(bodies)])
						return err
					})
					if err != nil {
						failed.Store(err)
						return
					}
					acked.Add(1)
				}
			}()
		}
		return func() {
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
		}
	}

	outDir := dir
	if v := os.Getenv("WARD_BENCH_BACKUP_OUT_DIR"); v != "" {
		outDir = v // the copy on another disk (or tmpfs)
	}
	var idle, during, rateAlone, rateDuring, mb float64
	b.ResetTimer()
	for i := range b.N {
		// (1) The backup alone.
		out := filepath.Join(outDir, fmt.Sprintf("idle-%d.db", i))
		t0 := time.Now()
		if err := sqlite.Backup(context.Background(), dbPath, out); err != nil {
			b.Fatal(err)
		}
		idle += time.Since(t0).Seconds()
		os.Remove(out)

		// (2) Writes alone, for as long as the backup took (≥ 3 s).
		window := max(time.Since(t0), 3*time.Second)
		var acked atomic.Int64
		stop := make(chan struct{})
		wait := writeLoad(&acked, stop)
		time.Sleep(500 * time.Millisecond) // warm up
		a0, t1 := acked.Load(), time.Now()
		time.Sleep(window)
		rateAlone += float64(acked.Load()-a0) / time.Since(t1).Seconds()

		// (3) The backup while the same writers go on.
		out = filepath.Join(outDir, fmt.Sprintf("during-%d.db", i))
		a0, t2 := acked.Load(), time.Now()
		if err := sqlite.Backup(context.Background(), dbPath, out); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t2).Seconds()
		during += took
		rateDuring += float64(acked.Load()-a0) / took
		close(stop)
		wait()
		if fo, err := os.Stat(out); err == nil {
			mb += float64(fo.Size()) / 1e6
		}
		os.Remove(out)
	}
	b.StopTimer()
	// Each figure is the mean over the b.N rounds (-benchtime Nx).
	k := float64(b.N)
	idle, during, mb, rateAlone, rateDuring = idle/k, during/k, mb/k, rateAlone/k, rateDuring/k
	b.ReportMetric(idle, "backup-idle-s")
	b.ReportMetric(during, "backup-s")
	b.ReportMetric(mb/during, "backup-MB/s")
	b.ReportMetric(mb, "copy-MB")
	b.ReportMetric(rateAlone, "writes/s-alone")
	b.ReportMetric(rateDuring, "writes/s-during")
	b.ReportMetric(rateDuring/rateAlone, "x-alone")
}

// fillBackupBench creates n resources, one Patient to ten Observations of
// theirs, 1000 to a transaction.
func fillBackupBench(b *testing.B, s *store.Store, ctx context.Context, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < n; {
		batch := min(1000, n-done)
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			var patient string
			for j := range batch {
				typ, res := "Observation", map[string]any(nil)
				if (done+j)%11 == 0 || patient == "" {
					typ, res = "Patient", synth.Patient(rng)
				} else {
					res = synth.Observation(rng, "Patient/"+patient)
				}
				body, _ := json.Marshal(res)
				r, err := tx.Create(ctx, typ, body)
				if err != nil {
					return err
				}
				if typ == "Patient" {
					patient = r.ID
				}
			}
			return nil
		})
		done += batch
		if err != nil {
			b.Fatal(err)
		}
	}
}
