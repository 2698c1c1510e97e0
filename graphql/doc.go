// Package graphql serves FHIR GraphQL at POST (and GET) /fhir/R4/$graphql,
// wire-compatible with Medplum's: root fields <Type>(id), <Type>List(search
// arguments) and <Type>Connection(search arguments) for every resource type,
// Reference.resource (the ResourceList union) for nested references, and
// reverse lookups inside a resource (Patient { ObservationList(_reference:
// subject) { id } }), and the mutations <Type>Create(res), <Type>Update(id,
// res) and <Type>Delete(id) (POST only).
//
// It owns the GraphQL schema of FHIR R4, generated at run time from package
// fhir's tables (element names, types, cardinality, search parameters) once
// per Handler, and the translation of GraphQL fields into store reads and
// searches. It must not decide what a caller may see: every read and search
// goes through ward.ResourceStore with the request's Principal, and every
// list's arguments become the url.Values a REST search would carry, parsed
// by search.Parse. So project walls and AccessPolicies (criteria, hidden
// fields, compartments, interactions) apply to root lists, nested references
// and reverse lookups exactly as to the equivalent REST request, and an
// argument REST would refuse is refused here.
//
// Library: github.com/graphql-go/graphql. It builds schemas at run time from
// Go values (the FHIR schema is derived from tables, not written as SDL) and
// lets a resolver return a thunk that the executor calls after the rest of
// its level, which is what batches Reference.resource look-ups across a list
// into one search per type. graph-gophers/graphql-go needs an SDL string and
// Go resolver methods per type, a poor fit for ~1,500 generated types.
// graphql-go's parser and validator recurse without bound (once per level
// of nesting; its overlapping-fields rule follows a fragment cycle
// forever): the stack overflow is fatal and no recover catches it, so no
// document reaches them unchecked (see Limits). Its errors would each scan
// the whole query for line breaks, so queries are parsed without their
// source and locate computes the lines and columns once per answer.
//
// Limits: before parsing, a query over 1 MB or 20,000 tokens, or nesting
// {, [ and ( more than 64 deep, is a 400 (a loop over the tokens; graphql-go's
// parser would recurse once per level), and so are variables over a
// resource's shape limits (fhir.CheckShapeJSON: graphql-go coerces every
// value of a mutation's resource before a resolver sees it). After parsing, a duplicate, unknown,
// cyclic or unused fragment is a 400 (an iterative walk). Then, before
// validation, a query deeper than MaxDepth (12, as Medplum), with more than
// 2,000 selections (fields, fragment spreads and inline fragments, a
// fragment counted at each use, so fragments spreading each other cannot
// multiply the work), repeating one response name more than 10 times in a
// selection set, or giving a field more than 100 arguments is a 400
// (graphql-go's overlapping-fields rule is quadratic in such repeats and
// their arguments: 2,000 copies of one field took 37 s to validate). At most MaxResolutions store look-ups (searches and
// reference batches), MaxResources resources and MaxFilters search
// parameters (past the first five of each search) per request; past them the
// fields answer errors.
//
// Introspection: __typename and up to five __type fields per query are open
// to every caller (the schema is FHIR R4, public knowledge; clients such as
// Apollo add __typename).
// __schema, the whole-schema introspection GraphiQL sends, is for project
// admins and super admins only (403 otherwise): for this schema it answers
// 30 MB after about 30 s of CPU, which any signed-in user could otherwise
// ask for in a loop. (Medplum gates it behind the graphql-introspection
// project feature.)
//
// Cost: graphql-go validates and indexes every type when the schema is
// made (thunks only defer the work to that point), so the first request
// of a process builds ~2,000 types and ~6,000 reverse-lookup fields with
// their search arguments: about half a second and 25 MB, once.
package graphql
