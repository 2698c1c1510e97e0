package store_test

import (
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestServerScopedHaveNoMetaProject: spec 1.3 (row 66) — a server-scoped
// User, a Login and a JsonWebKey carry no meta.project, through create,
// update, read, vread and history; they stay in ward.SystemProjectID
// (_project finds them there) and a project's User keeps its project.
func TestServerScopedHaveNoMetaProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		minimal := map[string]string{
			"User":       `"firstName":"Bob","lastName":"Jones"`,
			"Login":      `"user":{"reference":"User/x"},"authMethod":"password","authTime":"2024-01-01T00:00:00Z"`,
			"JsonWebKey": `"active":true,"alg":"RS256","kid":"k1","kty":"RSA"`,
		}
		for typ, fields := range minimal {
			res := sysCreate(t, s, ward.SystemProjectID, typ, `{`+fields+`}`)
			if res.ProjectID != ward.SystemProjectID {
				t.Errorf("%s stored in %q, want the system project", typ, res.ProjectID)
			}
			updated, _, err := update(s, sysCtx(), typ, res.ID, `{"resourceType":"`+typ+`","id":"`+res.ID+`","meta":{"project":"`+ward.SystemProjectID+`"},"language":"en",`+fields+`}`, "")
			if err != nil {
				t.Fatal(err)
			}
			read, err := s.Read(sysCtx(), typ, res.ID)
			if err != nil {
				t.Fatal(err)
			}
			vread, err := s.VRead(sysCtx(), typ, res.ID, res.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			for what, content := range map[string][]byte{"create": res.Content, "update": updated.Content, "read": read.Content, "vread": vread.Content} {
				if p, ok := meta(t, content)["project"]; ok {
					t.Errorf("%s %s: meta.project %v, want none: %s", typ, what, p, content)
				}
			}
			found, err := trySearch(s, sysCtx(), typ, "_project="+ward.SystemProjectID+"&_id="+res.ID)
			if err != nil || len(found.Matches) != 1 {
				t.Errorf("%s by _project=system: %v %v", typ, found, err)
			}
		}
		project := "0d000000-0000-4000-8000-00000000000d"
		user := sysCreate(t, s, project, "User", `{`+minimal["User"]+`}`)
		if p := meta(t, user.Content)["project"]; p != project {
			t.Errorf("a project's User: meta.project %v, want %s", p, project)
		}
	})
}
