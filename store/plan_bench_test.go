package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// BenchmarkSearchVsSQL runs, in turn, a project admin's search through
// Store.Search and the page query it issues (Store.SearchSQL) read bare
// (prepared once, every column of every row scanned into Go values), over the MSO data
// set of BenchmarkMSO, and reports both and their ratio (x-sql: what the
// store adds to the database's own work — planning, compiling, the output
// gate). Run: go test -run '^$' -bench SearchVsSQL -benchtime 400x ./store/
func BenchmarkSearchVsSQL(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			w := loadMSO(b, s, envInt("WARD_BENCH_MSO_PATIENTS", 2000))
			for _, q := range []struct{ name, query string }{
				{"code", "code=http://loinc.org|8867-4&_count=20"},
				{"date", "date=ge2020-01-01&date=lt2020-02-01&_count=20"},
				{"date-page5", "date=ge2020-01-01&date=lt2020-02-01&_count=20&_offset=80"},
			} {
				b.Run(q.name, func(b *testing.B) {
					sq := parseObservationQuery(b, q.query)
					sq.Count--
					query, args, err := s.SearchSQL(w.admin, sq)
					if err != nil {
						b.Fatal(err)
					}
					// Prepared once, as the store's statement cache does.
					stmt, err := s.WriterDB().Prepare(query)
					if err != nil {
						b.Fatal(err)
					}
					defer stmt.Close()
					var took [2]time.Duration
					for i := 0; i < b.N; i++ {
						start := time.Now()
						if _, err := trySearch(s, w.admin, "Observation", q.query); err != nil {
							b.Fatal(err)
						}
						took[0] += time.Since(start)
						start = time.Now()
						if err := rawRows(w.admin, stmt, args); err != nil {
							b.Fatal(err)
						}
						took[1] += time.Since(start)
					}
					b.ReportMetric(float64(took[0].Microseconds())/float64(b.N), "search-µs")
					b.ReportMetric(float64(took[1].Microseconds())/float64(b.N), "sql-µs")
					b.ReportMetric(float64(took[0])/float64(max(took[1], 1)), "x-sql")
				})
			}
		})
	}
}

// rawRows runs stmt and scans every row's columns as the store does.
func rawRows(ctx context.Context, stmt *sql.Stmt, args []any) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, id, version, project, content string
		var updated int64
		if err := rows.Scan(&typ, &id, &version, &project, &updated, &content); err != nil {
			return err
		}
	}
	return rows.Err()
}
