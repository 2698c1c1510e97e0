package wire_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/blob/blobtest"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// heapPeak samples the Go heap (live and not yet collected objects) every
// millisecond until stop is called, and returns the peak above the heap
// at the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// TestBinaryUploadStreams: a 50 MB upload and its download never hold the
// file in memory: the heap grows by far less than the file.
func TestBinaryUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB")
	}
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			w := startBinaryWorld(t, storetest.OpenSQLite(t), kind)
			if kind == "s3" {
				// gofakes3 holds objects in memory, in this process: an
				// endpoint that drops what it is sent measures Ward and the
				// SDK alone.
				w = startBinaryWorldOn(t, storetest.OpenSQLite(t), sinkS3(t), nil)
			}
			stop := heapPeak()
			created := w.upload(t, projectA, "application/pdf", io.NopCloser(pattern(50<<20)))
			up := stop()
			var down uint64
			if kind == "dir" {
				stop = heapPeak()
				downloadInto(t, w, created["id"].(string), io.Discard)
				down = stop()
			}
			t.Logf("%s: peak heap growth %.1f MB uploading 50 MB, %.1f MB downloading", kind, float64(up)/(1<<20), float64(down)/(1<<20))
			if up > 16<<20 || down > 16<<20 {
				t.Errorf("%s: the heap grew by %d MB (upload), %d MB (download) for a 50 MB file: it is buffered", kind, up>>20, down>>20)
			}
		})
	}
}

// sinkS3 is a bucket whose endpoint accepts every PutObject and keeps
// nothing.
func sinkS3(t testing.TB) blob.Store {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"sink"`)
	}))
	t.Cleanup(srv.Close)
	s, err := blob.NewS3(context.Background(), blob.S3Config{Bucket: "sink", Endpoint: srv.URL, PathStyle: true, AccessKey: "k", SecretKey: "s", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// downloadInto streams Binary/id's bytes into dst.
func downloadInto(t testing.TB, w *binaryWorld, id string, dst io.Writer) {
	t.Helper()
	resp, err := w.get("/fhir/R4/Binary/"+id, projectA)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBinary: upload (streamed, no Content-Length) and download of a
// 1 MB and a 50 MB file through the whole HTTP stack, on each engine and
// blob store (S3: the in-process gofakes3 fake, in memory); MB/s, and the
// peak Go heap growth during one upload (sampled every millisecond).
// gofakes3 keeps its objects in this process's heap, so the s3 uploads'
// peak counts the fake's copy; s3-sink uploads to an endpoint that drops
// the bytes and measures Ward and the SDK alone.
// Run: WARD_TEST_POSTGRES_URL=… go test ./internal/wire/ -run XXX -bench 'Binary$' -benchtime 5x
func BenchmarkBinary(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}}
	if os.Getenv(storetest.PostgresURLEnv) == "" {
		engines = engines[:1]
	}
	for _, eng := range engines {
		for _, kind := range blobtest.Kinds {
			for _, size := range []struct {
				name string
				n    int64
			}{{"1MB", 1 << 20}, {"50MB", 50 << 20}} {
				b.Run(eng.name+"/"+kind+"/upload/"+size.name, func(b *testing.B) {
					w := startBinaryWorld(b, eng.open(b), kind)
					b.SetBytes(size.n)
					var peak uint64
					for range b.N {
						b.StopTimer()
						stop := heapPeak() // its GC is not timed
						b.StartTimer()
						w.upload(b, projectA, "application/pdf", io.NopCloser(pattern(size.n)))
						peak = max(peak, stop())
					}
					b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				})
				b.Run(eng.name+"/"+kind+"/download/"+size.name, func(b *testing.B) {
					w := startBinaryWorld(b, eng.open(b), kind)
					id := w.upload(b, projectA, "application/pdf", io.NopCloser(pattern(size.n)))["id"].(string)
					b.SetBytes(size.n)
					b.ResetTimer()
					for range b.N {
						downloadInto(b, w, id, io.Discard)
					}
				})
			}
		}
		b.Run(eng.name+"/s3-sink/upload/50MB", func(b *testing.B) {
			w := startBinaryWorldOn(b, eng.open(b), sinkS3(b), nil)
			b.SetBytes(50 << 20)
			var peak uint64
			for range b.N {
				b.StopTimer()
				stop := heapPeak()
				b.StartTimer()
				w.upload(b, projectA, "application/pdf", io.NopCloser(pattern(50<<20)))
				peak = max(peak, stop())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
