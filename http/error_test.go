package wardhttp

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/wardhealth/ward"
)

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err             error
		status          int
		id, issue, text string
		expression      []string
	}{
		{ward.Errorf(ward.ENOTFOUND, "Not found"), 404, "not-found", "not-found", "Not found", nil},
		{ward.Errorf(ward.EGONE, ""), 410, "gone", "deleted", "Gone", nil},
		{ward.Errorf(ward.EFORBIDDEN, ""), 403, "forbidden", "forbidden", "Forbidden", nil},
		{ward.Errorf(ward.EUNAUTHORIZED, ""), 401, "unauthorized", "login", "Unauthorized", nil},
		{&ward.Error{Code: ward.EINVALID, Message: "Unknown search parameter: foo", Expression: []string{"foo"}}, 400, "", "invalid", "Unknown search parameter: foo", []string{"foo"}},
		{ward.Errorf(ward.EPRECONDITION, "Version mismatch"), 412, "precondition-failed", "processing", "Version mismatch", nil},
		{ward.Errorf(ward.EMULTIPLE, "two"), 412, "multiple-matches", "multiple-matches", "two", nil},
		{ward.Errorf(ward.ECONFLICT, "dup"), 409, "conflict", "conflict", "dup", nil},
		{ward.Errorf(ward.ETOOLARGE, "big"), 413, "", "too-long", "big", nil},
		{ward.Errorf(ward.EUNSUPPORTED, "xml"), 415, "", "not-supported", "xml", nil},
		{ward.Errorf(ward.EUNPROCESSABLE, "no"), 422, "", "processing", "no", nil},
		{ward.Errorf(ward.ETOOMANY, ""), 429, "too-many-requests", "throttled", "Too many requests", nil},
		{ward.Errorf(ward.ENOTALLOWED, "no"), 405, "", "not-supported", "no", nil},
		{ward.Errorf(ward.EINTERNAL, "secret detail"), 500, "", "exception", "Internal server error", nil},
		{errors.New("pq: secret"), 500, "", "exception", "Internal server error", nil},
		{ward.Errorf("made-up-code", "secret"), 500, "", "exception", "Internal server error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			w := httptest.NewRecorder()
			Error(w, httptest.NewRequest("GET", "/x", nil), tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			var oo OperationOutcome
			if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil {
				t.Fatal(err)
			}
			is := oo.Issue[0]
			if oo.ResourceType != "OperationOutcome" || oo.ID != tt.id || is.Code != tt.issue ||
				is.Severity != "error" || is.Details.Text != tt.text || len(is.Expression) != len(tt.expression) {
				t.Errorf("outcome %s", w.Body)
			}
		})
	}
}
