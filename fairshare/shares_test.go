package fairshare

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardhealth/ward"
)

func refusal(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || ward.ErrorCode(err) != ward.ETOOMANY {
		t.Fatalf("err = %v, want a Refusal (ETOOMANY)", err)
	}
	return r
}

// TestSlotsAreHandedOnInOrder: past its slots a project's expensive
// request waits and gets the first slot given back; one that waits too
// long is refused with Retry-After; a cheap request needs no slot; another
// project has slots of its own.
func TestSlotsAreHandedOnInOrder(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Defaults: Limits{Concurrent: 1}, Wait: 200 * time.Millisecond})
	first, err := s.Admit(ctx, "a", true)
	if err != nil {
		t.Fatal(err)
	}
	admitted := make(chan *Ticket)
	go func() {
		t2, err := s.Admit(ctx, "a", true)
		if err != nil {
			t.Error(err)
		}
		admitted <- t2
	}()
	time.Sleep(20 * time.Millisecond)
	if cheap, err := s.Admit(ctx, "a", false); err != nil {
		t.Errorf("a cheap request while the slot is taken: %v", err)
	} else {
		cheap.Done()
	}
	if other, err := s.Admit(ctx, "b", true); err != nil {
		t.Errorf("another project's expensive request: %v", err)
	} else {
		other.Done()
	}
	first.Done()
	second := <-admitted
	_, err = s.Admit(ctx, "a", true)
	if r := refusal(t, err); r.Limit != "concurrency" || r.RetryAfterSeconds() < 1 {
		t.Errorf("refusal = %+v", r)
	}
	second.Done()
	third, err := s.Admit(ctx, "a", true)
	if err != nil {
		t.Fatalf("after the slot came back: %v", err)
	}
	third.Done()
}

// TestRateRefusalSaysWhenToRetry: a bucket of 60 a minute refuses the
// 61st request with a Retry-After of about a second, and a changed
// override (after Invalidate) applies to the next request.
func TestRateRefusalSaysWhenToRetry(t *testing.T) {
	ctx := context.Background()
	limit := 60
	s := New(Options{Load: func(context.Context, string) (Limits, error) { return Limits{RequestsPerMinute: limit}, nil }})
	for i := range 60 {
		tk, err := s.Admit(ctx, "a", false)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		tk.Done()
	}
	_, err := s.Admit(ctx, "a", false)
	if r := refusal(t, err); r.Limit != "rate" || r.RetryAfterSeconds() != 1 {
		t.Errorf("refusal = %+v (Retry-After %d), want rate, 1 s", r, r.RetryAfterSeconds())
	}
	limit = 120
	s.Invalidate([]*ward.Resource{{Type: "Project", ID: "a"}})
	if _, err := s.Admit(ctx, "a", false); err != nil {
		t.Errorf("after a raised override: %v", err)
	}
}

// TestMetricsLabelTheBusiestProjects: /metrics shows TopProjects projects,
// the busiest, and says how many it left out.
func TestMetricsLabelTheBusiestProjects(t *testing.T) {
	ctx := context.Background()
	s := New(Options{TopProjects: 2})
	for project, n := range map[string]int{"busy": 5, "middle": 3, "quiet": 1} {
		for range n {
			tk, _ := s.Admit(ctx, project, true)
			tk.Returned(2)
			tk.Done()
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	want := `
# HELP ward_project_resources_returned_total Resources returned per project by reads, searches, history, $everything and $graphql (rows scanned are not measured).
# TYPE ward_project_resources_returned_total counter
ward_project_resources_returned_total{project="busy"} 10
ward_project_resources_returned_total{project="middle"} 6
# HELP ward_project_labelled Projects this process has seen requests of, and how many of them the per-project series label (-metrics-top-projects).
# TYPE ward_project_labelled gauge
ward_project_labelled{of="labelled"} 2
ward_project_labelled{of="seen"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ward_project_resources_returned_total", "ward_project_labelled"); err != nil {
		t.Error(err)
	}
}
