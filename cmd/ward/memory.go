package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultMemoryLimit is the Go heap's soft limit unless -memory-limit or
// GOMEMLIMIT says otherwise. Without one, the runtime lets the heap grow
// to twice its live size after a burst and keeps what it took until an
// idle collection: large bodies once left the server near 700 MB. SQLite's
// page cache (up to 64 MiB per connection) is outside the Go heap and
// comes on top.
const defaultMemoryLimit = "1GiB"

// applyMemoryLimit sets the Go runtime's soft memory limit from the
// -memory-limit value: a size ("1GiB", "512MiB", "2000000000"), or "off"
// for none. The default gives way to a GOMEMLIMIT the operator set.
func applyMemoryLimit(value string, explicit bool) (int64, error) {
	if !explicit && os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), nil // keep the runtime's reading of GOMEMLIMIT
	}
	limit, err := parseSize(value)
	if err != nil {
		return 0, fmt.Errorf("-memory-limit %q: %w", value, err)
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}

// parseSize reads a byte size with an optional unit (B, KiB, MiB, GiB, KB,
// MB, GB); "off" and "0" mean no limit.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "off" || v == "0" {
		return 1<<63 - 1, nil // the runtime's "no limit"
	}
	units := []struct {
		suffix string
		scale  int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	scale := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, scale = strings.TrimSpace(num), u.scale
			break
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size such as 1GiB or 512MiB, or off")
	}
	return int64(n * float64(scale)), nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
