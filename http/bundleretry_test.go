package wardhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// rerunStore runs every write transaction twice, the first time rolled
// back, as the store does after a deadlock.
type rerunStore struct{ *store.Store }

var errRunAgain = errors.New("run again")

func (r rerunStore) Write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	err := r.Store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return errRunAgain
	})
	if !errors.Is(err, errRunAgain) {
		return err
	}
	return r.Store.Write(ctx, fn)
}

// A transaction run again after a deadlock decides its urn:uuid ids anew:
// the Observation of the committed run refers to the Patient that run
// created, not to the id of the rolled-back one.
func TestTransactionRunAgainStartsOver(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newOpFixture(t, s, rerunStore{s})
		w := f.do("POST", "/fhir/R4", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:7d1f6b1e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:7d1f6b1e-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}]}`)
		if w.Code != 200 {
			t.Fatalf("transaction: %d %s", w.Code, w.Body)
		}
		var out struct {
			Entry []struct {
				Resource struct {
					ID      string
					Subject struct{ Reference string }
				}
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Entry) != 2 {
			t.Fatalf("response %s: %v", w.Body, err)
		}
		patient, subject := out.Entry[0].Resource.ID, out.Entry[1].Resource.Subject.Reference
		if subject != "Patient/"+patient {
			t.Errorf("Observation.subject %q, want the created Patient/%s", subject, patient)
		}
		if r := f.do("GET", "/fhir/R4/"+subject, ""); r.Code != 200 || !strings.Contains(r.Body.String(), patient) {
			t.Errorf("GET %s: %d", subject, r.Code)
		}
	})
}
