package auth

import "testing"

func TestIPAllowed(t *testing.T) {
	rules := func(pairs ...string) map[string]any {
		var list []any
		for i := 0; i+1 < len(pairs); i += 2 {
			list = append(list, map[string]any{"value": pairs[i], "action": pairs[i+1]})
		}
		return map[string]any{"ipAccessRule": list}
	}
	cases := []struct {
		name   string
		policy map[string]any
		addr   string
		want   bool
	}{
		{"no rules", map[string]any{}, "1.2.3.4", true},
		{"allow list then block all: inside", rules("10.0.", "allow", "*", "block"), "10.0.3.4", true},
		{"allow list then block all: outside", rules("10.0.", "allow", "*", "block"), "10.1.3.4", false},
		{"first match wins", rules("8.8.8.8", "block", "8.8.", "allow"), "8.8.8.8", false},
		{"prefix is textual", rules("8.8.", "block"), "8.7.8.8", true},
		{"no match allows", rules("192.168.", "block"), "10.0.0.1", true},
	}
	for _, c := range cases {
		if got := ipAllowed(c.policy, c.addr); got != c.want {
			t.Errorf("%s: ipAllowed(%s) = %v, want %v", c.name, c.addr, got, c.want)
		}
	}
}
