// Package fairshare keeps one tenant from starving another: per-project
// limits on request rate and on concurrent expensive work (searches,
// history, $graphql, $everything, $export, $csv, $summary), per-project
// metrics, and the request counts of the usage report.
//
// It owns, in one process: each project's token bucket (requests per
// minute) and its slots for expensive requests, the cache of each
// project's limits (Project.systemSetting, which only super admins can
// change: a project admin's policy makes it read-only), the per-project
// counters served on /metrics (the busiest projects only, so label
// cardinality stays bounded), and the per-day request counts it hands to
// a UsageStore every flush so they survive restarts.
//
// Limits are per process: behind a load balancer of N processes a project
// gets up to N times its rate. A fleet-wide share (a shared bucket in the
// database or a coordinated split) can come later.
//
// It must not read the database on a request's path: a project's limits
// are loaded once (through Options.Load) and kept until a committed write
// of the Project invalidates them (Invalidate, wired like the caller
// cache's) or maxAge passes. It decides nothing about what a caller may
// see, and does not know about HTTP routes: the http package says which
// requests are expensive.
package fairshare
