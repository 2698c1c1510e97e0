package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkAuditAppendPaths times the audit committer's append of one
// batch on PostgreSQL both ways in one run, alternating every iteration
// so both see the same machine: in the database (ward_audit_append, one
// autocommit statement) and in Go (BEGIN, lock, head, two INSERTs,
// COMMIT). Each reports its mean time per batch.
// Run: go test -run '^$' -bench AuditAppendPaths -benchtime 300x ./store/
func BenchmarkAuditAppendPaths(b *testing.B) {
	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := storetest.OpenPostgres(b)
			if !s.AuditInSQL() {
				b.Skip("the database links audit batches in Go (Citus)")
			}
			project := uuid.NewString()
			content := []byte(`{"resourceType":"AuditEvent","type":{"code":"rest"},"outcome":"0","agent":[{"who":{"reference":"Practitioner/p1"}}],"entity":[{"what":{"reference":"Patient/p1"}}]}`)
			contents := make([][]byte, size)
			for i := range contents {
				contents[i] = content
			}
			var spent [2]time.Duration // SQL, Go
			b.ResetTimer()
			for i := range b.N {
				for _, inSQL := range []bool{i%2 == 0, i%2 != 0} {
					s.SetAuditInSQL(inSQL)
					ids := make([]string, size)
					for j := range ids {
						ids[j] = uuid.NewString()
					}
					start := time.Now()
					if _, err := store.AppendAuditContents(s, project, ids, contents); err != nil {
						b.Fatal(err)
					}
					if inSQL {
						spent[0] += time.Since(start)
					} else {
						spent[1] += time.Since(start)
					}
				}
			}
			b.ReportMetric(float64(spent[0].Microseconds())/float64(b.N), "sql-µs/batch")
			b.ReportMetric(float64(spent[1].Microseconds())/float64(b.N), "go-µs/batch")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "go/sql")
		})
	}
}
