package main

import (
	"runtime/debug"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30}, {"512MiB", 512 << 20}, {"1.5GB", 1_500_000_000}, {"2000000", 2_000_000}, {"64 KiB", 64 << 10}, {"off", 1<<63 - 1},
	} {
		if got, err := parseSize(c.in); err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "1TB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// The default limit applies unless the operator set GOMEMLIMIT; the flag
// wins over both.
func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	if got, err := applyMemoryLimit(defaultMemoryLimit, false); err != nil || got != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Errorf("default: %d, %v", got, err)
	}
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // what the runtime read at start
	if got, _ := applyMemoryLimit(defaultMemoryLimit, false); got != 300<<20 {
		t.Errorf("with GOMEMLIMIT: %d, want the operator's 300MiB", got)
	}
	if got, _ := applyMemoryLimit("2GiB", true); got != 2<<30 || debug.SetMemoryLimit(-1) != 2<<30 {
		t.Errorf("explicit flag: %d", got)
	}
}
