package wire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// startAuditedAuthServer is startAuthServer with the store's audit log
// behind both identity and the FHIR API, as ward serve wires them.
func startAuditedAuthServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	trail := s.NewAuditLog(store.AuditOptions{})
	t.Cleanup(trail.Close)
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger, Audit: trail})
	if err := id.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Audit: trail}, logger)
	return srv
}

// failedLogin posts a wrong password and returns the request id.
func failedLogin(t *testing.T, srv *httptest.Server, email, projectID string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"email": email, "password": "definitely-wrong-password", "projectId": projectID})
	resp, err := srv.Client().Post(srv.URL+"/auth/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusBadRequest || id == "" {
		t.Fatalf("wrong password: %d, request id %q", resp.StatusCode, id)
	}
	return id
}

// auditEvents is the raw AuditEvent search of a bearer token's project.
func auditEvents(t *testing.T, srv *httptest.Server, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/fhir/R4/AuditEvent?_count=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("AuditEvent search: %d %s", resp.StatusCode, raw)
	}
	return string(raw)
}

// TestFailedLoginInTheRightTrail: through the store's real audit log, a
// project-scoped user's failed login is an AuditEvent of their project,
// with its reason and never the password; another project's user failing
// to sign into that project is not in its trail; and the other project's
// admin sees neither.
func TestFailedLoginInTheRightTrail(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		tokenA, projectA := registerOwner(t, srv, "owner-a@example.com", "Audit A")
		tokenB, _ := registerOwner(t, srv, "owner-b@example.com", "Audit B")
		status, out := postJSON(t, srv, "/admin/projects/"+projectA+"/invite", "Bearer "+tokenA, map[string]any{
			"resourceType": "Practitioner", "firstName": "Pam", "lastName": "Scoped", "email": "pam@example.com",
			"scope": "project", "password": "pam-real-password-1", "sendEmail": false,
		})
		if status != 200 {
			t.Fatalf("invite: %d %v", status, out)
		}

		own := failedLogin(t, srv, "pam@example.com", projectA)
		foreign := failedLogin(t, srv, "owner-b@example.com", projectA)

		trailA := auditEvents(t, srv, tokenA)
		if !strings.Contains(trailA, own) || !strings.Contains(trailA, "wrong password") {
			t.Errorf("project A's trail lacks its user's failed login %s: %s", own, trailA)
		}
		if strings.Contains(trailA, "definitely-wrong-password") {
			t.Errorf("project A's trail holds a password: %s", trailA)
		}
		if strings.Contains(trailA, foreign) {
			t.Errorf("project B's owner failing into A is in A's trail: %s", trailA)
		}
		if trailB := auditEvents(t, srv, tokenB); strings.Contains(trailB, own) || strings.Contains(trailB, foreign) {
			t.Errorf("project B's trail holds failed logins into A: %s", trailB)
		}
	})
}

// BenchmarkAuditedLogin: a password login and its code exchange (two
// audit records) with the audit trail off and on, alternated request by
// request so both see the same machine, on the engines storetest enables.
// bcrypt cost 10, as ward serve uses. Reports each side's mean and p99 and
// the ratio of their throughputs.
func BenchmarkAuditedLogin(b *testing.B) {
	engines := map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite}
	if os.Getenv("WARD_TEST_POSTGRES_URL") != "" {
		engines["postgres"] = storetest.OpenPostgres
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		if open := engines[engine]; open != nil {
			b.Run(engine, func(b *testing.B) {
				rigs := []*loginRig{newLoginRig(b, open(b), false), newLoginRig(b, open(b), true)}
				var took [2][]time.Duration
				b.ResetTimer()
				for i := range b.N {
					for side, rig := range rigs {
						start := time.Now()
						rig.login(b, i)
						took[side] = append(took[side], time.Since(start))
					}
				}
				b.StopTimer()
				off, on := meanOf(took[0]), meanOf(took[1])
				b.ReportMetric(off, "off-ms")
				b.ReportMetric(on, "on-ms")
				b.ReportMetric(p99Of(took[0]), "off-p99-ms")
				b.ReportMetric(p99Of(took[1]), "on-p99-ms")
				b.ReportMetric(off/on, "on/off-throughput")
			})
		}
	}
}

