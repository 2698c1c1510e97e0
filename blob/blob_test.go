package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/blob/blobtest"
)

func TestStoresKeepWhatIsCommitted(t *testing.T) {
	ctx := context.Background()
	for _, kind := range blobtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := blobtest.New(t, kind)
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			for _, tc := range []struct {
				key  string
				data []byte
			}{
				{"p1/b1/v1", []byte("x")},
				{"p1/b1/v2", big},
				{"p1/b2/v1", nil},
				{"p2/b3/v1", []byte("other project")},
			} {
				st, err := blob.Put(ctx, s, tc.key, bytes.NewReader(tc.data), 0)
				if err != nil {
					t.Fatalf("put %s: %v", tc.key, err)
				}
				if sum := sha256.Sum256(tc.data); !bytes.Equal(st.SHA256(), sum[:]) || st.Size() != int64(len(tc.data)) {
					t.Errorf("%s: size %d, digest mismatch", tc.key, st.Size())
				}
				if got := read(t, s, tc.key); !bytes.Equal(got, tc.data) {
					t.Errorf("%s: read %d bytes, want %d", tc.key, len(got), len(tc.data))
				}
			}
			if err := s.Delete(ctx, "p1/b1"); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]bool{"p1/b1/v1": false, "p1/b1/v2": false, "p1/b2/v1": true, "p2/b3/v1": true} {
				if exists(t, s, key) != want {
					t.Errorf("after deleting p1/b1: %s exists = %v, want %v", key, !want, want)
				}
			}
			if err := s.Delete(ctx, "p1"); err != nil {
				t.Fatal(err)
			}
			if exists(t, s, "p1/b2/v1") || !exists(t, s, "p2/b3/v1") {
				t.Error("deleting project p1 must remove its blobs and keep p2's")
			}
			if err := s.Delete(ctx, "nothing-here"); err != nil {
				t.Errorf("deleting an empty prefix: %v", err)
			}
		})
	}
}

func TestStageRefusesTooLargeAndDiscards(t *testing.T) {
	ctx := context.Background()
	for _, kind := range blobtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := blobtest.New(t, kind)
			if _, err := s.Stage(ctx, strings.NewReader("12345"), 4); !errors.Is(err, blob.ErrTooLarge) {
				t.Errorf("5 bytes over a limit of 4: %v, want ErrTooLarge", err)
			}
			if _, err := s.Stage(ctx, strings.NewReader("1234"), 4); err != nil {
				t.Errorf("4 bytes at a limit of 4: %v", err)
			}
			st, err := s.Stage(ctx, strings.NewReader("dropped"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Discard(); err != nil {
				t.Fatal(err)
			}
			if err := st.Commit(ctx, "p/b/v"); err == nil || exists(t, s, "p/b/v") {
				t.Error("a discarded upload must not be committed")
			}
		})
	}
}

// TestCommitTwice: a PostgreSQL transaction retried after publishing
// publishes the same upload again under its new version's key.
func TestCommitTwice(t *testing.T) {
	ctx := context.Background()
	for _, kind := range blobtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := blobtest.New(t, kind)
			st, err := s.Stage(ctx, strings.NewReader("retried"), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Discard()
			for _, key := range []string{"p/b/v1", "p/b/v2"} {
				if err := st.Commit(ctx, key); err != nil {
					t.Fatalf("commit %s: %v", key, err)
				}
				if got := read(t, s, key); string(got) != "retried" {
					t.Errorf("%s: %q", key, got)
				}
			}
		})
	}
}

func TestBadKeysNeverLeaveTheStore(t *testing.T) {
	for _, seg := range []string{"", ".", "..", ".staging", "a/b", `a\b`, "a b"} {
		if _, err := blob.Key("p", seg); err == nil {
			t.Errorf("Key accepted segment %q", seg)
		}
	}
	s := blobtest.New(t, "dir")
	if _, err := s.Open(context.Background(), "../etc/passwd"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("open ../etc/passwd: %v, want ErrNotFound", err)
	}
}

func read(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func exists(t *testing.T, s blob.Store, key string) bool {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	rc.Close()
	return true
}
