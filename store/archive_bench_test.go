package store_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// BenchmarkProjectArchive archives a project of WARD_ARCHIVE_RESOURCES
// Observations (default 20,000, each with two versions) and restores it
// on an empty database of the same engine, then as a copy next to the
// original (every id renamed): resources/s each way, and the archive's
// bytes per resource.
// Run: WARD_ARCHIVE_RESOURCES=100000 WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench ProjectArchive -benchtime 1x -timeout 1h ./store/
func BenchmarkProjectArchive(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("WARD_ARCHIVE_RESOURCES")); err == nil && v > 0 {
		n = v
	}
	for _, be := range auditBackends {
		b.Run(be.name, func(b *testing.B) {
			from := be.open(b)
			proj := uuid.NewString()
			create(b, from, sysCtx(), "Project", fmt.Sprintf(`{"resourceType":"Project","id":%q,"meta":{"project":%q},"name":"Bench"}`, proj, proj))
			seedCompartment(b, from, proj, n)
			var export, restore, copied time.Duration
			var size int64
			for range b.N {
				f, err := os.CreateTemp(b.TempDir(), "archive")
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := from.ExportProject(sysCtx(), proj, f); err != nil {
					b.Fatal(err)
				}
				export += time.Since(start)
				size, _ = f.Seek(0, io.SeekCurrent)
				f.Seek(0, io.SeekStart)
				to := be.open(b)
				start = time.Now()
				if _, err := to.ImportProject(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), f, store.ImportOptions{}); err != nil {
					b.Fatal(err)
				}
				restore += time.Since(start)
				f.Seek(0, io.SeekStart)
				start = time.Now()
				if _, err := from.ImportProject(sysCtx(), f, store.ImportOptions{AsProject: uuid.NewString()}); err != nil {
					b.Fatal(err)
				}
				copied += time.Since(start)
				f.Close()
			}
			resources := float64(n+2) * float64(b.N)
			b.ReportMetric(resources/export.Seconds(), "exported/s")
			b.ReportMetric(resources/restore.Seconds(), "restored/s")
			b.ReportMetric(resources/copied.Seconds(), "copied/s")
			b.ReportMetric(float64(size)/float64(n+2), "bytes/resource")
		})
	}
}