func meanOf(d []time.Duration) float64 {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return float64(sum.Microseconds()) / 1000 / float64(len(d))
}

func p99Of(d []time.Duration) float64 {
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[len(d)*99/100].Microseconds()) / 1000
}

// loginRig is a fully wired server with accounts to sign in.
type loginRig struct {
	h        http.Handler
	accounts int
}

func newLoginRig(b *testing.B, s *store.Store, audit bool) *loginRig {
	srv := httptest.NewServer(nil)
	b.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: 10, Logger: logger}
	wc := wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody}
	if audit {
		trail := s.NewAuditLog(store.AuditOptions{})
		b.Cleanup(trail.Close)
		cfg.Audit, wc.Audit = trail, trail
	}
	id := auth.New(s, cfg)
	if err := id.Seed(context.Background()); err != nil {
		b.Fatal(err)
	}
	wc.Auth = id
	rig := &loginRig{h: wire.Handler(s, wc, logger), accounts: b.N/5 + 1}
	srv.Config.Handler = rig.h
	// Several accounts and addresses: the login limiter must never answer.
	for i := range rig.accounts {
		registerOwner(b, srv, fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("Clinic %d", i))
	}
	return rig
}

func (rig *loginRig) serve(i int, path, contentType, body string) (int, map[string]any) {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
	w := httptest.NewRecorder()
	rig.h.ServeHTTP(w, r)
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

// login signs account i in and exchanges its code.
func (rig *loginRig) login(b *testing.B, i int) {
	body, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("user%d@example.com", i%rig.accounts), "password": "owner-password-1",
		"scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain"})
	status, login := rig.serve(i, "/auth/login", "application/fhir+json", string(body))
	if status != 200 {
		b.Fatalf("login %d: %d %v", i, status, login)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {login["code"].(string)}, "code_verifier": {"xyz"}}
	if status, reply := rig.serve(i, "/oauth2/token", "application/x-www-form-urlencoded", form.Encode()); status != 200 {
		b.Fatalf("token %d: %d %v", i, status, reply)
	}
}

// TestAdminWritesRecordedInTheirTransaction: through the real audit log,
// an admin's invite creates resources whose records are in the admin's
// project, name the admin as requestor and carry the invite's request id,
// beside the invite's own identity record.
func TestAdminWritesRecordedInTheirTransaction(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		owner, projectID := registerOwner(t, srv, "admin-writes@example.com", "Admin Writes")
		status, m := postJSON(t, srv, "/admin/projects/"+projectID+"/invite", "Bearer "+owner, map[string]any{
			"resourceType": "Practitioner", "firstName": "Ivy", "lastName": "Invited", "email": "ivy@example.com", "sendEmail": false,
		})
		if status != 200 {
			t.Fatalf("invite: %d %v", status, m)
		}
		membership, _ := m["id"].(string)
		var trail struct {
			Entry []struct {
				Resource struct {
					Action  string
					Subtype []struct{ Code string }
					Agent   []struct {
						Requestor bool
						Who       struct{ Reference string }
					}
					Meta struct{ Project string }
				}
			}
		}
		req, _ := http.NewRequest("GET", srv.URL+"/fhir/R4/AuditEvent?entity=ProjectMembership/"+membership, nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		req.Header.Set("X-Medplum", "extended")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&trail)
		resp.Body.Close()
		var creates int
		for _, e := range trail.Entry {
			ev := e.Resource
			if ev.Action != "C" || len(ev.Subtype) == 0 || ev.Subtype[0].Code != "create" {
				continue
			}
			creates++
			if ev.Meta.Project != projectID {
				t.Errorf("the membership's create is recorded in project %q, want the admin's %s", ev.Meta.Project, projectID)
			}
			if i := slices.IndexFunc(ev.Agent, func(a struct {
				Requestor bool
				Who       struct{ Reference string }
			}) bool {
				return a.Requestor
			}); i < 0 || !strings.HasPrefix(ev.Agent[i].Who.Reference, "Practitioner/") {
				t.Errorf("the create's requestor is %+v, want the inviting admin", ev.Agent)
			}
		}
		if creates != 1 {
			t.Errorf("%d create records of ProjectMembership/%s, want 1", creates, membership)
		}
	})
}
