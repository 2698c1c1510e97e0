package wardhttp_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// everythingPage is what a client reads of an $everything Bundle.
type everythingPage struct {
	ResourceType, Type string
	Link               []struct{ Relation, URL string }
	Entry              []struct {
		FullURL  string
		Search   struct{ Mode string }
		Resource struct {
			ResourceType, ID string
			Meta             json.RawMessage
		}
	}
}

func (p *everythingPage) refs() []string {
	var out []string
	for _, e := range p.Entry {
		out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
	}
	slices.Sort(out)
	return out
}

func (p *everythingPage) next() string {
	for _, l := range p.Link {
		if l.Relation == "next" {
			return strings.TrimPrefix(l.URL, base)
		}
	}
	return ""
}

func readPage(t *testing.T, w *httptest.ResponseRecorder) *everythingPage {
	t.Helper()
	var p everythingPage
	if w.Code != 200 {
		t.Fatalf("$everything: %d %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.ResourceType != "Bundle" || p.Type != "searchset" {
		t.Fatalf("$everything: %v %s, want a searchset Bundle", err, w.Body)
	}
	for _, e := range p.Entry {
		if e.Search.Mode != "match" || e.FullURL != base+"/fhir/R4/"+e.Resource.ResourceType+"/"+e.Resource.ID {
			t.Errorf("entry %+v, want search.mode match and its fullUrl", e)
		}
	}
	return &p
}

// TestEverythingOperation: row 54 over HTTP (the match entries are what
// $set-accounts counted), paging by next links, _type, POST Parameters,
// and the refusals.
func TestEverythingOperation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newOpFixture(t, s)
		everything := "/fhir/R4/Patient/" + f.patient + "/$everything"
		all := []string{"DiagnosticReport/" + f.dr, "Observation/" + f.obs, "Patient/" + f.patient}
		slices.Sort(all)

		w := f.do("POST", "/fhir/R4/Patient/"+f.patient+"/$set-accounts", params("true", f.o1, f.o2))
		if !strings.Contains(w.Body.String(), `"valueInteger":3`) {
			t.Fatalf("$set-accounts: %d %s", w.Code, w.Body)
		}
		page := readPage(t, f.do("GET", everything, ""))
		if got := page.refs(); !slices.Equal(got, all) {
			t.Errorf("row 54: %v, want the 3 resources $set-accounts updated %v", got, all)
		}
		if page.next() != "" || strings.Contains(string(page.Entry[0].Resource.Meta), "compartment") {
			t.Errorf("one page without next, meta without compartment (not extended): %s", f.do("GET", everything, "").Body)
		}

		// Paging: follow next links from _count=1.
		var seen []string
		for path, pages := everything+"?_count=1", 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("next links do not end")
			}
			p := readPage(t, f.do("GET", path, ""))
			if len(p.Entry) != 1 {
				t.Fatalf("%s: %d entries, want 1", path, len(p.Entry))
			}
			seen = append(seen, p.refs()...)
			path = p.next()
		}
		slices.Sort(seen)
		if !slices.Equal(seen, all) {
			t.Errorf("pages of one: %v, want %v", seen, all)
		}

		for _, c := range []struct {
			name, method, path, body string
			want                     []string
		}{
			{"_type", "GET", everything + "?_type=Observation", "", []string{"Observation/" + f.obs, "Patient/" + f.patient}},
			{"_since in the future", "GET", everything + "?_since=" + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"), "", nil},
			{"POST without a body", "POST", everything, "", all},
			{"POST Parameters", "POST", everything, `{"resourceType":"Parameters","parameter":[
				{"name":"_type","valueString":"DiagnosticReport,Observation"},{"name":"_since","valueInstant":"2000-01-01T00:00:00Z"}]}`, all},
			// Medplum's PatientExportForm posts a plain object: {} when no field is filled.
			{"POST {}", "POST", everything, `{}`, all},
			{"POST a plain object", "POST", everything, `{"_type":["Observation"],"_count":10,"_since":"2000-01-01T00:00:00Z"}`, []string{"Observation/" + f.obs, "Patient/" + f.patient}},
			{"POST Parameters without parameters", "POST", everything, `{"resourceType":"Parameters"}`, all},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := readPage(t, f.do(c.method, c.path, c.body)).refs(); !slices.Equal(got, c.want) {
					t.Errorf("got %v, want %v", got, c.want)
				}
			})
		}
		for _, c := range []struct {
			name, method, path, body, caller string
			status                           int
			want                             string
		}{
			{"another project's admin", "GET", everything, "", "stranger", 404, "not-found"},
			{"an unknown patient", "GET", "/fhir/R4/Patient/" + uuid.NewString() + "/$everything", "", "", 404, "not-found"},
			{"an Observation id", "GET", "/fhir/R4/Patient/" + f.obs + "/$everything", "", "", 404, "not-found"},
			{"a bad _count", "GET", everything + "?_count=-1", "", "", 400, "_count"},
			{"a bad _since", "GET", everything + "?_since=soon", "", "", 400, "_since"},
			{"an unknown _type", "GET", everything + "?_type=Nope", "", "", 400, "Nope"},
			{"start is not supported", "GET", everything + "?start=2020-01-01", "", "", 400, "start"},
			{"POST of another resource", "POST", everything, `{"resourceType":"Patient"}`, "", 400, "Expected a Parameters resource"},
			{"POST of an array", "POST", everything, `[]`, "", 400, "Expected a JSON object"},
			{"POST of malformed JSON", "POST", everything, `{"_count":`, "", 400, "Invalid JSON"},
			{"POST of a parameter without a name", "POST", everything, `{"resourceType":"Parameters","parameter":[{"valueInteger":1}]}`, "", 400, "name"},
			{"POST of a malformed Parameters", "POST", everything, `{"resourceType":"Parameters","parameter":{"name":"_count"}}`, "", 400, "parameter"},
			{"POST of a plain object with a bad _count", "POST", everything, `{"_count":"many"}`, "", 400, "_count"},
			{"POST of a plain object with a reference as _type", "POST", everything, `{"_type":{"reference":"Patient/x"}}`, "", 400, "_type"},
			{"POST of a non-primitive", "POST", everything, `{"resourceType":"Parameters","parameter":[{"name":"_count","valueQuantity":{"value":1}}]}`, "", 400, "_count"},
		} {
			t.Run(c.name, func(t *testing.T) {
				w := f.do(c.method, c.path, c.body, "X-Test-Caller", c.caller)
				if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
					t.Errorf("%d %s, want %d naming %s", w.Code, w.Body, c.status, c.want)
				}
			})
		}
	})
}

