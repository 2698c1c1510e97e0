package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/sqlite"
)

// TestInterruptedJobsFailVisibly: a job still accepted when the server
// starts again is marked error with a reason; a finished job is left.
func TestInterruptedJobsFailVisibly(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	project := uuid.NewString()
	ids := map[string]string{}
	for _, status := range []string{"accepted", "completed"} {
		body := `{"resourceType":"AsyncJob","meta":{"project":"` + project + `"},"status":"` + status + `","request":"http://x/fhir/R4/$export","requestTime":"2026-01-01T00:00:00Z"}`
		err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
			res, err := tx.Create(ctx, "AsyncJob", []byte(body))
			if err == nil {
				ids[status] = res.ID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := failInterruptedJobs(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]string{"accepted": "error", "completed": "completed"} {
		res, err := s.Read(sys, "AsyncJob", ids[status])
		if err != nil {
			t.Fatal(err)
		}
		var job struct{ Status string }
		json.Unmarshal(res.Content, &job)
		if job.Status != want {
			t.Errorf("a job %s before the restart is %s after, want %s", status, job.Status, want)
		}
	}
}
