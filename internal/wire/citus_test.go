package wire_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/citusrules"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// statement is one SQL statement an HTTP request made the store issue.
type statement struct {
	request string // "METHOD /path"
	query   string
	args    []any
	caller  *ward.Principal
	tag     *requestTag
	prev    *statement // the statement its request issued just before
}

// requestKey carries the request a statement is made for.
type requestKey struct{}

type requestTag struct {
	name string
	mu   sync.Mutex
	last *statement // the request's previous statement
	// super marks a super admin's request (its principal acts across
	// projects): the one caller allowed to fan out.
	super bool
}

// recorder keeps the statements of tagged requests (background work, the
// seed and the test's own setup are not recorded).
type recorder struct {
	mu    sync.Mutex
	stmts []*statement
}

func (r *recorder) hook(ctx context.Context, query string, args []driver.NamedValue) {
	tag, _ := ctx.Value(requestKey{}).(*requestTag)
	if tag == nil {
		return
	}
	p := ward.PrincipalFromContext(ctx)
	if p != nil && p.System && !p.Internal && p.Author != "system" {
		tag.mu.Lock()
		tag.super = true
		tag.mu.Unlock()
	}
	st := &statement{request: tag.name, query: query, caller: p, tag: tag}
	for _, a := range args {
		st.args = append(st.args, a.Value)
	}
	tag.mu.Lock()
	st.prev, tag.last = tag.last, st
	tag.mu.Unlock()
	r.mu.Lock()
	r.stmts = append(r.stmts, st)
	r.mu.Unlock()
}

// ordinary reports that st is an ordinary caller's (not a super admin's
// request).
func (st *statement) ordinary() bool {
	st.tag.mu.Lock()
	defer st.tag.mu.Unlock()
	return !st.tag.super
}

// tagRequests marks every request's context for the recorder.
func tagRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := &requestTag{name: r.Method + " " + r.URL.Path}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, tag)))
	})
}

// knownFanOut is a statement of an ordinary caller's request allowed to
// reach every shard, and why.
type knownFanOut struct {
	why   string
	match func(st *statement) bool
}

// knownFanOuts are all of them: each follows a lookup in the caller's own
// projects that found nothing.
var knownFanOuts = []knownFanOut{
	{"a lookup by id that missed the project its row was expected in (a foreign or new id) looks in every project: ids are unique across the server",
		func(st *statement) bool {
			return strings.HasPrefix(oneLine(st.query), oneLine(byIDQuery)) && st.prev != nil && len(st.prev.args) > 2 &&
				strings.HasPrefix(oneLine(st.prev.query), oneLine(byIDQuery)) && slices.Equal(st.prev.args[:2], st.args[:2])
		}},
	{"a reference, or a PUT's id, the caller's read scope does not hold is looked for in every project, to refuse a reference into another project (400) and an update of another project's id (404)",
		func(st *statement) bool {
			return strings.HasPrefix(oneLine(st.query), "SELECT resource_type, id, project_id FROM resources WHERE resource_type = ")
		}},
	{"SQLite only (no Citus there): its one writer draws the outbox's global seq; PostgreSQL draws it from a sequence",
		func(st *statement) bool { return oneLine(st.query) == "SELECT COALESCE(MAX(seq), 0) FROM outbox" }},
}

// byIDQuery starts store.currentQuery's text.
const byIDQuery = "SELECT project_id, version_id, last_updated, deleted, content FROM resources WHERE resource_type = "

// TestCitusRules (issue 15, guard a): every statement the store issues
// while the walls suite runs with real tokens — two projects' owners (project
// admins) and a member under an AccessPolicy, sign-up, login, token
// exchanges, /auth/me, the admin API, bulk export, and a super admin
// acting across projects — is read against Citus' rules: no locking read
// without one project_id, no recursive CTE without a project_id filter, no
// join of project tables off project_id. Statements of an ordinary
// caller's request that no project_id narrows (every shard) are logged,
// and fail unless knownFanOuts lists them.
func TestCitusRules(t *testing.T) {
	skipExternal(t, "records the statements the store runs")
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			rec := &recorder{}
			var s *store.Store
			if engine == "sqlite" {
				s = storetest.OpenSQLiteTraced(t, rec.hook)
			} else {
				s = storetest.OpenPostgresWith(t, postgres.Options{Trace: rec.hook})
			}
			srv := startAuthServer(t, s)
			srv.Config.Handler = tagRequests(srv.Config.Handler)
			projectWallsWithTokens(t, srv)
			sortsAndEdits(t, srv)
			clientsAndSignIns(t, srv)
			checkCitusRules(t, rec.statements())
		})
	}
}

