// Package blobtest gives tests the blob stores Ward runs on: a directory
// and an S3 bucket served in-process by gofakes3.
package blobtest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/wardhealth/ward/blob"
)

// Kinds names the stores Each runs on.
var Kinds = []string{"dir", "s3"}

// New returns a fresh store of kind ("dir" or "s3"), removed when t ends.
func New(t testing.TB, kind string) blob.Store {
	t.Helper()
	switch kind {
	case "dir":
		d, err := blob.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	case "s3":
		return NewS3(t)
	}
	t.Fatalf("unknown blob store %q", kind)
	return nil
}

// NewS3 returns a store over a bucket of an in-process S3 fake.
func NewS3(t testing.TB) *blob.S3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("ward"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := blob.NewS3(context.Background(), blob.S3Config{
		Bucket: "ward", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		AccessKey: "test", SecretKey: "test", Prefix: "blobs/", TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
