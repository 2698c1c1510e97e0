package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/blob/blobtest"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProjectArchiveCarriesBinaryBytes: a project's Binary bytes, every
// version, travel in its archive and come back into the blob store when it
// is restored, as itself or as a copy under new ids; damaged bytes are
// refused and leave nothing behind.
func TestProjectArchiveCarriesBinaryBytes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, kind := range blobtest.Kinds {
			t.Run(kind, func(t *testing.T) {
				blobs := blobtest.New(t, kind)
				s.UseBlobs(blobs)
				proj := uuid.NewString()
				create(t, s, sysCtx(), "Project", fmt.Sprintf(`{"resourceType":"Project","id":%q,"meta":{"project":%q},"name":"Files"}`, proj, proj))
				first := sysCreate(t, s, proj, "Binary", `{"contentType":"text/plain"}`)
				putBlob(t, blobs, first, "version one")
				second, _, err := update(s, sysCtx(), "Binary", first.ID, fmt.Sprintf(`{"resourceType":"Binary","id":%q,"meta":{"project":%q},"contentType":"image/png"}`, first.ID, proj), "")
				if err != nil {
					t.Fatal(err)
				}
				second.ProjectID = proj
				putBlob(t, blobs, second, "version two, a PNG")
				inline := sysCreate(t, s, proj, "Binary", `{"contentType":"text/plain","data":"aW5saW5l"}`) // bytes in the JSON: no file

				var archive bytes.Buffer
				m, err := s.ExportProject(sysCtx(), proj, &archive)
				if err != nil {
					t.Fatal(err)
				}
				if f := m.Files["binary/"+first.ID+"/"+second.VersionID]; f.Bytes != int64(len("version two, a PNG")) || f.SHA256 == "" {
					t.Errorf("manifest entry of the second version: %+v", f)
				}
				if _, ok := m.Files["binary/"+inline.ID+"/"+inline.VersionID]; ok {
					t.Error("an inline Binary got a file")
				}

				// Damaged bytes: refused, nothing written.
				damaged := bytes.Replace(archive.Bytes(), []byte("version one"), []byte("version 0ne"), 1)
				if _, err := s.Expunge(sysCtx(), "Project", proj, true); err != nil {
					t.Fatal(err)
				}
				if _, err := s.ImportProject(sysCtx(), bytes.NewReader(damaged), store.ImportOptions{}); !errors.Is(err, store.ErrArchive) {
					t.Errorf("damaged bytes: %v, want ErrArchive", err)
				}
				if hasBlobKey(t, blobs, proj+"/"+first.ID+"/"+first.VersionID) {
					t.Error("a refused restore left bytes behind")
				}

				if _, err := s.ImportProject(sysCtx(), bytes.NewReader(archive.Bytes()), store.ImportOptions{}); err != nil {
					t.Fatal(err)
				}
				for key, want := range map[string]string{
					proj + "/" + first.ID + "/" + first.VersionID:  "version one",
					proj + "/" + first.ID + "/" + second.VersionID: "version two, a PNG",
				} {
					if got := readBlob(t, blobs, key); got != want {
						t.Errorf("restored %s: %q, want %q", key, got, want)
					}
				}

				copyProj := uuid.NewString()
				if _, err := s.ImportProject(sysCtx(), bytes.NewReader(archive.Bytes()), store.ImportOptions{AsProject: copyProj}); err != nil {
					t.Fatal(err)
				}
				n := 0
				rows, err := s.DB().Query(s.Dialect().Rebind(`SELECT id, version_id FROM resource_history WHERE project_id = ? AND resource_type = 'Binary' AND deleted = 0`), copyProj)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var id, version string
					if err := rows.Scan(&id, &version); err != nil {
						t.Fatal(err)
					}
					if id == first.ID {
						t.Error("the copy's Binary kept the original's id")
					}
					if version == inline.VersionID {
						continue
					}
					if got := readBlob(t, blobs, copyProj+"/"+id+"/"+version); got == "" {
						t.Errorf("the copy's Binary/%s/%s has no bytes", id, version)
					}
					n++
				}
				rows.Close()
				if n != 2 {
					t.Errorf("the copy holds bytes for %d Binary versions, want 2", n)
				}
			})
		}
	})
}

func putBlob(t *testing.T, s blob.Store, res *ward.Resource, data string) {
	t.Helper()
	if _, err := blob.Put(context.Background(), s, res.ProjectID+"/"+res.ID+"/"+res.VersionID, bytes.NewReader([]byte(data)), 0); err != nil {
		t.Fatal(err)
	}
}

func readBlob(t *testing.T, s blob.Store, key string) string {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	return string(data)
}

func hasBlobKey(t *testing.T, s blob.Store, key string) bool {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	} else if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	return true
}
