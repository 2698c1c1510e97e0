package wire_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
)

// Projects the end-to-end suites act in (X-Ward-Test-Project).
const (
	projectA = "0a000000-0000-4000-8000-00000000000a"
	projectB = "0b000000-0000-4000-8000-00000000000b"
	projectC = "0c000000-0000-4000-8000-00000000000c"
)

// maxBody is the request body limit of the test server.
const maxBody = 1 << 20

// startServer serves the fully wired API over s, callers choosing their
// project with the X-Ward-Test-Project header. Against an external target
// (externalServer) there is no such header: newClient registers a project
// of its own per client instead.
func startServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	if srv := externalServer(t); srv != nil {
		return srv
	}
	srv := httptest.NewServer(nil)
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Authenticate: wire.HeaderProject}, slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError})))
	t.Cleanup(srv.Close)
	return srv
}

// testLog writes server errors (internal errors are logged with their real
// text) into the test's output, so a 500 explains itself.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fhirClient calls the API as a member of one project.
type fhirClient struct {
	t       testing.TB
	base    string // server URL, no trailing slash
	project string
	// authz, when set, is the Authorization header (identity on); the
	// test-project header is then ignored by the server.
	authz string
	// walled are strings (other projects' ids and names) no response to
	// this client may contain, unless its own request did.
	walled []string
}

// newClient is a client of project on srv. Against an external target it
// is the owner of a project registered for it (the target authenticates
// with tokens only, and the database is shared with other tests); its
// project field is then that project's id.
func newClient(t *testing.T, srv *httptest.Server, project string) fhirClient {
	t.Helper()
	if externalTarget() != "" && srv.URL == externalTarget() {
		local := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
		name := "Wire " + project[:2] + " " + local
		p := registerProject(t, srv, project[:2]+"-"+local+"@wire.example.com", name[:min(len(name), 72)]) // ASCII; at most 72
		return p.owner
	}
	return fhirClient{t: t, base: srv.URL, project: project}
}

// The suite against a running server. With WARD_WIRE_TARGET set to a base
// URL (TestFleet sets its proxy's, in front of three ward serve processes
// on one PostgreSQL), the harness starts no handler: startServer and
// startAuthServer hand back a stand-in whose URL is the target, every test
// registers projects of its own (newClient, registerProject) under
// addresses unique to this run (runEmail), and a test that needs the
// store or an in-process configuration skips itself (skipExternal). The
// target must run with -max-body 1048576 (maxBody); its super admin signs
// in with WARD_WIRE_ADMIN_EMAIL and WARD_WIRE_ADMIN_PASSWORD, and
// WARD_WIRE_ALLOWED_ORIGINS lists its -allowed-origins. Run each test once
// (leave WARD_TEST_POSTGRES_URL unset: the store a test opens goes unused).
const (
	wireTargetEnv        = "WARD_WIRE_TARGET"
	wireAdminEmailEnv    = "WARD_WIRE_ADMIN_EMAIL"
	wireAdminPasswordEnv = "WARD_WIRE_ADMIN_PASSWORD"
	wireOriginsEnv       = "WARD_WIRE_ALLOWED_ORIGINS"
)

// externalTarget is the external server's base URL, "" when the suite
// serves in-process.
func externalTarget() string { return strings.TrimSuffix(os.Getenv(wireTargetEnv), "/") }

// externalServer is a stand-in for the external target: only its URL is
// set (it was never started, so there is nothing to close, and call and
// fhirClient use http.DefaultClient). nil in-process.
func externalServer(tb testing.TB, origins ...string) *httptest.Server {
	tb.Helper()
	target := externalTarget()
	if target == "" {
		return nil
	}
	allowed := strings.Split(os.Getenv(wireOriginsEnv), ",")
	for _, o := range origins {
		if !slices.Contains(allowed, o) {
			tb.Skipf("needs the target to allow origin %s (%s=%q)", o, wireOriginsEnv, os.Getenv(wireOriginsEnv))
		}
	}
	return &httptest.Server{URL: target}
}

// skipExternal skips tb against an external target, saying why: the test
// reaches into the store or configures the handler in-process.
func skipExternal(tb testing.TB, why string) {
	tb.Helper()
	if externalTarget() != "" {
		tb.Skip("in-process only: " + why)
	}
}

// superAdmin is the seeded super admin's email and password: the
// target's when external, else the harness's seed.
func superAdmin() (email, password string) {
	if externalTarget() != "" {
		return os.Getenv(wireAdminEmailEnv), os.Getenv(wireAdminPasswordEnv)
	}
	return "admin@example.com", adminPassword
}

// runEmail is email made unique to this test process against an external
// target, whose database outlives the run (and may serve it twice):
// owner-a@example.com becomes owner-a.p1234@example.com. In-process it is
// email unchanged.
func runEmail(email string) string {
	if externalTarget() == "" {
		return email
	}
	local, domain, _ := strings.Cut(email, "@")
	return fmt.Sprintf("%s.p%d@%s", local, os.Getpid(), domain)
}

