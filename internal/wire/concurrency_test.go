package wire_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// Transaction bundles that update the same two Patients, half of them in
// the opposite order, deadlock each other on PostgreSQL. Each bundle either
// commits whole (200) or is refused with an OperationOutcome (409) — never
// a 500 — and every committed bundle left its mark on both patients, once.
func TestHotPatientTransactionsDoNotFail(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		a, b := createPatient(c, "a"), createPatient(c, "b")
		const workers, bundles = 8, 12
		statuses := make([][]int, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, second := a, b
				if w%2 == 1 {
					first, second = b, a
				}
				for i := range bundles {
					mark := fmt.Sprintf("w%d-%d", w, i)
					r := c.do("POST", "", transaction(putPatient(first, mark), putPatient(second, mark)))
					if r.status != 200 && (r.status != 409 || !isOutcome(r.body)) {
						t.Errorf("bundle %s: %d %s", mark, r.status, r.raw)
					}
					statuses[w] = append(statuses[w], r.status)
				}
			}()
		}
		wg.Wait()
		var committed []string
		for w, st := range statuses {
			for i, status := range st {
				if status == 200 {
					committed = append(committed, fmt.Sprintf("w%d-%d", w, i))
				}
			}
		}
		for _, id := range []string{a, b} {
			marks := historyMarks(c, "Patient/"+id)
			if !sameSet(marks, committed) {
				t.Errorf("Patient/%s has the versions of %d bundles, %d committed", id, len(marks), len(committed))
			}
		}
		if len(committed) < workers*bundles/2 {
			t.Errorf("%d of %d bundles committed", len(committed), workers*bundles)
		}
	})
}

// createPatient creates a Patient and returns its id.
func createPatient(c fhirClient, family string) string {
	c.t.Helper()
	r := c.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"`+family+`"}]}`)
	if r.status != 201 {
		c.t.Fatalf("create Patient: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string)
}

// transaction is a transaction Bundle of entries.
func transaction(entries ...map[string]any) string {
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return string(body)
}

// putPatient is a transaction entry writing Patient/id with mark as its
// only given name.
func putPatient(id, mark string) map[string]any {
	return map[string]any{
		"resource": map[string]any{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"given": []string{mark}}}},
		"request":  map[string]any{"method": "PUT", "url": "Patient/" + id},
	}
}

// historyMarks returns the given names of ref's versions after the first.
func historyMarks(c fhirClient, ref string) []string {
	c.t.Helper()
	var marks []string
	for _, e := range list(c.mustGet(ref+"/_history?_count=1000").body, "entry") {
		for _, name := range list(e, "resource", "name") {
			for _, g := range list(name, "given") {
				marks = append(marks, g.(string))
			}
		}
	}
	return slices.DeleteFunc(marks, func(m string) bool { return m == "" })
}

// Concurrent PATCHes and PUTs without If-Match on one resource all apply,
// each to the version current when it runs: none answers 412 (only an
// If-Match may), the final Patient carries every PATCH's identifier, and
// there is one version per write. A PATCH naming a stale version is 412.
func TestConcurrentWritesWithoutIfMatchApply(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		r := c.do("POST", "Patient", `{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"start"}]}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		id, first := r.body["id"].(string), r.header.Get("ETag")
		const patches = 50
		var wg sync.WaitGroup
		for i := range patches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				patch := fmt.Sprintf(`[{"op":"add","path":"/identifier/-","value":{"system":"urn:test","value":"p%d"}}]`, i)
				if r := c.do("PATCH", "Patient/"+id, patch, "Content-Type", "application/json-patch+json"); r.status != 200 {
					t.Errorf("PATCH %d: %d %s", i, r.status, r.raw)
				}
			}()
		}
		wg.Wait()
		final := c.mustGet("Patient/" + id)
		var values []string
		for _, ident := range list(final.body, "identifier") {
			values = append(values, field(ident, "value").(string))
		}
		want := []string{"start"}
		for i := range patches {
			want = append(want, fmt.Sprintf("p%d", i))
		}
		if !sameSet(values, want) {
			t.Errorf("final identifiers %v, want start and p0…p%d once each", values, patches-1)
		}
		if n := c.historyTotal("Patient/" + id + "/_history"); n != 1+patches {
			t.Errorf("%d versions after %d PATCHes, want %d", n, patches, 1+patches)
		}
		stale := c.do("PATCH", "Patient/"+id, `[{"op":"add","path":"/active","value":true}]`,
			"Content-Type", "application/json-patch+json", "If-Match", first)
		if stale.status != 412 {
			t.Errorf("PATCH with a stale If-Match: %d, want 412", stale.status)
		}

		const puts = 20
		for i := range puts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"put%d"}]}`, id, i)
				if r := c.do("PUT", "Patient/"+id, body); r.status != 200 {
					t.Errorf("PUT %d: %d %s", i, r.status, r.raw)
				}
			}()
		}
		wg.Wait()
		if n := c.historyTotal("Patient/" + id + "/_history"); n != 1+patches+puts {
			t.Errorf("%d versions after %d PATCHes and %d PUTs, want %d", n, patches, puts, 1+patches+puts)
		}
	})
}
