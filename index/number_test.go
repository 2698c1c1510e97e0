package index

import (
	"encoding/json"
	"math"
	"testing"
)

func TestNumberRange(t *testing.T) {
	tests := []struct {
		in               string
		value, low, high float64
		ok               bool
	}{
		{"100", 100, 99.5, 100.5, true},
		{"100.0", 100, 99.95, 100.05, true},
		{"100.00", 100, 99.995, 100.005, true},
		{"1.50", 1.5, 1.495, 1.505, true},
		{"1.5", 1.5, 1.45, 1.55, true},
		{"0.1", 0.1, 0.05, 0.15, true},
		{"1e2", 100, 50, 150, true},
		{"1.0e2", 100, 95, 105, true},
		{"1E-3", 0.001, 0.0005, 0.0015, true},
		{"2.5e+1", 25, 24.5, 25.5, true},
		{"-5", -5, -5.5, -4.5, true},
		{"-1.50", -1.5, -1.505, -1.495, true},
		{"0", 0, -0.5, 0.5, true},
		{"0.00", 0, -0.005, 0.005, true},
		{"-0", 0, -0.5, 0.5, true},
		{"10", 10, 9.5, 10.5, true},
		{"1000", 1000, 999.5, 1000.5, true},
		{"007", 7, 6.5, 7.5, true},
		{"", 0, 0, 0, false},
		{"abc", 0, 0, 0, false},
		{"1.", 0, 0, 0, false},
		{"1e", 0, 0, 0, false},
		{"--1", 0, 0, 0, false},
		{"1e400", 0, 0, 0, false},
		{"NaN", 0, 0, 0, false},
		{"Inf", 0, 0, 0, false},
		{"0x10", 0, 0, 0, false},
		{"1_000", 0, 0, 0, false},
	}
	for _, tt := range tests {
		v, low, high, ok := NumberRange(tt.in)
		if ok != tt.ok {
			t.Errorf("NumberRange(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && (v != tt.value || low != tt.low || high != tt.high) {
			t.Errorf("NumberRange(%q) = %v [%v, %v], want %v [%v, %v]", tt.in, v, low, high, tt.value, tt.low, tt.high)
		}
	}
}

func TestNumberText(t *testing.T) {
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{json.Number("1.50"), "1.50", true},
		{1.5, "1.5", true},
		{float64(100), "100", true},
		{42, "42", true},
		{int64(-7), "-7", true},
		{math.Inf(1), "", false},
		{"1.5", "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := numberText(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("numberText(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzNumberRange(f *testing.F) {
	for _, s := range []string{"100", "1.50", "1e2", "-0.001", "9.99e307"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, low, high, ok := NumberRange(s)
		if ok && !(low <= v && v <= high) {
			t.Errorf("NumberRange(%q) = %v [%v, %v], value outside its range", s, v, low, high)
		}
	})
}
