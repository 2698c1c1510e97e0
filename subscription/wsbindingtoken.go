package subscription

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	wardhttp "github.com/wardhealth/ward/http"
)

// Routes are the WebSocket subscriptions' HTTP routes: the socket itself
// (it authorizes each binding by its token, so it is served without a
// caller) and the FHIR operation handing out binding tokens (served like
// every operation, behind the caller resolution).
func (w *WebSockets) Routes() (routes, operations []wardhttp.Route) {
	return []wardhttp.Route{{Pattern: "GET " + WebSocketPath, Handler: w}},
		[]wardhttp.Route{{Pattern: "GET /fhir/R4/Subscription/{id}/$get-ws-binding-token", Handler: http.HandlerFunc(w.serveBindingToken)}}
}

// serveBindingToken is Subscription/[id]/$get-ws-binding-token: a token
// binding the caller to one of their websocket Subscriptions, valid for
// auth.WSBindingLifetime, in Medplum's Parameters.
func (w *WebSockets) serveBindingToken(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller := ward.PrincipalFromContext(ctx)
	if caller == nil {
		wardhttp.Error(rw, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	// Read as the caller (who must be able to read it), extended so that
	// meta.author, the one who may bind, is not stripped by the gate.
	extended := *caller
	extended.Extended = true
	res, err := w.Store.Read(ward.NewContextWithPrincipal(ctx, &extended), "Subscription", r.PathValue("id"))
	if err != nil {
		wardhttp.Error(rw, r, err)
		return
	}
	if err := bindable(res, caller); err != nil {
		wardhttp.Error(rw, r, err)
		return
	}
	token, expires, err := w.Tokens.IssueWSBindingToken(ctx, caller, res.ID)
	if err != nil {
		wardhttp.Error(rw, r, err)
		return
	}
	out := map[string]any{"resourceType": "Parameters", "parameter": []map[string]string{
		{"name": "token", "valueString": token},
		{"name": "expiration", "valueDateTime": timestamp(expires)},
		{"name": "subscription", "valueString": res.ID},
		{"name": "websocket-url", "valueUrl": websocketURL(w.BaseURL)},
	}}
	body, _ := json.Marshal(out)
	rw.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	_, _ = rw.Write(body)
}

// bindable refuses, with Medplum's 400s, a Subscription that is not a
// websocket one or whose criteria names no resource type, and, with 403,
// one the caller did not write: its notifications are matched under its
// author's access policy, which may see more than the caller.
func bindable(res *ward.Resource, caller *ward.Principal) error {
	var j subscriptionJSON
	if err := json.Unmarshal(res.Content, &j); err != nil {
		return err
	}
	if j.Channel.Type != ChannelWebSocket {
		return ward.Errorf(ward.EINVALID, "Invalid channel type for this operation: %s", j.Channel.Type)
	}
	if j.Criteria == "" {
		return ward.Errorf(ward.EINVALID, "Invalid empty Subscription criteria")
	}
	if typ, _, _ := strings.Cut(j.Criteria, "?"); !fhir.IsResourceType(typ) {
		return ward.Errorf(ward.EINVALID, "Invalid Subscription criteria: '%s'. '%s' is not a valid resource type.", j.Criteria, typ)
	}
	if caller.Author == "" || j.Meta.Author.Reference != caller.Author {
		return ward.Errorf(ward.EFORBIDDEN, "Only the author of Subscription/%s may bind to it", res.ID)
	}
	return nil
}

// websocketURL is Medplum's websocket-url: the base URL with ws(s).
func websocketURL(baseURL string) string {
	u := strings.TrimSuffix(baseURL, "/") + WebSocketPath
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	return u
}
