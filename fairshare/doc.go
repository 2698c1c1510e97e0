// Package fairshare keeps one tenant from starving another: per-project
// limits on request rate and on concurrent expensive work (searches,
// history, $graphql, $everything, $export, $csv, $summary), per-project
// metrics, and the request counts of the usage report.
//
// It owns, in one process: each project's token bucket (requests per
// minute) and its slots for expensive requests (this process's share of
// them), this process's heartbeat in the fleet, the cache of each
// project's limits (Project.systemSetting, which only super admins can
// change: a project admin's policy makes it read-only), the per-project
// counters served on /metrics (the busiest projects only, so label
// cardinality stays bounded), and the per-day request counts it hands to
// a UsageStore every flush so they survive restarts.
//
// Limits are the project's across a fleet: N processes on one PostgreSQL
// count each other through a heartbeat (JoinFleet, RunFleet) and each
// enforces ceil(rate / N) and max(1, floor(slots / N)), so behind an even
// load balancer a project gets about its rate, not N times it (fleet.go
// says what an unbalanced one costs). The count is refreshed in the
// background; alone (SQLite, or without a Fleet) a process enforces the
// whole limits.
//
// It must not read the database on a request's path: a project's limits
// are loaded once (through Options.Load) and kept until a committed write
// of the Project invalidates them (Invalidate, wired like the caller
// cache's) or maxAge passes. It decides nothing about what a caller may
// see, and does not know about HTTP routes: the http package says which
// requests are expensive.
package fairshare
