package definitions_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir/definitions"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func system() context.Context {
	return ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
}

// fixture is a small data set of n CodeSystems in the R4 project.
func fixture(version string, n int) *definitions.Data {
	d := &definitions.Data{Version: version, Batch: 4}
	for i := range n {
		url := fmt.Sprintf("http://example.com/cs/%d", i)
		id := definitions.StableID("CodeSystem", url)
		d.Resources = append(d.Resources, definitions.Resource{Type: "CodeSystem", ID: id, Content: fmt.Appendf(nil,
			`{"resourceType":"CodeSystem","id":%q,"meta":{"project":%q},"url":%q,"status":"active","content":"complete","name":%q}`,
			id, ward.R4ProjectID, url, version)})
	}
	return d
}

func versionOf(t *testing.T, s *store.Store, id string) string {
	t.Helper()
	r, err := s.Read(system(), "CodeSystem", id)
	if err != nil {
		return err.Error()
	}
	return r.VersionID
}

func TestLoadIdempotentResumableAndReplacing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		v1 := fixture("v1", 12) // three batches
		// The first load stops after its first batch, then resumes.
		stopCtx, stop := context.WithCancel(ctx)
		s.OnCommit(func(context.Context, []*ward.Resource) { stop() })
		if err := definitions.LoadData(stopCtx, s, v1, quiet()); err == nil {
			t.Fatal("load under a cancelled context succeeded")
		}
		if _, err := s.Read(system(), "CodeSystem", v1.Resources[3].ID); err != nil {
			t.Fatalf("first batch not committed: %v", err)
		}
		if err := definitions.LoadData(ctx, s, v1, quiet()); err != nil {
			t.Fatal(err)
		}
		first, last := v1.Resources[0].ID, v1.Resources[11].ID
		vFirst, vLast := versionOf(t, s, first), versionOf(t, s, last)

		// Same version again: nothing is written.
		if err := definitions.LoadData(ctx, s, v1, quiet()); err != nil {
			t.Fatal(err)
		}
		if got := versionOf(t, s, last); got != vLast {
			t.Errorf("second load rewrote %s: version %s → %s", last, vLast, got)
		}

		// A new version that drops the last 2 and changes the rest,
		// stopped after its first batch (the context is cancelled by a
		// commit hook), then resumed.
		stopCtx, stop = context.WithCancel(ctx)
		defer stop()
		v2big := fixture("v2", 10) // three batches
		if err := definitions.LoadData(stopCtx, s, v2big, quiet()); err == nil {
			t.Fatal("load under a cancelled context succeeded")
		}
		if got := versionOf(t, s, first); got == vFirst {
			t.Fatal("first batch of v2 not committed")
		}
		if err := definitions.LoadData(ctx, s, v2big, quiet()); err != nil {
			t.Fatal(err)
		}
		if got := versionOf(t, s, last); got == vLast {
			t.Errorf("%s, absent from v2, still readable (version %s)", last, got)
		}
		if _, err := s.Read(system(), "CodeSystem", v2big.Resources[9].ID); err != nil {
			t.Errorf("resumed batch not written: %v", err)
		}

		// A third version brings the dropped definitions back.
		if err := definitions.LoadData(ctx, s, fixture("v3", 12), quiet()); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Read(system(), "CodeSystem", last); err != nil || !strings.Contains(string(r.Content), `"v3"`) {
			t.Errorf("%s not back in v3: %v", last, err)
		}
	})
}

func TestEmbeddedParses(t *testing.T) {
	d, err := definitions.R4()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range d.Resources {
		count[r.Type]++
	}
	for typ, min := range map[string]int{"StructureDefinition": 200, "SearchParameter": 1300, "ValueSet": 800, "CodeSystem": 600} {
		if count[typ] < min {
			t.Errorf("%s: %d, want at least %d", typ, count[typ], min)
		}
	}
}

// TestLoadR4 loads the full embedded data once per engine and checks the
// second start is a no-op. It takes seconds; -short skips it.
func TestLoadR4(t *testing.T) {
	if testing.Short() {
		t.Skip("full load")
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		began := time.Now()
		if err := definitions.Load(context.Background(), s, quiet()); err != nil {
			t.Fatal(err)
		}
		t.Logf("first load: %v", time.Since(began))
		began = time.Now()
		if err := definitions.Load(context.Background(), s, quiet()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("second load took %v", d)
		}
	})
}