func (r *recorder) statements() []*statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stmts)
}

func checkCitusRules(t *testing.T, stmts []*statement) {
	t.Helper()
	if len(stmts) < 100 {
		t.Fatalf("recorded %d statements: the workload did not reach the store", len(stmts))
	}
	fanOuts := map[string][]string{}
	violations := map[string][]string{}
	ordinary, multi := 0, 0
	multiByQuery := map[string][]string{}
	for _, st := range stmts {
		v := citusrules.Check(st.query)
		for _, why := range v.Violations {
			violations[why+": "+oneLine(st.query)] = append(violations[why+": "+oneLine(st.query)], st.request)
		}
		if !st.ordinary() {
			continue
		}
		ordinary++
		if v.Projects > 1 {
			multi++
			multiByQuery[oneLine(st.query)] = append(multiByQuery[oneLine(st.query)], st.request)
		}
		if v.FansOut() && !isKnownFanOut(t, st) {
			fanOuts[oneLine(st.query)] = append(fanOuts[oneLine(st.query)], fmt.Sprintf("%s %v", st.request, st.args))
		}
	}
	t.Logf("%d statements, %d of ordinary callers' requests, %d of them naming more than one project", len(stmts), ordinary, multi)
	for _, q := range sortedKeys(multiByQuery) {
		t.Logf("names several projects (%d, e.g. %s): %s", len(multiByQuery[q]), multiByQuery[q][0], q)
	}
	for _, q := range sortedKeys(violations) {
		t.Errorf("Citus refuses (%d requests, e.g. %s): %s", len(violations[q]), violations[q][0], q)
	}
	for _, q := range sortedKeys(fanOuts) {
		t.Errorf("fans out to every shard for an ordinary caller (%d requests, e.g. %s): %s", len(fanOuts[q]), strings.Join(fanOuts[q], "\n\t"), q)
	}
}

func isKnownFanOut(t *testing.T, st *statement) bool {
	for _, k := range knownFanOuts {
		if k.match(st) {
			t.Logf("fans out (known: %s): %s %s", k.why, st.request, oneLine(st.query))
			return true
		}
	}
	return false
}

