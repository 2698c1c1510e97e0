package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// surfaces returns what every read path of the store answers for res, as
// the caller of ctx: read, vread, instance history, search by _id (as a
// match and as an _include of a Patient that links to it, for a User), a
// transaction's read, and, for a Patient, $everything.
func surfaces(t *testing.T, s *store.Store, ctx context.Context, res *ward.Resource) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if r, err := s.Read(ctx, res.Type, res.ID); err == nil {
		out["read"] = r.Content
	} else {
		t.Fatalf("read %s: %v", res.Reference(), err)
	}
	if r, err := s.VRead(ctx, res.Type, res.ID, res.VersionID); err == nil {
		out["vread"] = r.Content
	}
	if h, err := s.History(ctx, ward.HistoryQuery{ResourceType: res.Type, ID: res.ID}); err == nil && len(h.Versions) > 0 {
		out["history"] = h.Versions[0].Content
	}
	q := &ward.SearchQuery{ResourceType: res.Type, Count: 10, Total: "none",
		Filters: []ward.SearchFilter{{Code: "_id", Type: "token", Values: []ward.SearchValue{{Value: res.ID}}}}}
	if r, err := s.Search(ctx, q); err == nil && len(r.Matches) == 1 {
		out["search"] = r.Matches[0].Content
	}
	_ = s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		if r, err := tx.Read(ctx, res.Type, res.ID); err == nil {
			out["read in a transaction"] = r.Content
		}
		return nil
	})
	if res.Type == "Patient" {
		if r, err := s.PatientEverything(ctx, res.ID, nil, "", 10, 0); err == nil && len(r.Matches) > 0 {
			out["$everything"] = r.Matches[0].Content
		}
	}
	return out
}