// reply is one HTTP response with its decoded JSON body (nil when not JSON).
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request; path is relative to /fhir/R4/ unless it starts with
// "/" or "http". headers are name, value pairs; a body gets Content-Type
// application/fhir+json unless headers set one.
func (c fhirClient) do(method, path, body string, headers ...string) reply {
	c.t.Helper()
	url := path
	switch {
	case strings.HasPrefix(path, "http"):
	case strings.HasPrefix(path, "/"):
		url = c.base + path
	default:
		url = c.base + "/fhir/R4/" + path
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set("X-Ward-Test-Project", c.project)
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, w := range c.walled {
		if strings.Contains(string(raw), w) && !strings.Contains(url+body, w) {
			c.t.Errorf("%s %s answered with %q of another project: %s", method, path, w, raw)
		}
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return reply{status: resp.StatusCode, header: resp.Header, body: out, raw: raw}
}

func (c fhirClient) get(path string, headers ...string) reply {
	c.t.Helper()
	return c.do("GET", path, "", headers...)
}

// mustGet fails the test unless GET path answers 200.
func (c fhirClient) mustGet(path string, headers ...string) reply {
	c.t.Helper()
	r := c.get(path, headers...)
	if r.status != 200 {
		c.t.Fatalf("GET %s as %s: %d %s", path, c.project, r.status, r.raw)
	}
	return r
}

// fixture maps the local names of testdata/fixture.json (entry.id) to the
// references the server assigned, "Type/id".
type fixture map[string]string

// loadFixture posts testdata/fixture.json as one transaction and reads
// the assigned ids from the response, whose entries follow the request's
// order.
func loadFixture(c fhirClient) fixture {
	c.t.Helper()
	data, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		c.t.Fatal(err)
	}
	var bundle struct {
		Entry []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		c.t.Fatal(err)
	}
	f := fixture{}
	if err := c.postFixture(f, bundle.Entry); err != nil {
		c.t.Fatal(err)
	}
	return f
}

// postFixture posts entries as one transaction and adds what they created to f.
func (c fhirClient) postFixture(f fixture, entries []json.RawMessage) error {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	r := c.do("POST", "", string(body))
	if r.status != 200 {
		return fmt.Errorf("loading fixture in %s: %d %s", c.project, r.status, r.raw)
	}
	results := list(r.body, "entry")
	if len(results) != len(entries) {
		return fmt.Errorf("fixture: %d response entries for %d requests", len(results), len(entries))
	}
	for i, e := range results {
		var in struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(entries[i], &in)
		loc, _ := field(e, "response", "location").(string)
		parts := strings.Split(loc, "/")
		if len(parts) < 2 {
			return fmt.Errorf("fixture entry %s: no location in %v", in.ID, e)
		}
		f[in.ID] = parts[0] + "/" + parts[1]
	}
	return nil
}

// ref returns the "Type/id" of a local name.
func (f fixture) ref(name string) string {
	if r, ok := f[name]; ok {
		return r
	}
	panic("fixture has no entry " + name)
}

// id returns the server id of a local name.
func (f fixture) id(name string) string {
	_, id, _ := strings.Cut(f.ref(name), "/")
	return id
}

var placeholder = regexp.MustCompile(`\{([a-z0-9-]+)\}`)

// expand replaces {name} in s with the id of that fixture entry.
func (f fixture) expand(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string { return f.id(m[1 : len(m)-1]) })
}

// names turns references back into local names where it can, sorted, so
// failures read as fixture names.
func (f fixture) names(refs []string) []string {
	back := make(map[string]string, len(f))
	for name, r := range f {
		back[r] = name
	}
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if name, ok := back[r]; ok {
			out = append(out, name)
		} else {
			out = append(out, r)
		}
	}
	return out
}

// entryRefs returns "Type/id" of a Bundle's entries with search.mode mode
// ("" for every entry), in Bundle order.
func entryRefs(bundle map[string]any, mode string) []string {
	var out []string
	for _, e := range list(bundle, "entry") {
		if mode != "" && field(e, "search", "mode") != mode {
			continue
		}
		typ, _ := field(e, "resource", "resourceType").(string)
		id, _ := field(e, "resource", "id").(string)
		out = append(out, typ+"/"+id)
	}
	return out
}

// link returns the url of a Bundle link relation, or "".
func link(bundle map[string]any, relation string) string {
	for _, l := range list(bundle, "link") {
		if field(l, "relation") == relation {
			s, _ := field(l, "url").(string)
			return s
		}
	}
	return ""
}

// total returns Bundle.total, or -1 when absent.
func total(bundle map[string]any) int {
	if n, ok := bundle["total"].(float64); ok {
		return int(n)
	}
	return -1
}

// field walks nested objects by key.
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// list returns an array member of v, or nil.
func list(v any, path ...string) []any {
	l, _ := field(v, path...).([]any)
	return l
}

// outcomeText returns every issue's details.text and expression of an
// OperationOutcome, joined, for matching against what an error must name.
func outcomeText(body map[string]any) string {
	var b strings.Builder
	for _, issue := range list(body, "issue") {
		if s, ok := field(issue, "details", "text").(string); ok {
			b.WriteString(s + " ")
		}
		for _, e := range list(issue, "expression") {
			if s, ok := e.(string); ok {
				b.WriteString(s + " ")
			}
		}
	}
	return b.String()
}

// isOutcome reports whether body is an OperationOutcome with an error issue.
func isOutcome(body map[string]any) bool {
	if body["resourceType"] != "OperationOutcome" {
		return false
	}
	for _, issue := range list(body, "issue") {
		if s := field(issue, "severity"); s == "error" || s == "fatal" {
			return true
		}
	}
	return false
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// historyTotal returns Bundle.total of GET path (a _history URL).
func (c fhirClient) historyTotal(path string) int {
	c.t.Helper()
	return total(c.mustGet(path).body)
}
