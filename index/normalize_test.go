package index

import "testing"

func TestNormalizeString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Smith", "smith"},
		{"ZOË", "zoe"},
		{"Zoë", "zoe"},
		{"José Müller", "jose muller"},
		{"Ångström", "angstrom"},
		{"ÇA", "ca"},
		{"straße", "straße"},
		{"Ελένη", "ελενη"},
		{"", ""},
		{"日本", "日本"},
	}
	for _, tt := range tests {
		if got := NormalizeString(tt.in); got != tt.want {
			t.Errorf("NormalizeString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("héllo", 2); got != "h" {
		t.Errorf("clip cut inside a rune: %q", got)
	}
	if got := clip("a\x00b", 10); got != "ab" {
		t.Errorf("clip kept a NUL: %q", got)
	}
	if got := clip("hello", 10); got != "hello" {
		t.Errorf("clip(hello, 10) = %q", got)
	}
}
