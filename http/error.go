package wardhttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wardhealth/ward"
)

// outcomeShape is how one ward error code appears on the wire: its HTTP
// status, the OperationOutcome id Medplum's client recognises (empty for
// none), the issue code and the text used when the error carries none.
type outcomeShape struct {
	status int
	id     string
	issue  string
	text   string
}

// outcomeShapes is the one table from ward error code to HTTP status and
// OperationOutcome. Nothing else decides a status.
var outcomeShapes = map[string]outcomeShape{
	ward.EINVALID:       {http.StatusBadRequest, "", "invalid", "Invalid request"},
	ward.ESTRUCTURE:     {http.StatusBadRequest, "", "structure", "Invalid reference"},
	ward.EUNAUTHORIZED:  {http.StatusUnauthorized, "unauthorized", "login", "Unauthorized"},
	ward.EFORBIDDEN:     {http.StatusForbidden, "forbidden", "forbidden", "Forbidden"},
	ward.ENOTFOUND:      {http.StatusNotFound, "not-found", "not-found", "Not found"},
	ward.ENOTALLOWED:    {http.StatusMethodNotAllowed, "", "not-supported", "Method not allowed"},
	ward.ECONFLICT:      {http.StatusConflict, "conflict", "conflict", "Conflict"},
	ward.EGONE:          {http.StatusGone, "gone", "deleted", "Gone"},
	ward.EPRECONDITION:  {http.StatusPreconditionFailed, "precondition-failed", "processing", "Precondition Failed"},
	ward.EMULTIPLE:      {http.StatusPreconditionFailed, "multiple-matches", "multiple-matches", "Multiple resources found matching condition"},
	ward.ETOOLARGE:      {http.StatusRequestEntityTooLarge, "", "too-long", "Request body too large"},
	ward.EUNSUPPORTED:   {http.StatusUnsupportedMediaType, "", "not-supported", "Unsupported media type"},
	ward.EUNPROCESSABLE: {http.StatusUnprocessableEntity, "", "processing", "Unprocessable entity"},
	ward.ETOOMANY:       {http.StatusTooManyRequests, "too-many-requests", "throttled", "Too many requests"},
	ward.EINTERNAL:      {http.StatusInternalServerError, "", "exception", "Internal server error"},
}

func shapeOf(code string) outcomeShape { return outcomeShapes[knownCode(code)] }

// knownCode returns code, or EINTERNAL for a code this table does not know:
// such an error is a bug and is treated (and hidden) as internal.
func knownCode(code string) string {
	if _, ok := outcomeShapes[code]; ok {
		return code
	}
	return ward.EINTERNAL
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int { return shapeOf(ward.ErrorCode(err)).status }

// OperationOutcome is the FHIR resource every error becomes.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	ID           string  `json:"id,omitempty"`
	Issue        []Issue `json:"issue"`
}

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity   string   `json:"severity"`
	Code       string   `json:"code"`
	Details    *Details `json:"details,omitempty"`
	Expression []string `json:"expression,omitempty"`
}

// Details is OperationOutcome.issue.details (text only).
type Details struct {
	Text string `json:"text"`
}

// outcomeOf returns the OperationOutcome shown to the caller for err. Errors
// that are not *ward.Error show only "Internal server error".
func outcomeOf(err error) *OperationOutcome {
	code := knownCode(ward.ErrorCode(err))
	shape := outcomeShapes[code]
	text := shape.text
	var expression []string
	var e *ward.Error
	if errors.As(err, &e) && code != ward.EINTERNAL {
		if e.Message != "" {
			text = e.Message
		}
		expression = e.Expression
	}
	return &OperationOutcome{
		ResourceType: "OperationOutcome",
		ID:           shape.id,
		Issue: []Issue{{
			Severity:   "error",
			Code:       shape.issue,
			Details:    &Details{Text: text},
			Expression: expression,
		}},
	}
}

// infoOutcome is a successful OperationOutcome such as Medplum's allOk.
func infoOutcome(id, text string) *OperationOutcome {
	return &OperationOutcome{
		ResourceType: "OperationOutcome",
		ID:           id,
		Issue:        []Issue{{Severity: "information", Code: "informational", Details: &Details{Text: text}}},
	}
}

func allOK() *OperationOutcome { return infoOutcome("ok", "All OK") }

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with our own marshalable types
	}
	return data
}

// Error writes err as an OperationOutcome with the status of its code. An
// internal error is logged with its real text and shown as "Internal server
// error". When the client has hung up, the failure is its own doing (the
// store call was canceled with the request): the request is recorded as 499
// and nothing is logged as an error.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r) {
		loggerFrom(r.Context()).DebugContext(r.Context(), "client closed the request",
			"method", r.Method, "path", r.URL.Path, "error", err)
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	if knownCode(ward.ErrorCode(err)) == ward.EINTERNAL {
		loggerFrom(r.Context()).ErrorContext(r.Context(), "internal error",
			"method", r.Method, "path", r.URL.Path, "error", err)
	}
	outcome := outcomeOf(err)
	noteReason(r.Context(), outcome.Issue[0].Details.Text)
	writeJSON(w, ErrorStatus(err), mustJSON(outcome))
}

// StatusClientClosedRequest is nginx's 499, the status the request log and
// metrics record for a request whose client disconnected before the answer.
// The client never sees it.
const StatusClientClosedRequest = 499

// clientGone reports whether the client of r disconnected: net/http then
// cancels the request's own context. A timeout inside the server ends a
// derived context with DeadlineExceeded instead, and stays a server error.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// writeJSON writes a FHIR JSON body with status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", fhirJSON)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

const fhirJSON = "application/fhir+json; charset=utf-8"

type loggerKey struct{}

func contextWithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// loggerFrom returns the request's logger, put in the context by the logging
// middleware, or slog's default outside a request.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func invalidf(format string, args ...any) error { return ward.Errorf(ward.EINVALID, format, args...) }