// gatedStore holds an async $set-accounts at one point: before the
// worker's first look at its job (beforeJob), or inside the run itself
// (running, then released).
type gatedStore struct {
	*store.Store
	beforeJob chan struct{}
	running   chan struct{}
	release   chan struct{}
}

func (g *gatedStore) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	if typ == "AsyncJob" && g.beforeJob != nil {
		<-g.beforeJob
	}
	return g.Store.Read(ctx, typ, id)
}

func (g *gatedStore) SetAccounts(ctx context.Context, typ, id string, accounts []string, propagate bool) (int, error) {
	if g.running != nil {
		g.running <- struct{}{}
		<-g.release
	}
	return g.Store.SetAccounts(ctx, typ, id, accounts, propagate)
}

// eventually polls cond for a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// jobOf reads the job with system rights: its status and whether it has output.
func jobOf(t *testing.T, s *store.Store, status string) (string, bool) {
	t.Helper()
	id := strings.TrimSuffix(status[strings.LastIndex(status, "/job/")+len("/job/"):], "/status")
	res, err := s.Read(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), "AsyncJob", id)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Status string
		Output json.RawMessage
	}
	json.Unmarshal(res.Content, &job)
	return job.Status, job.Output != nil
}

// TestSetAccountsJobCancel: row 60 — a job cancelled before the worker
// runs stays cancelled without output and only the target gets the
// accounts; one cancelled while it runs finishes its (single-transaction)
// work and stays cancelled; ended jobs cannot be cancelled.
func TestSetAccountsJobCancel(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		start := func(f *opFixture) string {
			t.Helper()
			w := f.do("POST", "/fhir/R4/Patient/"+f.patient+"/$set-accounts", params("true", f.o1), "Prefer", "respond-async")
			if w.Code != 202 {
				t.Fatalf("respond-async: %d %s", w.Code, w.Body)
			}
			return strings.TrimPrefix(w.Header().Get("Content-Location"), base)
		}
		cancel := func(f *opFixture, status string, want int) {
			t.Helper()
			if w := f.do("DELETE", status, ""); w.Code != want {
				t.Fatalf("DELETE %s: %d %s, want %d", status, w.Code, w.Body, want)
			}
		}

		t.Run("before the worker runs", func(t *testing.T) {
			g := &gatedStore{Store: s, beforeJob: make(chan struct{})}
			f := newOpFixture(t, s, g)
			status := start(f)
			cancel(f, status, 202)
			close(g.beforeJob)
			eventually(t, "the target's new accounts", func() bool { return slices.Equal(f.accounts(t, "Patient", f.patient), []string{f.o1}) })
			time.Sleep(50 * time.Millisecond) // nothing more may happen
			if st, output := jobOf(t, s, status); st != "cancelled" || output {
				t.Errorf("job %s (output %v), want cancelled without output", st, output)
			}
			if got := f.accounts(t, "Observation", f.obs); len(got) != 0 {
				t.Errorf("Observation accounts %v, want none: propagation never ran", got)
			}
			cancel(f, status, 202) // already cancelled: nothing to do
			if w := f.do("GET", status, ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"cancelled"`) {
				t.Errorf("status of a cancelled job: %d %s, want 200 with the job", w.Code, w.Body)
			}
		})

		t.Run("while it runs", func(t *testing.T) {
			g := &gatedStore{Store: s, running: make(chan struct{}), release: make(chan struct{})}
			f := newOpFixture(t, s, g)
			status := start(f)
			<-g.running
			if w := f.do("POST", "/fhir/R4/AsyncJob/"+status[len("/fhir/R4/job/"):len(status)-len("/status")]+"/$cancel", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "All OK") {
				t.Fatalf("$cancel: %d %s, want 200 All OK", w.Code, w.Body)
			}
			close(g.release)
			eventually(t, "the propagation", func() bool { return slices.Equal(f.accounts(t, "DiagnosticReport", f.dr), []string{f.o1}) })
			time.Sleep(50 * time.Millisecond)
			if st, output := jobOf(t, s, status); st != "cancelled" || output {
				t.Errorf("job %s (output %v), want cancelled without output", st, output)
			}
		})

		t.Run("ended or foreign", func(t *testing.T) {
			f := newOpFixture(t, s)
			status := start(f)
			eventually(t, "the job", func() bool { st, _ := jobOf(t, s, status); return st == "completed" })
			if w := f.do("DELETE", status, ""); w.Code != 400 || !strings.Contains(w.Body.String(), "job had status 'completed'") {
				t.Errorf("cancel a completed job: %d %s, want 400", w.Code, w.Body)
			}
			if w := f.do("DELETE", status, "", "X-Test-Caller", "stranger"); w.Code != 404 {
				t.Errorf("another project cancels: %d %s, want 404", w.Code, w.Body)
			}
			if w := f.do("DELETE", "/fhir/R4/job/"+uuid.NewString()+"/status", ""); w.Code != 404 {
				t.Errorf("cancel an unknown job: %d %s, want 404", w.Code, w.Body)
			}
		})
	})
}
