// Package csvexport serves $csv on a resource type (GET
// /fhir/R4/{type}/$csv?_fields=…&…), the Medplum app's "Export → CSV" of a
// list: the caller's search as a CSV file, one row per match, one column
// per field, as Medplum's csv.ts writes it.
//
// It owns the columns (a field is a search parameter, whose FHIRPath
// expression is evaluated, or else a FHIRPath expression naming an element
// of the type), the cell formatting and its guard against CSV formula
// injection. It reads only through the caller's ward.ResourceReader, one
// search (Medplum's limit: the first 1,000 matches), so a caller exports
// exactly what its search returns. It must not write or reach the
// database directly.
package csvexport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhirpath"
	wardhttp "github.com/wardhealth/ward/http"
)

// MaxRows is how many matches an export holds: Medplum's fixed page of
// 1,000 (a _count in the request is ignored).
const MaxRows = ward.MaxPageSize

// Parse turns a resource type and URL query into a search (search.Parse).
type Parse func(resourceType string, q url.Values) (*ward.SearchQuery, error)

// Route is the $csv route over r, the caller's store.
func Route(r ward.ResourceReader, parse Parse) wardhttp.Route {
	h := handler{r: r, parse: parse}
	return wardhttp.Route{Pattern: "GET /fhir/R4/{type}/$csv", Handler: http.HandlerFunc(h.serve)}
}

type handler struct {
	r     ward.ResourceReader
	parse Parse
}

// Column is one field of the export: its name and its expression.
type Column struct {
	name string
	expr *fhirpath.Expr
}

func (h handler) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	typ := r.PathValue("type")
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		wardhttp.Error(w, r, ward.Errorf(ward.EINVALID, "Invalid query string: %v", err))
		return
	}
	columns, err := Columns(typ, params.Get("_fields"))
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	params.Del("_fields")
	params.Del("_count")
	params.Del("_total") // the app's list sends _total=accurate; a file has no total

	q, err := h.parse(typ, params)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	q.Count = MaxRows
	res, err := h.r.Search(ctx, q)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	wardhttp.NoteQuery(ctx, params.Encode())
	wardhttp.NotePatients(ctx, res.Matches...)
	rows, err := Rows(ctx, columns, res.Matches)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", "attachment; filename=export.csv")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bw := bufio.NewWriterSize(w, 32<<10)
	_ = Write(bw, columns, rows)
	_ = bw.Flush()
}

// Columns reads _fields: comma-separated search parameter codes or FHIRPath
// expressions. No fields, an unknown type, an expression that does not
// parse or a path naming no element of typ are EINVALID.
func Columns(typ, fields string) ([]Column, error) {
	if !fhir.IsResourceType(typ) {
		return nil, ward.Errorf(ward.EINVALID, "Unsupported resource type")
	}
	if strings.TrimSpace(fields) == "" {
		return nil, ward.Errorf(ward.EINVALID, "Missing _fields parameter")
	}
	var out []Column
	for _, field := range strings.Split(fields, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		src := field
		if p, ok := fhir.LookupSearchParam(typ, field); ok && p.Expression != "" {
			src = p.Expression
		}
		e, err := fhirpath.Parse(onType(typ, src))
		if err != nil {
			return nil, &ward.Error{Code: ward.EINVALID, Message: "Invalid FHIRPath expression in _fields: " + field, Expression: []string{"_fields"}}
		}
		if src == field {
			if err := checkElement(typ, field, e.Root()); err != nil {
				return nil, err
			}
		}
		out = append(out, Column{name: field, expr: e})
	}
	return out, nil
}

// baseTypePath is a path (or a union's part) rooted at the base types.
var baseTypePath = regexp.MustCompile(`(^|\|\s*)(Resource|DomainResource)\.`)

// onType roots the paths of src that start at Resource or DomainResource
// ("Resource.meta.lastUpdated", the expression of _lastUpdated) at typ:
// Ward's FHIRPath, unlike Medplum's, finds nothing through a base type name.
func onType(typ, src string) string {
	return baseTypePath.ReplaceAllString(src, "${1}"+typ+".")
}

// checkElement refuses a path that starts with no element of typ ("foo",
// "Patient.foo"): Medplum would write an empty column, which hides a typo.
// Expressions that start otherwise (%resource, a function) pass.
func checkElement(typ, field string, root fhirpath.Node) error {
	var chain []string
	for n := root; n != nil; {
		switch x := n.(type) {
		case *fhirpath.Member:
			chain, n = append(chain, x.Name), x.X
		case *fhirpath.Call:
			chain, n = nil, x.X // only the steps below a function count
		case *fhirpath.Index:
			n = x.X
		case *fhirpath.Ident:
			chain, n = append(chain, x.Name), nil
		default:
			return nil
		}
	}
	if len(chain) == 0 {
		return nil
	}
	first := chain[len(chain)-1]
	if (first == typ || first == "Resource" || first == "DomainResource") && len(chain) > 1 {
		first = chain[len(chain)-2]
	}
	if _, ok := fhir.LookupElement(typ, first); !ok {
		return &ward.Error{Code: ward.EINVALID, Message: "Unknown field in _fields: " + field + " (neither a search parameter nor an element of " + typ + ")", Expression: []string{"_fields"}}
	}
	return nil
}

// Rows evaluates every column on every resource: the first value of each,
// formatted as a cell.
func Rows(ctx context.Context, columns []Column, resources []*ward.Resource) ([][]string, error) {
	rows := make([][]string, 0, len(resources))
	need := members(nil)
	if len(resources) > 0 {
		need = readMembers(resources[0].Type, columns)
	}
	for _, res := range resources {
		data, err := need.project(res.Content)
		if err != nil {
			return nil, ward.Errorf(ward.EINTERNAL, "read %s: %v", res.Reference(), err)
		}
		var content map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&content); err != nil {
			return nil, ward.Errorf(ward.EINTERNAL, "decode %s: %v", res.Reference(), err)
		}
		row := make([]string, len(columns))
		for i, c := range columns {
			values, err := c.expr.Eval(ctx, content, nil)
			if err != nil {
				return nil, &ward.Error{Code: ward.EINVALID, Message: "Invalid FHIRPath expression in _fields: " + c.name, Expression: []string{"_fields"}}
			}
			if len(values) > 0 {
				row[i] = Cell(values[0].Data)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Write writes the file: a UTF-8 byte order mark, the header of field
// names, then rows; lines end with "\n", the last without one (as Medplum).
func Write(w *bufio.Writer, columns []Column, rows [][]string) error {
	w.WriteString("\uFEFF")
	for i, c := range columns {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(headerCell(c.name))
	}
	for _, row := range rows {
		w.WriteByte('\n')
		for i, cell := range row {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(cell)
		}
	}
	return w.Flush()
}

// headerCell is a field name as written (as Medplum), unless a CSV reader
// would split it (a quote, a line break) or a spreadsheet run it (a
// leading formula character): such a name is escaped as text is.
func headerCell(name string) string {
	if strings.ContainsAny(name, "\"\r\n") || strings.ContainsRune(injectionStarts, rune(name[0])) {
		return escapeText(name)
	}
	return name
}
