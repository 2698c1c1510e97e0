package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// retryCounter counts the store's retried and abandoned transactions.
type retryCounter struct {
	slog.Handler
	retried, gaveUp *atomic.Int64
}

func (c retryCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c retryCounter) Handle(_ context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "store: transaction retried"):
		c.retried.Add(1)
	case strings.HasPrefix(r.Message, "store: transaction given up"):
		c.gaveUp.Add(1)
	}
	return nil
}

// BenchmarkHotPatientTransactions: transactions of two Patient updates on
// PostgreSQL, 8 at a time. disjoint: each goroutine its own two patients;
// hot-locked: all the same two, half in the opposite order, rows locked
// first in one order (what a transaction bundle does); hot-unlocked: the
// same without the lock, so deadlocks are left to the retry.
func BenchmarkHotPatientTransactions(b *testing.B) {
	for _, mode := range []string{"disjoint", "hot-locked", "hot-unlocked"} {
		b.Run(mode, func(b *testing.B) {
			url, schema := storetest.PostgresSchema(b)
			var retried, gaveUp atomic.Int64
			s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 16,
				Logger: slog.New(retryCounter{retried: &retried, gaveUp: &gaveUp})})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := as(uuid.NewString())
			hot := [2]string{create(b, s, ctx, "Patient", `{"resourceType":"Patient"}`).ID, create(b, s, ctx, "Patient", `{"resourceType":"Patient"}`).ID}
			var worker, failed atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := worker.Add(1)
				pair := hot
				if mode == "disjoint" {
					pair = [2]string{create(b, s, ctx, "Patient", `{"resourceType":"Patient"}`).ID, create(b, s, ctx, "Patient", `{"resourceType":"Patient"}`).ID}
				} else if w%2 == 1 {
					pair = [2]string{hot[1], hot[0]}
				}
				for i := 0; pb.Next(); i++ {
					if err := updatePair(ctx, s, pair, mode == "hot-locked", fmt.Sprintf("w%d-%d", w, i)); err != nil {
						if ward.ErrorCode(err) != ward.ECONFLICT {
							b.Error(err)
						}
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(retried.Load())/float64(b.N), "retries/op")
			b.ReportMetric(float64(failed.Load())/float64(b.N), "409s/op")
		})
	}
}

// updatePair writes mark into both patients of pair in one transaction.
func updatePair(ctx context.Context, s *store.Store, pair [2]string, lock bool, mark string) error {
	return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		if lock {
			if err := tx.(interface {
				Lock(context.Context, ...string) error
			}).Lock(ctx, "Patient/"+pair[0], "Patient/"+pair[1]); err != nil {
				return err
			}
		}
		for _, id := range pair {
			body := `{"resourceType":"Patient","id":"` + id + `","name":[{"given":["` + mark + `"]}]}`
			if _, _, err := tx.Update(ctx, "Patient", id, []byte(body), ""); err != nil {
				return err
			}
		}
		return nil
	})
}