// TestOutputGate: every read path shows the same bytes, and those bytes
// never hold a secret (password hash, MFA secret, private key, login
// refresh secret) for anyone but server internals, super admins included;
// meta.project/author/compartment only in extended mode.
func TestOutputGate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		user := sysCreate(t, s, proj, "User", `{"email":"u@example.com","firstName":"U","lastName":"S","passwordHash":"$2a$10$secrethash","mfaSecret":"MFASECRET"}`)
		key := sysCreate(t, s, ward.SystemProjectID, "JsonWebKey", `{"active":true,"kty":"RSA","alg":"RS256","use":"sig","n":"modulus","e":"AQAB","d":"PRIVATE-D","p":"PRIVATE-P","q":"PRIVATE-Q","dp":"PRIVATE-DP","dq":"PRIVATE-DQ","qi":"PRIVATE-QI"}`)
		login := sysCreate(t, s, proj, "Login", `{"authMethod":"password","authTime":"2026-01-01T00:00:00.000Z","user":{"reference":"User/`+user.ID+`"},"refreshSecret":"REFRESH","code":"CODE"}`)
		patient := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Gate"}]}`)
		secrets := []string{"secrethash", "MFASECRET", "PRIVATE-", "REFRESH", `"CODE"`}

		superPolicy := policyOf(t, `{"id":"`+proj+`","superAdmin":true}`, `{"admin":true,"profile":{"reference":"Practitioner/root"}}`, nil)
		adminPolicy := policyOf(t, `{"id":"`+proj+`"}`, `{"admin":true,"profile":{"reference":"Practitioner/adm"}}`, nil)
		principals := []struct {
			name     string
			p        *ward.Principal
			secrets  bool // may see SecretFields
			extended bool
			reads    []*ward.Resource
		}{
			{"internal", ward.SystemPrincipal(), true, true, []*ward.Resource{user, key, login, patient}},
			{"super admin", &ward.Principal{ProjectID: proj, System: true, Admin: true, Policy: superPolicy}, false, false, []*ward.Resource{user, key, login, patient}},
			{"super admin, extended", &ward.Principal{ProjectID: proj, System: true, Admin: true, Policy: superPolicy, Extended: true}, false, true, []*ward.Resource{user, key, login, patient}},
			{"system reader (auth's answers)", &ward.Principal{System: true, Extended: true}, false, true, []*ward.Resource{user, key, login, patient}},
			{"project admin", &ward.Principal{ProjectID: proj, Admin: true, Policy: adminPolicy}, false, false, []*ward.Resource{user, patient}},
			{"project admin, extended", &ward.Principal{ProjectID: proj, Admin: true, Policy: adminPolicy, Extended: true}, false, true, []*ward.Resource{user, patient}},
		}
		for _, pr := range principals {
			ctx := ward.NewContextWithPrincipal(context.Background(), pr.p)
			for _, res := range pr.reads {
				got := surfaces(t, s, ctx, res)
				if len(got) < 5 {
					t.Errorf("%s, %s: only %d surfaces answered: %v", pr.name, res.Type, len(got), keys(got))
				}
				first := got["read"]
				for surface, content := range got {
					if string(content) != string(first) {
						t.Errorf("%s, %s: %s shows\n%s\nread shows\n%s", pr.name, res.Type, surface, content, first)
					}
				}
				shown := string(first)
				for _, secret := range secrets {
					if strings.Contains(shown, secret) && !pr.secrets {
						t.Errorf("%s, %s: secret %s shown: %s", pr.name, res.Type, secret, shown)
					}
				}
				if pr.secrets && res.Type == "JsonWebKey" && !strings.Contains(shown, "PRIVATE-D") {
					t.Errorf("%s: server internals lost the private key: %s", pr.name, shown)
				}
				if hasAuthor := strings.Contains(shown, `"author":`); hasAuthor != pr.extended {
					t.Errorf("%s, %s: meta.author shown = %v, want %v: %s", pr.name, res.Type, hasAuthor, pr.extended, shown)
				}
			}
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSecretsSurviveWrites: a caller that never sees a secret cannot erase
// or choose it by writing the resource back, and only server internals
// write signing keys and logins (a super admin's stolen token must not
// plant a key of its own).
func TestSecretsSurviveWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		user := sysCreate(t, s, proj, "User", `{"email":"w@example.com","firstName":"W","lastName":"S","passwordHash":"$2a$10$original","mfaSecret":"MFA"}`)
		key := sysCreate(t, s, ward.SystemProjectID, "JsonWebKey", `{"active":true,"kty":"RSA","alg":"RS256","n":"n","e":"AQAB","d":"D"}`)
		superPolicy := policyOf(t, `{"id":"`+proj+`","superAdmin":true}`, `{"admin":true,"profile":{"reference":"Practitioner/root"}}`, nil)
		super := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj, System: true, Admin: true, Policy: superPolicy, Extended: true})

		for _, body := range []string{
			`{"resourceType":"User","id":"` + user.ID + `","email":"w@example.com","firstName":"Renamed","lastName":"S"}`,
			`{"resourceType":"User","id":"` + user.ID + `","email":"w@example.com","firstName":"Renamed","lastName":"S","passwordHash":"$2a$10$chosen","mfaSecret":"CHOSEN"}`,
		} {
			mustUpdate(t, s, super, "User", user.ID, body)
			var got map[string]any
			json.Unmarshal(mustRead(t, s, sysCtx(), "User", user.ID).Content, &got)
			if got["passwordHash"] != "$2a$10$original" || got["mfaSecret"] != "MFA" || got["firstName"] != "Renamed" {
				t.Errorf("after a super admin's update %s: stored %v", body, got)
			}
		}
		created := create(t, s, super, "User", `{"resourceType":"User","email":"n@example.com","firstName":"N","lastName":"S","passwordHash":"$2a$10$planted"}`)
		if strings.Contains(string(stored(t, s, created).Content), "planted") {
			t.Error("a super admin created a User with a password hash of its choosing")
		}

		writes := map[string]func(ctx context.Context, tx ward.ResourceTx) error{
			"create": func(ctx context.Context, tx ward.ResourceTx) error {
				_, err := tx.Create(ctx, "JsonWebKey", []byte(`{"resourceType":"JsonWebKey","active":true,"kty":"RSA","alg":"RS256","n":"x","e":"AQAB","d":"mine"}`))
				return err
			},
			"update": func(ctx context.Context, tx ward.ResourceTx) error {
				_, _, err := tx.Update(ctx, "JsonWebKey", key.ID, []byte(`{"resourceType":"JsonWebKey","id":"`+key.ID+`","active":false,"kty":"RSA","alg":"RS256","n":"n","e":"AQAB"}`), "")
				return err
			},
			"delete": func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, "JsonWebKey", key.ID) },
		}
		for name, write := range writes {
			if err := s.Write(super, write); ward.ErrorCode(err) != ward.EFORBIDDEN {
				t.Errorf("a super admin's JsonWebKey %s: %v, want forbidden", name, err)
			}
		}
		if got := string(mustRead(t, s, sysCtx(), "JsonWebKey", key.ID).Content); !strings.Contains(got, `"d":"D"`) || !strings.Contains(got, `"active":true`) {
			t.Errorf("signing key changed: %s", got)
		}
	})
}
