package subscription

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// deliver POSTs r to s's endpoint until a 2xx/3xx answer or s's attempts
// are spent, waiting RetryBase·2ⁿ between attempts. Each attempt holds a
// slot only while its request is in flight, so a hook that fails forever
// only delays its own retries.
func (d *Dispatcher) deliver(ctx context.Context, s *subscription, c store.Change, r *ward.Resource) {
	wait := orDefault(d.RetryBase, time.Second)
	for attempt := 0; ; attempt++ {
		status, err := d.post(ctx, s, c, r)
		ok := err == nil && status >= 200 && status < 400
		d.audit(ctx, s, c, status, err, ok)
		if ok || attempt >= s.MaxAttempts || ctx.Err() != nil {
			if !ok && ctx.Err() == nil {
				d.logger().Warn("subscriptions: rest-hook gave up", "subscription", s.ID, "resource", c.Type+"/"+c.ID, "attempts", attempt+1, "status", status, "err", err)
			}
			return
		}
		sleep(ctx, wait)
		wait *= 2
	}
}

// post makes one attempt and returns the hook's status.
func (d *Dispatcher) post(ctx context.Context, s *subscription, c store.Change, r *ward.Resource) (int, error) {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-d.slots }()
	ctx, cancel := context.WithTimeout(ctx, orDefault(d.Timeout, 120*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, bytes.NewReader(r.Content))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("X-Medplum-Subscription", s.ID)
	req.Header.Set("X-Medplum-Interaction", interaction(c.Operation))
	for _, h := range s.Headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

// interaction is Medplum's X-Medplum-Interaction for an outbox operation.
func interaction(op string) string {
	if op == store.OpCreate {
		return "create"
	}
	return "update"
}

// audit records one attempt in the subscription's project trail. The
// endpoint is not recorded: its query string may hold a secret.
func (d *Dispatcher) audit(ctx context.Context, s *subscription, c store.Change, status int, err error, ok bool) {
	if d.Audit == nil {
		return
	}
	rec := &ward.AuditRecord{
		Time: time.Now(), ProjectID: s.ProjectID, Kind: "rest", Action: "E", Interaction: "$subscription-rest-hook",
		Outcome: "0", Status: status, Profile: s.Author, Query: "Subscription/" + s.ID,
		ResourceType: c.Type, ResourceID: c.ID, VersionID: c.VersionID, Results: -1,
	}
	for _, p := range c.Compartment {
		if strings.HasPrefix(p, "Patient/") {
			rec.Patients = append(rec.Patients, p)
		}
	}
	if !ok {
		rec.Outcome = "4"
		rec.Reason = fmt.Sprintf("rest-hook answered %d", status)
		if err != nil {
			rec.Reason = "rest-hook failed: " + errorKind(err)
		}
	}
	if err := d.Audit.Record(context.WithoutCancel(ctx), rec); err != nil {
		d.logger().Error("subscriptions: audit record failed", "subscription", s.ID, "err", err)
	}
}

// errorKind names a transport failure without the URL it carries.
func errorKind(err error) string {
	switch {
	case err == context.DeadlineExceeded || strings.Contains(err.Error(), "deadline exceeded"):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	}
	return "transport error"
}

func (d *Dispatcher) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return http.DefaultClient
}