func oneLine(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 400 {
		q = q[:400] + "…"
	}
	return q
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortsAndEdits is what the walls suite leaves out: sorted searches (a
// correlated subquery per sort key), chained and reverse-chained searches
// sorted, PATCH, conditional writes, deletes and $everything, by a
// project's owner.
func sortsAndEdits(t *testing.T, srv *httptest.Server) {
	owner := registerProject(t, srv, "sorts@example.com", "Sorted Clinic").owner
	pat := owner.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Sorter","given":["Ada"]}],"gender":"female","birthDate":"1970-01-01"}`)
	if pat.status != 201 {
		t.Fatalf("create patient: %d %s", pat.status, pat.raw)
	}
	patient := "Patient/" + pat.body["id"].(string)
	for i, day := range []string{"2024-01-02", "2024-03-04", "2024-02-03"} {
		r := owner.do("POST", "Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":%q},"effectiveDateTime":%q,"valueQuantity":{"value":%d,"unit":"/min"}}`, patient, day, 60+i))
		if r.status != 201 {
			t.Fatalf("create observation: %d %s", r.status, r.raw)
		}
	}
	for _, q := range []string{
		"Observation?_sort=-date", "Observation?_sort=date,-value-quantity", "Patient?_sort=name",
		"Observation?subject:Patient.name=sorter&_sort=-date", "Patient?_has:Observation:subject:code=8867-4&_sort=-birthdate",
		"Observation?code=8867-4&_include=Observation:subject&_sort=-_lastUpdated", "Observation?date=ge2024-02-01&_sort=-date",
		"Patient/" + pat.body["id"].(string) + "/$everything",
	} {
		if r := owner.get(q); r.status != 200 {
			t.Errorf("GET %s: %d %s", q, r.status, r.raw)
		}
	}
	id := pat.body["id"].(string)
	if r := owner.do("PATCH", "Patient/"+id, `[{"op":"replace","path":"/gender","value":"other"}]`, "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Errorf("PATCH: %d %s", r.status, r.raw)
	}
	if r := owner.do("PUT", "Patient?name=sorter", `{"resourceType":"Patient","name":[{"family":"Sorter","given":["Ada","B"]}]}`); r.status != 200 {
		t.Errorf("conditional PUT: %d %s", r.status, r.raw)
	}
	if r := owner.do("DELETE", "Observation?code=8867-4&date=2024-01-02", ""); r.status != 200 && r.status != 204 {
		t.Errorf("conditional DELETE: %d %s", r.status, r.raw)
	}
}

// clientsAndSignIns is what identity homes (store/homes.go) route to one
// shard: a client authenticating with its id and secret (the client
// credentials grant, Basic on the FHIR API, a password sign-in naming the
// client), a client id that does not exist, and sign-ins without a
// project by a user with memberships in two projects (the chooser) and by
// one with none.
func clientsAndSignIns(t *testing.T, srv *httptest.Server) {
	pa := registerProject(t, srv, "homes-a@example.com", "Homes Clinic A")
	pb := registerProject(t, srv, "homes-b@example.com", "Homes Clinic B")
	r := pa.owner.do("POST", "/admin/projects/:projectId/client", `{"name":"Homes Service"}`)
	if r.status != 201 && r.status != 200 {
		t.Fatalf("create a client: %d %s", r.status, r.raw)
	}
	clientID, secret := r.body["id"].(string), r.body["secret"].(string)
	cc := tokenGrant(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	bearer := fhirClient{t: t, base: srv.URL, project: pa.id, authz: "Bearer " + cc["access_token"].(string)}
	if r := bearer.get("Patient"); r.status != 200 {
		t.Errorf("search with the client's token: %d %s", r.status, r.raw)
	}
	basic := fhirClient{t: t, base: srv.URL, project: pa.id, authz: "Basic " + base64Std(clientID+":"+secret)}
	if r := basic.get("Patient"); r.status != 200 {
		t.Errorf("search with the client's id and secret: %d %s", r.status, r.raw)
	}
	unknown := fhirClient{t: t, base: srv.URL, authz: "Basic " + base64Std(ward.NewID()+":"+secret)}
	if r := unknown.get("Patient"); r.status != 401 {
		t.Errorf("an unknown client id: %d %s, want 401", r.status, r.raw)
	}
	status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
		"email": pa.email, "password": ownerPassword, "clientId": clientID, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 || login["code"] == nil {
		t.Errorf("sign-in through the client: %d %v", status, login)
	}
	// A's owner joins B: two memberships, so sign-in without a project
	// offers both.
	if r := pb.owner.do("POST", "/admin/projects/:projectId/invite", `{"resourceType":"Practitioner","firstName":"Ann","lastName":"Owner","email":"`+pa.email+`","sendEmail":false}`); r.status != 200 {
		t.Fatalf("invite A's owner into B: %d %s", r.status, r.raw)
	}
	status, login = postJSON(t, srv, "/auth/login", "", map[string]any{"email": pa.email, "password": ownerPassword, "scope": "openid"})
	if ms, _ := login["memberships"].([]any); status != 200 || len(ms) != 2 {
		t.Errorf("sign-in without a project by a member of two: %d %v, want 2 memberships to choose from", status, login)
	}
	status, login = postJSON(t, srv, "/auth/newuser", "", map[string]any{"firstName": "No", "lastName": "Member", "email": "homes-none@example.com", "password": "none-password-1", "recaptchaToken": "x"})
	if status != 200 {
		t.Fatalf("new user: %d %v", status, login)
	}
	status, login = postJSON(t, srv, "/auth/login", "", map[string]any{"email": "homes-none@example.com", "password": "none-password-1", "scope": "openid"})
	if status != 400 {
		t.Errorf("sign-in by a user with no membership: %d %v, want 400", status, login)
	}
}

// hashPartitions is the partition count of TestPartitionPruning: enough
// that the walls suite's projects mostly fall in different partitions.
const hashPartitions = 16

// TestPartitionPruning (issue 15, guard b): with every project table
// partitioned by HASH (project_id), PostgreSQL's planner is asked (EXPLAIN,
// with each statement's own arguments) which partitions each statement of
// an ordinary caller's request reads. It must read only the partitions of
// projects the caller may read — its own, linked ones, the R4 definitions
// — and, for identity lookups, those of the rows' home projects: what a
// Citus coordinator would route to one shard each. The known fan-outs of
// TestCitusRules (lookups after a miss) are left out.
func TestPartitionPruning(t *testing.T) {
	skipExternal(t, "reads the partitions from the database")
	t.Run("sqlite", func(t *testing.T) {
		t.Skip("hash partitions are a PostgreSQL layout; TestCitusRules reads SQLite's statements")
	})
	t.Run("postgres", func(t *testing.T) {
		rec := &recorder{}
		s := storetest.OpenPostgresWith(t, postgres.Options{Trace: rec.hook, HashPartitions: hashPartitions})
		var citus int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM pg_extension WHERE extname = 'citus'").Scan(&citus); err != nil {
			t.Fatal(err)
		} else if citus > 0 {
			t.Skip("on Citus the tables are distributed, not partitioned: TestCitusRules runs there")
		}
		srv := startAuthServer(t, s)
		srv.Config.Handler = tagRequests(srv.Config.Handler)
		projectWallsWithTokens(t, srv)
		sortsAndEdits(t, srv)
		clientsAndSignIns(t, srv)
		checkPruning(t, s, rec.statements())
	})
}

func checkPruning(t *testing.T, s *store.Store, stmts []*statement) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// As the first executions of a prepared statement are planned: with
	// its arguments, so pruning happens at plan time and shows.
	if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = force_custom_plan"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "RESET plan_cache_mode")
	partitionOf := map[string]int{}
	partition := func(project string) int {
		k, ok := partitionOf[project]
		if !ok {
			touched := explainPartitions(t, conn, "SELECT 1 FROM resources WHERE project_id = $1", []any{project})
			if len(touched) != 1 {
				t.Fatalf("project %s is in partitions %v of resources", project, touched)
			}
			for k = range touched {
			}
			partitionOf[project] = k
		}
		return k
	}
	checked, pruned := 0, 0
	wrong := map[string][]string{}
	for _, st := range stmts {
		verb := strings.ToUpper(strings.Fields(st.query)[0])
		if !st.ordinary() || st.caller == nil || !slices.Contains([]string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}, verb) || matchesKnownFanOut(st) {
			continue
		}
		allowed := map[int]bool{}
		for _, project := range readableProjectsOf(st.caller) {
			allowed[partition(project)] = true
		}
		touched := explainPartitions(t, conn, st.query, st.args)
		checked++
		if len(touched) > 0 {
			pruned++
		}
		for k := range touched {
			if !allowed[k] && !(st.caller.System && len(st.caller.Home) == 0) {
				key := oneLine(st.query)
				wrong[key] = append(wrong[key], fmt.Sprintf("%s reads partition %d, may read %v", st.request, k, sortedInts(allowed)))
				break
			}
		}
		if st.caller.System && len(st.caller.Home) == 0 && len(touched) > 1 {
			key := oneLine(st.query)
			wrong[key] = append(wrong[key], fmt.Sprintf("%s reads %d partitions with no project (a fan-out)", st.request, len(touched)))
		}
	}
	t.Logf("%d statements explained, %d of them reading partitions of project tables", checked, pruned)
	if checked < 100 {
		t.Fatalf("explained %d statements: the workload did not reach the store", checked)
	}
	for _, q := range sortedKeys(wrong) {
		t.Errorf("reads other projects' partitions (%d times, e.g. %s): %s", len(wrong[q]), wrong[q][0], q)
	}
}

// readableProjectsOf are the projects a statement's caller may read: a request's
// principal its own, linked and R4 projects; an identity lookup the home
// projects it was given.
func readableProjectsOf(p *ward.Principal) []string {
	if p.System {
		return p.Home
	}
	return append([]string{p.ProjectID, ward.R4ProjectID}, p.ReadProjects...)
}

func matchesKnownFanOut(st *statement) bool {
	for _, k := range knownFanOuts {
		if k.match(st) {
			return true
		}
	}
	return false
}

var partitionName = regexp.MustCompile(`^([a-z_]+)_p(\d+)$`)

// explainPartitions returns the partitions (by number) of project tables
// PostgreSQL's plan of query reads.
func explainPartitions(t *testing.T, conn *sql.Conn, query string, args []any) map[int]bool {
	t.Helper()
	var plan string
	if err := conn.QueryRowContext(context.Background(), "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&plan); err != nil {
		t.Fatalf("EXPLAIN %s: %v", oneLine(query), err)
	}
	var tree any
	if err := json.Unmarshal([]byte(plan), &tree); err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if name, ok := x["Relation Name"].(string); ok {
				if m := partitionName.FindStringSubmatch(name); m != nil && slices.Contains(citusrules.ProjectTables, m[1]) {
					k, _ := strconv.Atoi(m[2])
					out[k] = true
				}
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(tree)
	return out
}

func sortedInts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
