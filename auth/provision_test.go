package auth

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// newTestService is a Service over st with the cheapest bcrypt cost.
func newTestService(t *testing.T, st *store.Store) *Service {
	t.Helper()
	return New(st, Config{BaseURL: "http://ward.test/", BcryptCost: bcrypt.MinCost})
}

// storedMap reads typ/id with the system principal as a map, with its
// project column in "_project".
func storedMap(t *testing.T, s *Service, typ, id string) map[string]any {
	t.Helper()
	var m map[string]any
	res, err := s.readJSON(context.Background(), typ, id, &m)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	m["_project"] = res.ProjectID
	return m
}

func TestCreateUserScopes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := newTestService(t, st)
		projectID := ward.NewID()

		server, err := s.createUser(ctx, NewUser{FirstName: "Bob", LastName: "Jones", Email: " Bob@Example.COM ", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		if server.Email != "bob@example.com" || server.Project != nil {
			t.Errorf("server user = %+v, want lower-case email and no project", server)
		}
		if !checkPassword(server.PasswordHash, "correct horse") {
			t.Error("password does not verify against the stored hash")
		}
		if got := storedMap(t, s, "User", server.ID)["_project"]; got != ward.SystemProjectID {
			t.Errorf("server user stored in project %v, want the system project", got)
		}

		scoped, err := s.createUser(ctx, NewUser{FirstName: "Bob", LastName: "Jones", Email: "bob@example.com", ProjectID: projectID})
		if err != nil {
			t.Fatalf("same email in a project scope: %v", err)
		}
		m := storedMap(t, s, "User", scoped.ID)
		if m["_project"] != projectID || scoped.Project == nil || scoped.Project.Reference != "Project/"+projectID {
			t.Errorf("project user stored in %v with project %+v, want %s", m["_project"], scoped.Project, projectID)
		}
		if scoped.PasswordHash == "" {
			t.Error("a user created without password has no hash (want a random one)")
		}

		for _, again := range []NewUser{
			{FirstName: "B", LastName: "J", Email: "BOB@example.com"},
			{FirstName: "B", LastName: "J", Email: "bob@example.com", ProjectID: projectID},
		} {
			_, err := s.createUser(ctx, again)
			if ward.ErrorCode(err) != ward.ECONFLICT || ward.ErrorMessage(err) != "Email already registered" {
				t.Errorf("second %q in scope %q: %v, want conflict Email already registered", again.Email, again.ProjectID, err)
			}
		}
		if _, err := s.createUser(ctx, NewUser{FirstName: "B", LastName: "J", Email: "c@example.com", Password: "short"}); ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("short password: %v, want invalid", err)
		}
	})
}

func TestCreateProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := newTestService(t, st)
		owner, err := s.createUser(ctx, NewUser{FirstName: "Alice", LastName: "Smith", Email: "alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.createProject(ctx, "Alice Project", owner.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		m := storedMap(t, s, "Project", p.ID)
		if m["_project"] != p.ID || m["name"] != "Alice Project" || m["strictMode"] != true || m["superAdmin"] != nil {
			t.Errorf("project = %v", m)
		}
		if p.Owner == nil || p.Owner.Reference != "User/"+owner.ID {
			t.Errorf("owner = %+v", p.Owner)
		}

		clients, err := s.searchSystem(ctx, "ClientApplication", map[string][]string{"_project": {p.ID}})
		if err != nil || len(clients) != 1 {
			t.Fatalf("clients of the project: %d, %v", len(clients), err)
		}
		client, _ := decodeAs[Client](clients[0])
		if client.Name != "Alice Project Default Client" || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(client.Secret) {
			t.Errorf("default client = %+v", client)
		}
		members, err := s.searchSystem(ctx, "ProjectMembership", map[string][]string{"user": {"ClientApplication/" + client.ID}})
		if err != nil || len(members) != 1 {
			t.Fatalf("client memberships: %d, %v", len(members), err)
		}
		mem, _ := decodeAs[Membership](members[0])
		if mem.Profile.Reference != "ClientApplication/"+client.ID || mem.Project.Reference != "Project/"+p.ID || members[0].ProjectID != p.ID {
			t.Errorf("client membership = %+v in %s", mem, members[0].ProjectID)
		}

		super, err := s.createProject(ctx, "Super Admin", owner.ID, true)
		if err != nil || !super.SuperAdmin {
			t.Errorf("super admin project = %+v, %v", super, err)
		}
	})
}

func TestCreateProfileAndMembership(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := newTestService(t, st)
		owner, _ := s.createUser(ctx, NewUser{FirstName: "Alice", LastName: "Smith", Email: "alice@example.com"})
		p, err := s.createProject(ctx, "Alice Project", owner.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"Practitioner", "Patient"} {
			ref, err := s.createProfile(ctx, p.ID, typ, "Alice", "Smith", "Alice@Example.com")
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if ref.Display != "Alice Smith" {
				t.Errorf("%s display = %q", typ, ref.Display)
			}
			id := refID(ref, typ)
			m := storedMap(t, s, typ, id)
			got, _ := json.Marshal([]any{m["name"], m["telecom"], m["_project"]})
			want := `[[{"family":"Smith","given":["Alice"]}],[{"system":"email","use":"work","value":"alice@example.com"}],"` + p.ID + `"]`
			if string(got) != want {
				t.Errorf("%s stored %s, want %s", typ, got, want)
			}
		}
		if _, err := s.createProfile(ctx, p.ID, "Organization", "A", "B", ""); ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("Organization profile: %v, want invalid", err)
		}

		prof, _ := s.createProfile(ctx, p.ID, "Practitioner", "Alice", "Smith", "alice@example.com")
		mem, err := s.createMembership(ctx, &Membership{
			Project: projectRef(p), User: &Reference{Reference: "User/" + owner.ID, Display: owner.Email},
			Profile: prof, Admin: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if m := storedMap(t, s, "ProjectMembership", mem.ID); m["_project"] != p.ID || m["admin"] != true {
			t.Errorf("membership = %v", m)
		}
		if _, err := s.createMembership(ctx, &Membership{Project: projectRef(p)}); err == nil {
			t.Error("membership without user and profile was stored")
		}
	})
}
