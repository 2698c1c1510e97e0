package subscription

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
)

// The server's messages on /ws/subscriptions-r4, in Medplum's shapes:
// Bundles of type "history" whose first entry is a SubscriptionStatus
// (handshake, heartbeat, event-notification), and OperationOutcomes for
// refused messages.

type bundle struct {
	ID           string  `json:"id"`
	ResourceType string  `json:"resourceType"`
	Type         string  `json:"type"`
	Timestamp    string  `json:"timestamp"`
	Entry        []entry `json:"entry"`
}

type entry struct {
	Resource any    `json:"resource"`
	FullURL  string `json:"fullUrl,omitempty"`
}

type subscriptionStatus struct {
	ResourceType      string              `json:"resourceType"`
	ID                string              `json:"id"`
	Status            string              `json:"status"`
	Type              string              `json:"type"`
	Subscription      reference           `json:"subscription"`
	NotificationEvent []notificationEvent `json:"notificationEvent,omitempty"`
}

type notificationEvent struct {
	EventNumber string    `json:"eventNumber"`
	Timestamp   string    `json:"timestamp"`
	Focus       reference `json:"focus"`
}

type reference struct {
	Reference string `json:"reference"`
}

// timestamp is an instant as JavaScript's toISOString writes it.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func status(kind, subscription string) *subscriptionStatus {
	return &subscriptionStatus{ResourceType: "SubscriptionStatus", ID: uuid.NewString(), Status: "active", Type: kind,
		Subscription: reference{"Subscription/" + subscription}}
}

func historyBundle(at time.Time, entries ...entry) []byte {
	data, _ := json.Marshal(bundle{ID: uuid.NewString(), ResourceType: "Bundle", Type: "history", Timestamp: timestamp(at), Entry: entries})
	return data
}

// handshake tells the client its binding to subscription is active.
func handshake(subscription string) []byte {
	return historyBundle(time.Now(), entry{Resource: status("handshake", subscription)})
}

// heartbeatBundle names every Subscription a socket is bound to.
func heartbeatBundle(subscriptions []string) []byte {
	entries := make([]entry, len(subscriptions))
	for i, s := range subscriptions {
		entries[i] = entry{Resource: status("heartbeat", s)}
	}
	return historyBundle(time.Now(), entries...)
}

// eventNotification carries r, as the subscription's author sees it, with
// its fullUrl under baseURL.
func eventNotification(baseURL, subscription string, r *ward.Resource) []byte {
	now := time.Now()
	st := status("event-notification", subscription)
	ref := r.Type + "/" + r.ID
	st.NotificationEvent = []notificationEvent{{EventNumber: "0", Timestamp: timestamp(now), Focus: reference{ref}}}
	return historyBundle(now, entry{Resource: st},
		entry{Resource: json.RawMessage(r.Content), FullURL: strings.TrimSuffix(baseURL, "/") + "/fhir/R4/" + ref})
}

// badRequest is Medplum's badRequest OperationOutcome.
func badRequest(text string) []byte {
	return outcome("invalid", text)
}

func serverError() []byte { return outcome("exception", "Internal server error") }

func outcome(code, text string) []byte {
	data, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{"severity": "error", "code": code, "details": map[string]string{"text": text}}}})
	return data
}
