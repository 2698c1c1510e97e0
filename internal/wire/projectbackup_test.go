package wire_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProjectBackupOverHTTP: a super admin downloads a project's encrypted
// backup and restores it as a copy through the admin API; the owner then
// signs into the copy and finds the patient under a new id with its
// observation following it. Nobody else may back up or restore; a damaged
// or wrongly keyed backup, or one over an existing project, writes
// nothing; after the project's erasure its old backups no longer open.
func TestProjectBackupOverHTTP(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		owner, projectID := registerOwner(t, srv, "backup-owner@example.com", "Backed Up")
		other, _ := registerOwner(t, srv, "backup-other@example.com", "Other")
		bearer := "Bearer " + owner
		_, patient := postJSON(t, srv, "/fhir/R4/Patient", bearer, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Copied"}}})
		pid := patient["id"].(string)
		postJSON(t, srv, "/fhir/R4/Observation", bearer, map[string]any{"resourceType": "Observation", "status": "final",
			"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/" + pid}})
		root := "Bearer " + signIn(t, srv, "admin@example.com", adminPassword)["access_token"].(string)

		for _, c := range []struct {
			name, authz, project string
			want                 int
		}{
			{"anonymous", "", projectID, 401},
			{"the project's own admin", bearer, projectID, 403},
			{"another project's admin", "Bearer " + other, projectID, 403},
			{"a project that does not exist", root, "5e7d1c1e-0000-4000-8000-000000000000", 404},
		} {
			if status, _ := download(t, srv, c.authz, c.project); status != c.want {
				t.Errorf("backup by %s: %d, want %d", c.name, status, c.want)
			}
		}
		status, backup := download(t, srv, root, projectID)
		if status != 200 || !bytes.HasPrefix(backup, []byte("ward-project-backup/1 project="+projectID+"\n")) || bytes.Contains(backup, []byte("Copied")) {
			t.Fatalf("the super admin's backup: %d, %d bytes, want an encrypted backup", status, len(backup))
		}

		damaged := bytes.Clone(backup)
		damaged[len(damaged)-10] ^= 1
		for _, c := range []struct {
			name, authz, query, key string
			body                    []byte
			want                    int
		}{
			{"by the project's own admin", bearer, "?asNewProject=true", "", backup, 403},
			{"over the existing project", root, "", "", backup, 409},
			{"damaged", root, "?asNewProject=true", "", damaged, 400},
			{"truncated", root, "?asNewProject=true", "", backup[:len(backup)/2], 400},
			{"not a backup", root, "?asNewProject=true", "", []byte("hello"), 400},
			{"with a key that is not one", root, "?asNewProject=true", "AGE-SECRET-KEY-1NOPE", backup, 400},
			{"with both a project and asNewProject", root, "?asNewProject=true&project=x", "", backup, 400},
		} {
			if status, out := restore(t, srv, c.authz, c.query, c.key, c.body); status != c.want {
				t.Errorf("restore %s: %d %v, want %d", c.name, status, out, c.want)
			}
		}
		if n := countRows(t, s, "Patient", "Copied"); n != 1 {
			t.Fatalf("%d Patients after the refused restores, want 1", n)
		}

		status, out := restore(t, srv, root, "?asNewProject=true", "", backup)
		copyID, _ := out["project"].(string)
		if status != 201 || copyID == "" || copyID == projectID || out["from"] != projectID {
			t.Fatalf("restore as a new project: %d %v", status, out)
		}
		// The owner's membership came with the copy: the owner signs in to it.
		code := loginTo(t, srv, "backup-owner@example.com", "owner-password-1", copyID)
		inCopy := "Bearer " + exchangeCode(t, srv, code)
		_, found := call(t, srv, "GET", "/fhir/R4/Observation?_include=Observation:subject", inCopy, "", "")
		if body := fmt.Sprint(found); strings.Contains(body, pid) || !strings.Contains(body, "Copied") || strings.Count(body, "resourceType:Observation") != 1 {
			t.Errorf("the copy as its owner sees it: %v", found)
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient/"+pid, inCopy, "", ""); status != 404 {
			t.Errorf("the original's patient read from the copy: %d, want 404", status)
		}

		// Crypto-shredding: after the erasure the server no longer opens
		// the project's old backups.
		expungeAndWait(t, srv, "/fhir/R4/Project/"+projectID+"/$expunge?everything=true", root)
		if status, out := restore(t, srv, root, "", "", backup); status != 400 || !strings.Contains(fmt.Sprint(out), "no backup key") {
			t.Errorf("restoring the erased project's backup: %d %v, want 400 naming the missing key", status, out)
		}
	})
}

// download GETs project's backup.
func download(t *testing.T, srv *httptest.Server, authz, project string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/admin/projects/"+project+"/backup", nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// restore POSTs a backup to the admin API.
func restore(t *testing.T, srv *httptest.Server, authz, query, key string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/admin/projects/restore"+query, bytes.NewReader(body))
	req.Header.Set("Authorization", authz)
	req.Header.Set("Content-Type", "application/octet-stream")
	if key != "" {
		req.Header.Set("X-Ward-Backup-Key", key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

// loginTo signs a user in to one project and returns the login answer.
func loginTo(t *testing.T, srv *httptest.Server, email, password, project string) map[string]any {
	t.Helper()
	status, login := postJSON(t, srv, "/auth/login", "", map[string]any{"email": email, "password": password,
		"projectId": project, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain"})
	if status != 200 {
		t.Fatalf("login to %s: %d %v", project, status, login)
	}
	return login
}

// countRows counts the stored resources of typ whose content holds text,
// in every project.
func countRows(t *testing.T, s *store.Store, typ, text string) int {
	t.Helper()
	var n int
	err := s.DB().QueryRow(s.Dialect().Rebind(`SELECT COUNT(*) FROM resources WHERE resource_type = ? AND content LIKE ?`), typ, "%"+text+"%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
