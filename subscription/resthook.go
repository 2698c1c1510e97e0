package subscription

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
)

// rendered is what one delivery sends: the resource as its subscription's
// author sees it, and whether it is a deletion's notice.
type rendered struct {
	res     *ward.Resource
	deleted bool
}

// body is the POST body: the resource, or, for a deletion, as Medplum,
// an empty object (the resource is named by X-Medplum-Deleted-Resource).
func (r *rendered) body() []byte {
	if r.deleted {
		return []byte("{}")
	}
	return r.res.Content
}

// post makes one attempt of x and returns the hook's status.
func (d *Dispatcher) post(ctx context.Context, s *subscription, x store.Delivery, r *rendered) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint, bytes.NewReader(r.body()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("X-Medplum-Subscription", s.ID)
	req.Header.Set("X-Medplum-Interaction", x.Interaction)
	if r.deleted {
		req.Header.Set("X-Medplum-Deleted-Resource", x.ResourceType+"/"+x.ResourceID)
	}
	for _, h := range s.Headers {
		req.Header.Set(h[0], h[1])
	}
	if s.Secret != "" { // after the channel's headers, which cannot forge it
		req.Header.Set("X-Signature", signature(s.Secret, r.body()))
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

// interaction is Medplum's X-Medplum-Interaction for an outbox operation
// (a PATCH is an update).
func interaction(op string) string {
	switch op {
	case store.OpCreate:
		return "create"
	case store.OpDelete:
		return "delete"
	}
	return "update"
}

// operation is the outbox operation of a queued interaction.
func operation(interaction string) string {
	switch interaction {
	case "create":
		return store.OpCreate
	case "delete":
		return store.OpDelete
	}
	return store.OpUpdate
}

// audit records one attempt in the subscription's project trail. The
// endpoint is not recorded: its query string may hold a secret.
func (d *Dispatcher) audit(ctx context.Context, s *subscription, x store.Delivery, r *rendered, status int, err error, ok bool) {
	if d.Audit == nil {
		return
	}
	rec := &ward.AuditRecord{
		Time: time.Now(), ProjectID: s.ProjectID, Kind: "rest", Action: "E", Interaction: "$subscription-rest-hook",
		Outcome: "0", Status: status, Profile: s.Author, Query: "Subscription/" + s.ID,
		ResourceType: x.ResourceType, ResourceID: x.ResourceID, VersionID: r.res.VersionID, Results: -1,
		Patients: r.res.Patients,
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
	var refused *egress.RefusedError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &refused):
		return "endpoint not allowed: " + refused.Reason
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded"):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	}
	return "transport error"
}
