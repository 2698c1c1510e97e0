package auth

import (
	"context"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// The membership's IP rules decide at membership selection (spec 2.13):
// the test requests come from 192.0.2.1.
func TestLoginIPRules(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		p := f.project(t, "IP Project", false)
		cases := []struct {
			name  string
			rules []any
			want  int
		}{
			{"blocked prefix", []any{rule("192.0.2.", "block")}, 400},
			{"allowed before a block of everything", []any{rule("192.0.2.1", "allow"), rule("*", "block")}, 200},
			{"no rule matches", []any{rule("10.", "block")}, 200},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pol, err := f.s.writeSystem(context.Background(), p.ID, "AccessPolicy", "", map[string]any{
					"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}}, "ipAccessRule": c.rules})
				if err != nil {
					t.Fatal(err)
				}
				email := "ip" + string(rune('a'+i)) + "@example.com"
				u := f.user(t, email, "")
				f.member(t, p, u, "Practitioner", "I", "P", func(m *Membership) { m.AccessPolicy = &Reference{Reference: pol.Reference()} })
				w := f.post(t, "/auth/login", map[string]any{"email": email, "password": testPassword})
				if c.want == 400 {
					wantError(t, w, 400, "IP address not allowed")
				} else if w.Code != c.want {
					t.Errorf("login = %d %s, want %d", w.Code, w.Body, c.want)
				}
			})
		}
	})
}

func rule(value, action string) map[string]any {
	return map[string]any{"name": action + " " + value, "value": value, "action": action}
}
