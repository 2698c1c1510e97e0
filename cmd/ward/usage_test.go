package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestUsageCommand: `ward usage` prints one line per project and day with
// the stored request counts and, with -measure, today's storage and
// resources; -project narrows it to one project.
func TestUsageCommand(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
		today := fairshare.Day(time.Now())
		err := s.AddRequests(sys, []ward.UsageDay{
			{ProjectID: "project-a", Day: "2026-01-02", Requests: 7},
			{ProjectID: "project-a", Day: today, Requests: 3},
			{ProjectID: "project-b", Day: today, Requests: 11},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddRequests(sys, []ward.UsageDay{{ProjectID: "project-a", Day: today, Requests: 2}}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := printUsage(ctx, s, "2026-01-01", today, "project-a", true, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "storage bytes") {
			t.Fatalf("output:\n%s\nwant a header and project-a's two days", out.String())
		}
		if f := strings.Fields(lines[1]); f[0] != "project-a" || f[1] != "2026-01-02" || f[2] != "7" {
			t.Errorf("first day: %q", lines[1])
		}
		if f := strings.Fields(lines[2]); f[1] != today || f[2] != "5" {
			t.Errorf("today (3 + 2 requests from two flushes): %q", lines[2])
		}
		if _, err := s.Usage(ctx, "2026-01-01", today, ""); err == nil {
			t.Error("the usage report without a system principal was served")
		}
	})
}
