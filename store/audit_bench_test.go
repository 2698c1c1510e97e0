package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqlite"
	"github.com/wardhealth/ward/store/storetest"
)

// auditBackends are the engines of the audit benchmarks: SQLite with
// synchronous=FULL, as ward serve runs it, since what group commit saves
// is fsyncs (storetest's SQLite turns them off).
var auditBackends = []struct {
	name string
	open func(testing.TB) *store.Store
}{{"sqlite-full", openSQLiteFull}, {"postgres", storetest.OpenPostgres}}

func openSQLiteFull(tb testing.TB) *store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ward.db"), sqlite.Options{Synchronous: "FULL"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAuditRecord measures Record (durable on return) with 1 and 32
// concurrent callers: records/s and commits per record.
// Run: go test -run '^$' -bench AuditRecord -benchtime 2000x ./store/
func BenchmarkAuditRecord(b *testing.B) {
	for _, be := range auditBackends {
		for _, callers := range []int{1, 32} {
			b.Run(be.name+"/callers="+itoa(callers), func(b *testing.B) {
				s := be.open(b)
				l := s.NewAuditLog(store.AuditOptions{})
				defer l.Close()
				project := uuid.NewString()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := c; i < b.N; i += callers {
							if err := l.Record(context.Background(), readRecord(project, uuid.NewString(), uuid.NewString())); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
				b.ReportMetric(float64(l.Commits())/float64(b.N), "commits/record")
				l.Flush(context.Background())
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "projected/s")
			})
		}
	}
}

// BenchmarkVerifyAudit measures VerifyAudit over a chain of 10 000
// records: records checked per second.
// Run: go test -run '^$' -bench VerifyAudit ./store/
func BenchmarkVerifyAudit(b *testing.B) {
	const records = 10000
	for _, be := range auditBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			l := s.NewAuditLog(store.AuditOptions{})
			project := uuid.NewString()
			var wg sync.WaitGroup
			for c := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := c; i < records; i += 50 {
						if err := l.Record(context.Background(), readRecord(project, uuid.NewString(), uuid.NewString())); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			l.Close()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				v, err := s.VerifyAudit(sysCtx(), project)
				if err != nil || !v.OK || v.Checked != records {
					b.Fatalf("%+v %v", v, err)
				}
			}
			b.ReportMetric(float64(records*b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}
