// Package search parses FHIR search requests — a URL query, or an
// AccessPolicy criteria string such as "Patient?_compartment=%organization" —
// into a ward.SearchQuery, checking every parameter against the generated
// R4 tables of package fhir.
//
// It owns the search syntax: parameter names, modifiers, prefixes, value
// escapes, chains, _has, _filter expressions (parsed into a
// ward.FilterExpr tree whose leaves are ordinary filters; filterparam.go),
// and the result parameters (_count, _sort, _include…), and renders a parsed query back to a URL query (String) for
// Bundle links. It produces no SQL; package store compiles the query. Every
// error is a *ward.Error with code EINVALID naming the parameter.
package search
