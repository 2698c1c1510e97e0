package fhirpath

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse parses arbitrary input: it must never panic, and whatever
// parses must print an expression that parses back to the same text. The
// seeds are every expression of golden.json (all search parameters and the
// extra expressions) plus hostile shapes.
func FuzzParse(f *testing.F) {
	for _, src := range loadGolden(f).Expressions {
		f.Add(src)
	}
	for _, src := range []string{
		"", "(", "'", "`", "@", "@T", "%", "$", "a.", "a[", "a..b", "5 'mg", "1.", "-",
		strings.Repeat("(", 500), strings.Repeat("-", 500) + "1", strings.Repeat("a.where(", 300),
		"'\\u00zz'", "@2020-01-01T10:00:00.000+14:00", "%`a\\`b`", "a is b.c.d",
	} {
		f.Add(src)
	}
	patient := map[string]any{"resourceType": "Patient", "id": "x", "name": []any{map[string]any{"given": []any{"a"}}}}
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		e, err := Parse(src)
		if time.Since(start) > time.Second {
			t.Fatalf("Parse(%q) took %v", src, time.Since(start))
		}
		if err != nil {
			return
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", src, e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("Parse(%q) printed %q, which prints %q", src, e.String(), again.String())
		}
		// Evaluation must not panic either; bound it with a deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _ = e.Eval(ctx, patient, nil)
	})
}

// BenchmarkIndexPatient evaluates every search parameter expression of
// Patient on a sample Patient, as indexing a write does.
func BenchmarkIndexPatient(b *testing.B) {
	benchmarkIndex(b, "Patient")
}

func BenchmarkIndexObservation(b *testing.B) {
	benchmarkIndex(b, "Observation")
}

func benchmarkIndex(b *testing.B, resourceType string) {
	g := loadGolden(b)
	fixtures := loadFixtures(b)
	var resource map[string]any
	for _, f := range fixtures {
		if f.Resource["resourceType"] == resourceType && strings.HasPrefix(f.Name, "samples-seed1") {
			resource = f.Resource
		}
	}
	seen := map[int]bool{}
	var exprs []*Expr
	for _, rec := range g.Records {
		if fixtures[rec.F].Resource["resourceType"] == resourceType && !seen[rec.X] && !strings.HasPrefix(fixtures[rec.F].Name, "handmade") {
			seen[rec.X] = true
			exprs = append(exprs, MustParse(g.Expressions[rec.X]))
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, e := range exprs {
			if _, err := e.Eval(ctx, resource, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(exprs)), "exprs")
}

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("testdata", "medplum", "extra.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(src), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			_, _ = Parse(l)
		}
	}
}
