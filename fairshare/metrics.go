package fairshare

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets are the per-project request duration buckets (seconds).
var latencyBuckets = prometheus.DefBuckets

// counters are one project's metrics since the process started.
type counters struct {
	mu        sync.Mutex
	requests  uint64
	returned  uint64
	sum       float64  // seconds
	buckets   []uint64 // cumulative is computed at scrape
	throttled map[string]uint64
}

func (c *counters) observe(d time.Duration, returned int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buckets == nil {
		c.buckets = make([]uint64, len(latencyBuckets))
	}
	c.requests++
	c.returned += uint64(returned)
	secs := d.Seconds()
	c.sum += secs
	if i, _ := slices.BinarySearch(latencyBuckets, secs); i < len(c.buckets) {
		c.buckets[i]++
	}
}

func (c *counters) refused(limit string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.throttled == nil {
		c.throttled = map[string]uint64{}
	}
	c.throttled[limit]++
}

// snapshot is a copy of c for one scrape.
type snapshot struct {
	project   string
	requests  uint64
	returned  uint64
	sum       float64
	buckets   map[float64]uint64 // cumulative, by upper bound
	throttled map[string]uint64
}

func (c *counters) snapshot(project string) snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := snapshot{project: project, requests: c.requests, returned: c.returned, sum: c.sum,
		buckets: make(map[float64]uint64, len(latencyBuckets)), throttled: map[string]uint64{}}
	var cum uint64
	for i, upper := range latencyBuckets {
		if i < len(c.buckets) {
			cum += c.buckets[i]
		}
		s.buckets[upper] = cum
	}
	for k, v := range c.throttled {
		s.throttled[k] = v
	}
	return s
}

var (
	descRequests = prometheus.NewDesc("ward_project_requests_total",
		"Requests admitted per project since the process started (the busiest projects only; see ward_project_labelled).", []string{"project"}, nil)
	descDuration = prometheus.NewDesc("ward_project_request_duration_seconds",
		"Request duration per project (the busiest projects only).", []string{"project"}, nil)
	descReturned = prometheus.NewDesc("ward_project_resources_returned_total",
		"Resources returned per project by reads, searches, history, $everything and $graphql (rows scanned are not measured).", []string{"project"}, nil)
	descThrottled = prometheus.NewDesc("ward_project_throttled_total",
		"Requests refused 429 per project and limit (rate or concurrency).", []string{"project", "limit"}, nil)
	descStorage = prometheus.NewDesc("ward_project_storage_bytes",
		"Bytes of resource JSON stored per project (current versions and history), as last measured for the usage report.", []string{"project"}, nil)
	descResources = prometheus.NewDesc("ward_project_resources",
		"Current resources per project, as last measured for the usage report.", []string{"project"}, nil)
	descProjects = prometheus.NewDesc("ward_project_labelled",
		"Projects this process has seen requests of, and how many of them the per-project series label (-metrics-top-projects).", []string{"of"}, nil)
	descProcesses = prometheus.NewDesc("ward_fairshare_processes",
		"Live processes of the fleet on this database that split each project's rate and expensive slots (1: this process alone).", nil, nil)
)

// Describe is part of prometheus.Collector.
func (s *Shares) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descReturned, descThrottled, descStorage, descResources, descProjects, descProcesses} {
		ch <- d
	}
}

// Collect is part of prometheus.Collector: the series of the TopProjects
// busiest projects by requests since start. Their counts are kept for
// every project, so a project's series is monotonic whenever it is shown;
// the unlabelled totals are ward_http_requests_total's.
func (s *Shares) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	all := make([]snapshot, 0, len(s.projects))
	for id, p := range s.projects {
		all = append(all, p.counters.snapshot(id))
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b snapshot) int {
		return cmp.Or(cmp.Compare(b.requests, a.requests), cmp.Compare(a.project, b.project))
	})
	top := all[:min(len(all), s.opts.TopProjects)]
	ch <- prometheus.MustNewConstMetric(descProjects, prometheus.GaugeValue, float64(len(all)), "seen")
	ch <- prometheus.MustNewConstMetric(descProjects, prometheus.GaugeValue, float64(len(top)), "labelled")
	ch <- prometheus.MustNewConstMetric(descProcesses, prometheus.GaugeValue, float64(s.Processes()))
	measured := s.usage.lastMeasured()
	for _, p := range top {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(p.requests), p.project)
		ch <- prometheus.MustNewConstHistogram(descDuration, p.requests, p.sum, p.buckets, p.project)
		ch <- prometheus.MustNewConstMetric(descReturned, prometheus.CounterValue, float64(p.returned), p.project)
		for _, limit := range []string{"rate", "concurrency"} {
			ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.CounterValue, float64(p.throttled[limit]), p.project, limit)
		}
		if u, ok := measured[p.project]; ok {
			ch <- prometheus.MustNewConstMetric(descStorage, prometheus.GaugeValue, float64(u.StorageBytes), p.project)
			ch <- prometheus.MustNewConstMetric(descResources, prometheus.GaugeValue, float64(u.Resources), p.project)
		}
	}
}
