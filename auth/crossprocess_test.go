package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// Two Ward processes on one PostgreSQL schema: an identity write through
// one (a policy change, a revoked login) reaches the other's caller cache
// by NOTIFY, so its next request no longer uses the stale grant.
func TestIdentityWritesReachOtherProcesses(t *testing.T) {
	stA := storetest.OpenPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var schema string
	if err := stA.DB().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	stB, err := postgres.Open(ctx, os.Getenv(storetest.PostgresURLEnv), postgres.Options{SearchPath: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()

	f := newTokFixture(t, stA) // process A writes
	stA.OnCommit(func(_ context.Context, w []*ward.Resource) { f.s.Invalidate(w) })
	b := New(stB, f.s.cfg) // process B serves
	go postgres.Listen(ctx, stB, b.Invalidate, nil)
	time.Sleep(200 * time.Millisecond) // LISTEN registered before the writes below

	pol, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", "", map[string]any{
		"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}}})
	if err != nil {
		t.Fatal(err)
	}
	setMembership(t, f, func(m map[string]any) { m["accessPolicy"] = map[string]any{"reference": pol.Reference()} })
	tok := f.accessToken(t)["access_token"].(string)
	authB := func() (*ward.Principal, error) {
		f.authenticate(tok) // keeps A's own cache warm too
		return b.Authenticate(authRequest(tok))
	}
	if p, err := authB(); err != nil || len(p.Policy.RulesFor("Observation", ward.InteractionRead)) != 0 {
		t.Fatalf("B before the change: %+v %v, want Patient only", p, err)
	}

	var stored map[string]any
	f.s.readJSON(ctx, "AccessPolicy", pol.ID, &stored)
	stored["resource"] = []any{map[string]any{"resourceType": "Patient"}, map[string]any{"resourceType": "Observation"}}
	if _, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", pol.ID, stored); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B sees the widened policy", func() bool {
		p, err := authB()
		return err == nil && len(p.Policy.RulesFor("Observation", ward.InteractionRead)) == 1
	})

	_, claims := claimsOf(t, tok)
	var login map[string]any
	f.s.readJSON(ctx, "Login", claims["login_id"].(string), &login)
	login["revoked"] = true
	if _, err := f.s.writeSystem(ctx, ward.SystemProjectID, "Login", claims["login_id"].(string), login); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B refuses the revoked login", func() bool {
		_, err := b.Authenticate(authRequest(tok))
		return ward.ErrorCode(err) == ward.EUNAUTHORIZED
	})
}

// eventually waits for a NOTIFY to arrive (milliseconds; 3 s at most).
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func authRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
