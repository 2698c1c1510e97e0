package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// failInterruptedJobs marks error every AsyncJob still accepted when the
// server starts: its worker ($export, $expunge, $set-accounts) ran in the
// process that stopped, so it will never finish, and a client polling it
// must see it fail rather than wait forever. (One process per database
// until the fleet's job leases; see the fleet issue.)
func failInterruptedJobs(ctx context.Context, s *store.Store, logger *slog.Logger) error {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	q, err := search.Parse("AsyncJob", url.Values{"status": {"accepted"}, "_count": {"1000"}})
	if err != nil {
		return err
	}
	res, err := s.Search(sys, q)
	if err != nil {
		return err
	}
	for _, job := range res.Matches {
		err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
			var j map[string]any
			if err := json.Unmarshal(job.Content, &j); err != nil {
				return err
			}
			j["status"] = "error"
			j["transactionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			j["output"] = map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "outcome", "resource": map[string]any{
				"resourceType": "OperationOutcome",
				"issue": []any{map[string]any{"severity": "error", "code": "incomplete",
					"details": map[string]any{"text": "Interrupted: the server restarted while the job ran; start it again"}}},
			}}}}
			body, _ := json.Marshal(j)
			_, _, err := tx.Update(ctx, "AsyncJob", job.ID, body, job.VersionID)
			return err
		})
		if err != nil {
			return err
		}
		logger.WarnContext(ctx, "ward: a job interrupted by the last stop is marked failed", "job", job.ID)
	}
	return nil
}
