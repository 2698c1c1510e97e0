package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/store"
)

// fairConfig is the fair shares' part of the serve flags.
type fairConfig struct {
	rate, concurrent, topProjects  int
	wait, flushEvery, measureEvery time.Duration
}

func (c *fairConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.rate, "project-rate-limit", int(envInt("WARD_PROJECT_RATE_LIMIT", fairshare.DefaultRequestsPerMinute)), "FHIR requests per minute of one project, past which it gets 429 with Retry-After; a super admin overrides it per project with Project.systemSetting rateLimit; 0 = no limit; a fleet on one PostgreSQL splits it evenly between its live processes [WARD_PROJECT_RATE_LIMIT]")
	fs.IntVar(&c.concurrent, "project-concurrent-expensive", int(envInt("WARD_PROJECT_CONCURRENT_EXPENSIVE", int64(fairshare.DefaultConcurrent()))), "searches, history, $graphql, $everything, $export, $csv and $summary of one project run at once (default half the processors; a fleet on one PostgreSQL gives each live process max(1, this/processes)); more wait -project-expensive-wait, then 429; a super admin overrides it with Project.systemSetting concurrentExpensiveRequests; 0 = no limit [WARD_PROJECT_CONCURRENT_EXPENSIVE]")
	fs.DurationVar(&c.wait, "project-expensive-wait", envDuration("WARD_PROJECT_EXPENSIVE_WAIT", fairshare.DefaultWait), "how long an expensive request waits for one of its project's slots before 429 [WARD_PROJECT_EXPENSIVE_WAIT]")
	fs.IntVar(&c.topProjects, "metrics-top-projects", int(envInt("WARD_METRICS_TOP_PROJECTS", fairshare.DefaultTopProjects)), "how many projects the per-project series on /metrics label: the busiest by requests since start [WARD_METRICS_TOP_PROJECTS]")
	fs.DurationVar(&c.flushEvery, "usage-flush-every", envDuration("WARD_USAGE_FLUSH_EVERY", fairshare.DefaultFlushEvery), "how often the requests counted for the usage report are stored (and on shutdown); a crash loses at most this much [WARD_USAGE_FLUSH_EVERY]")
	fs.DurationVar(&c.measureEvery, "usage-measure-every", envDuration("WARD_USAGE_MEASURE_EVERY", fairshare.DefaultMeasureEvery), "how often every project's storage, resources and users are measured for the usage report and /metrics (a scan of the resource tables) [WARD_USAGE_MEASURE_EVERY]")
}

// start returns the fair shares and keeps the usage report until ctx
// ends; the returned function waits for the last flush.
func (c *fairConfig) start(ctx context.Context, s *store.Store, logger *slog.Logger) (*fairshare.Shares, func()) {
	shares := fairshare.New(fairshare.Options{
		Defaults: fairshare.Limits{RequestsPerMinute: c.rate, Concurrent: c.concurrent},
		Wait:     c.wait, Load: fairshare.ProjectLimits(s), TopProjects: c.topProjects, Logger: logger,
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		shares.Run(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), s, c.flushEvery, c.measureEvery)
	})
	// A fleet on one PostgreSQL splits each project's limits between its
	// live processes (fairshare/fleet.go); SQLite serves one process.
	if s.Dialect().Name() == "postgres" {
		id := processID()
		if err := shares.JoinFleet(ctx, s, id, fairshare.DefaultBeatEvery); err != nil {
			logger.WarnContext(ctx, "fairshare: the fleet could not be counted yet; this process enforces whole limits until it is", "err", err)
		}
		wg.Go(func() { shares.RunFleet(ctx, s, id, fairshare.DefaultBeatEvery) })
	}
	return shares, wg.Wait
}

// usage runs `ward usage [-from DAY] [-to DAY] [-project ID] [-measure]`:
// it prints the usage report, per project and UTC day.
func usage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	var db dbConfig
	db.flags(fs)
	today := fairshare.Day(time.Now())
	from := fs.String("from", fairshare.Day(time.Now().AddDate(0, 0, -30)), "first day (YYYY-MM-DD, UTC)")
	to := fs.String("to", today, "last day (YYYY-MM-DD, UTC)")
	project := fs.String("project", "", "one project's id; empty = every project")
	measure := fs.Bool("measure", false, "measure storage, resources and users now (today's row) before printing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, d := range []string{*from, *to} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return fmt.Errorf("usage: %q is not a day (YYYY-MM-DD)", d)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := db.open(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	return printUsage(ctx, s, *from, *to, *project, *measure, os.Stdout)
}

// printUsage writes the usage report from..to of project ("" = every
// project) as an aligned table, measuring today's first when measure.
func printUsage(ctx context.Context, s ward.UsageStore, from, to, project string, measure bool, out io.Writer) error {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	if measure {
		if _, err := s.MeasureUsage(sys, fairshare.Day(time.Now())); err != nil {
			return err
		}
	}
	days, err := s.Usage(sys, from, to, project)
	if err != nil {
		return err
	}
	return writeUsage(out, days)
}

// writeUsage writes days as an aligned table.
func writeUsage(out io.Writer, days []ward.UsageDay) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "project\tday\trequests\tstorage bytes\tresources\tusers\t")
	for _, d := range days {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t\n", d.ProjectID, d.Day, d.Requests, d.StorageBytes, d.Resources, d.Users)
	}
	return w.Flush()
}
