package graphql

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
)

const (
	// MaxDepth is the deepest field nesting a query may have (Medplum's).
	MaxDepth = 12
	// MaxResolutions caps the store look-ups of one request: root reads
	// and searches, reverse lookups and reference batches.
	MaxResolutions = 1000
	// MaxResources caps the resources one answer holds.
	MaxResources = 20000
	// MaxFilters caps the search parameters (each _filter comparison
	// counted) past the first freeFilters of each list, connection and
	// reverse lookup of one request: about two searches of REST's most.
	// Lists of a few parameters are bounded by MaxResolutions alone.
	MaxFilters = 200
	// freeFilters are the parameters of a search MaxFilters does not count.
	freeFilters = 5
	// maxTypeQueries is the most __type fields a non-admin query selects.
	maxTypeQueries = 5
	// maxIDs is the most ids one reference batch asks for (search's
	// limit of ORed values).
	maxIDs = 100
	// defaultCount is the page size of a list without _count (REST's).
	defaultCount = ward.DefaultPageSize
)

// Handler serves /fhir/R4/$graphql. Mount it behind the caller resolution
// (wardhttp.Options.Operations): it needs the Principal in the context.
type Handler struct {
	r      *resolvers
	schema func() (gql.Schema, error)
	// the limits per request; tests lower them.
	maxResolutions, maxResources int
}

// New returns a Handler over store. The schema is built on the first
// request and kept for the Handler's life.
func New(store ward.ResourceStore, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	r := &resolvers{store: notingStore{store}, parse: search.Parse, logger: logger}
	return &Handler{
		r:              r,
		maxResolutions: MaxResolutions,
		maxResources:   MaxResources,
		schema:         sync.OnceValues(func() (gql.Schema, error) { return newSchemaBuilder(r).build() }),
	}
}

// request body of $graphql.
type body struct {
	Query         string
	OperationName string
	Variables     map[string]any
}

// postBody is a POST's JSON, its variables kept as bytes until checkVariables
// has seen them.
type postBody struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
}

// ServeHTTP answers 200 {"data": …, "errors": […]} once the query is valid;
// malformed JSON, a syntax error, a query the schema refuses or one over
// the shape limits is a 400 OperationOutcome, introspection beyond a
// non-admin's share a 403.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, schema, doc, err := h.prepare(r)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	result := gql.Execute(gql.ExecuteParams{
		Schema:        schema,
		AST:           doc,
		OperationName: req.OperationName,
		Args:          req.Variables,
		Context:       withRequest(r.Context(), h.maxResolutions, h.maxResources),
	})
	locate(result.Errors, req.Query)
	out, err := json.Marshal(result)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// prepare reads, parses and checks the request up to execution.
func (h *Handler) prepare(r *http.Request) (*body, gql.Schema, *ast.Document, error) {
	req, err := readRequest(r)
	if err != nil {
		return nil, gql.Schema{}, nil, err
	}
	schema, err := h.schema()
	if err != nil {
		return nil, schema, nil, err // a bug in the generated schema: 500, logged
	}
	doc, err := parseQuery(req.Query)
	if err != nil {
		return nil, schema, nil, err
	}
	// The shape checks run before validation too: they are linear, and
	// they bound the validation, whose overlapping-fields rule is
	// quadratic in fields repeated under one name.
	if err := checkShape(doc); err != nil {
		return nil, schema, nil, err
	}
	if v := gql.ValidateDocument(&schema, doc, gql.SpecifiedRules); !v.IsValid {
		return nil, schema, nil, ward.Errorf(ward.EINVALID, "%s", v.Errors[0].Message)
	}
	if p := ward.PrincipalFromContext(r.Context()); p == nil || !p.Admin && !p.System {
		if all, types := introspection(doc); all || types > maxTypeQueries {
			return nil, schema, nil, ward.Errorf(ward.EFORBIDDEN, "Schema introspection (__schema, or more than %d __type fields) is for project admins", maxTypeQueries)
		}
	}
	if r.Method == http.MethodGet && hasMutation(doc) {
		return nil, schema, nil, ward.Errorf(ward.EINVALID, "Mutations must be sent with POST")
	}
	return req, schema, doc, nil
}

// readRequest reads the JSON body of a POST, or query, operationName and
// variables of a GET.
func readRequest(r *http.Request) (*body, error) {
	var b body
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		b.Query, b.OperationName = q.Get("query"), q.Get("operationName")
		vars, err := decodeVariables([]byte(q.Get("variables")))
		if err != nil {
			return nil, err
		}
		b.Variables = vars
	} else {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, ward.Errorf(ward.ETOOLARGE, "Request body too large")
		}
		var p postBody
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, ward.Errorf(ward.EINVALID, "Invalid JSON: %s", err)
		}
		vars, err := decodeVariables(p.Variables)
		if err != nil {
			return nil, err
		}
		b = body{Query: p.Query, OperationName: p.OperationName, Variables: vars}
	}
	wardhttp.NoteQuery(r.Context(), b.Query)
	if b.Query == "" {
		return nil, ward.Errorf(ward.EINVALID, "Must provide query.")
	}
	return &b, nil
}

// decodeVariables decodes a request's variables after checking their
// shape with a resource's limits (fhir.CheckShapeJSON): a mutation's
// resource arrives there, and graphql-go coerces every value of it against
// the input types before any resolver sees it (a Patient with 100,000
// names took 4.5 s to refuse), so sizes the store would refuse are refused
// from the bytes.
func decodeVariables(data []byte) (map[string]any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if !json.Valid(data) {
		return nil, ward.Errorf(ward.EINVALID, "Invalid variables: not valid JSON")
	}
	if err := fhir.CheckShapeJSON(data, "variables"); err != nil {
		return nil, err
	}
	var vars map[string]any
	if err := json.Unmarshal(data, &vars); err != nil {
		return nil, ward.Errorf(ward.EINVALID, "Invalid variables: %s", err)
	}
	return vars, nil
}

func gqlMessage(err error) string {
	if e, ok := err.(*gqlerrors.Error); ok {
		return e.Message
	}
	return err.Error()
}

// hasMutation reports whether doc defines a mutation: a GET must not write.
func hasMutation(doc *ast.Document) bool {
	for _, d := range doc.Definitions {
		if op, ok := d.(*ast.OperationDefinition); ok && op.Operation == ast.OperationTypeMutation {
			return true
		}
	}
	return false
}
