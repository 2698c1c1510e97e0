package search

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

const (
	// DefaultCount is the page size when _count is absent.
	DefaultCount = ward.DefaultPageSize
	// MaxCount is the largest page size.
	MaxCount = ward.MaxPageSize
	// maxHasDepth bounds nested _has chains.
	maxHasDepth = 3
	// maxValues bounds the ORed values of one parameter.
	maxValues = 100
	// maxParams bounds the parameters of one search (each _filter
	// comparison counted): 5,000 ANDed name=x were a 500 on SQLite
	// (expression tree too large) and took the PostgreSQL server down
	// after two minutes.
	maxParams = 100
)

// Parse parses the query of a search on resourceType.
func Parse(resourceType string, q url.Values) (*ward.SearchQuery, error) {
	if !fhir.IsResourceType(resourceType) {
		return nil, invalid("", "Unknown resource type: %s", resourceType)
	}
	out := &ward.SearchQuery{ResourceType: resourceType}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := 0
	for _, key := range keys {
		if n += len(q[key]); n > maxParams {
			return nil, tooManyParams("")
		}
		for _, value := range q[key] {
			if err := checkText(key, value); err != nil {
				return nil, err
			}
			if err := parseParam(out, key, value); err != nil {
				return nil, err
			}
		}
	}
	if out.ParamCount() > maxParams {
		return nil, tooManyParams("")
	}
	return out, nil
}

// checkText refuses a parameter name or value that no stored text can
// match and that PostgreSQL refuses as a query argument (a 500 there): a
// NUL character or bytes that are not UTF-8. Every surface that searches
// (REST, conditional writes, conditional references, $graphql, AccessPolicy
// criteria) goes through Parse, so this is the one place that checks.
func checkText(key, value string) error {
	name := key
	if !printable(key) {
		name = strings.Trim(strconv.QuoteToASCII(key), `"`)
	}
	for _, s := range []string{key, value} {
		switch {
		case strings.IndexByte(s, 0) >= 0:
			return invalid(name, "Invalid search parameter %s: contains a NUL character", name)
		case !utf8.ValidString(s):
			return invalid(name, "Invalid search parameter %s: not valid UTF-8", name)
		}
	}
	return nil
}

// printable reports whether s can be shown as it is in an error.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func tooManyParams(param string) error {
	return invalid(param, "Too many search parameters (at most %d)", maxParams)
}

// ParseCriteria parses "Type?query", the form of AccessPolicy criteria.
// Values such as %organization pass through unchanged: variables are
// substituted before parsing, structurally, by the policy package.
func ParseCriteria(criteria string) (*ward.SearchQuery, error) {
	typ, query, _ := strings.Cut(criteria, "?")
	return Parse(typ, lenientQuery(query))
}

// lenientQuery splits a query like url.ParseQuery but keeps a part that is
// not valid percent-encoding (such as %organization) as written.
func lenientQuery(query string) url.Values {
	out := url.Values{}
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		out.Add(unescape(k), unescape(v))
	}
	return out
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func invalid(param, format string, args ...any) error {
	e := ward.Errorf(ward.EINVALID, format, args...)
	if param != "" {
		e.Expression = []string{param}
	}
	return e
}

// parseParam adds one key=value occurrence to q.
func parseParam(q *ward.SearchQuery, key, value string) error {
	name, modifier, _ := strings.Cut(key, ":")
	switch name {
	case "_format", "_pretty":
		return nil
	case "_count":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return invalid(key, "Invalid _count: %s", value)
		}
		q.Count = min(n, MaxCount)
		if n == 0 {
			// FHIR: _count=0 asks for the total only.
			q.Summary = "count"
		}
		return nil
	case "_offset":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return invalid(key, "Invalid _offset: %s", value)
		}
		q.Offset = n
		return nil
	case "_total":
		if value != "none" && value != "estimate" && value != "accurate" {
			return invalid(key, "Invalid _total: %s (use none, estimate or accurate)", value)
		}
		q.Total = value
		return nil
	case "_summary":
		switch value {
		case "count", "true", "false", "data", "text":
			q.Summary = value
			return nil
		}
		return invalid(key, "Invalid _summary: %s", value)
	case "_elements", "_fields":
		for _, e := range strings.Split(value, ",") {
			if e = strings.TrimSpace(e); e != "" {
				q.Elements = append(q.Elements, e)
			}
		}
		return nil
	case "_sort":
		return parseSort(q, value)
	case "_include", "_revinclude":
		return parseInclude(q, key, name, modifier, value)
	case "_filter":
		if value == "" {
			return nil
		}
		return parseFilterParam(q, value) // filterparam.go
	}
	if value == "" {
		// FHIR: a parameter with an empty value is ignored.
		return nil
	}
	f, err := parseFilter(q.ResourceType, key, value, 0)
	if err != nil {
		// Name the parameter as the caller wrote it, not the chained or
		// _has part the error was found in.
		if e, ok := err.(*ward.Error); ok {
			e.Expression = []string{key}
		}
		return err
	}
	q.Filters = append(q.Filters, *f)
	return nil
}

func parseSort(q *ward.SearchQuery, value string) error {
	for _, k := range strings.Split(value, ",") {
		desc := strings.HasPrefix(k, "-")
		code := strings.TrimPrefix(k, "-")
		if code != "_id" && code != "_lastUpdated" {
			p, ok := fhir.LookupSearchParam(q.ResourceType, code)
			if !ok || p.Expression == "" || p.Type == "composite" || p.Type == "special" {
				return invalid("_sort", "Unknown sort parameter: %s", code)
			}
		}
		q.Sort = append(q.Sort, ward.SortKey{Code: code, Descending: desc})
	}
	return nil
}

func parseInclude(q *ward.SearchQuery, key, name, modifier, value string) error {
	iterate := modifier == "iterate" || modifier == "recurse"
	if modifier != "" && !iterate {
		return invalid(key, "Unknown modifier: %s", key)
	}
	parts := strings.Split(value, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return invalid(key, "Invalid %s: %s (use Type:parameter[:TargetType])", name, value)
	}
	inc := ward.Include{SourceType: parts[0], Param: parts[1], Iterate: iterate}
	if len(parts) == 3 {
		inc.TargetType = parts[2]
		if !fhir.IsResourceType(inc.TargetType) {
			return invalid(key, "Unknown resource type in %s: %s", name, inc.TargetType)
		}
	}
	if !fhir.IsResourceType(inc.SourceType) {
		return invalid(key, "Unknown resource type in %s: %s", name, inc.SourceType)
	}
	if inc.Param != "*" {
		p, ok := fhir.LookupSearchParam(inc.SourceType, inc.Param)
		if !ok || p.Type != "reference" {
			return invalid(key, "Invalid %s parameter: %s is not a reference parameter of %s", name, inc.Param, inc.SourceType)
		}
	}
	if name == "_include" {
		q.Includes = append(q.Includes, inc)
	} else {
		q.RevIncludes = append(q.RevIncludes, inc)
	}
	return nil
}
