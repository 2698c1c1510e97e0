package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/internal/synth"
)

// The set-up of the mixed profile, all through the API as a reader's own
// script would do it: the super admin signs in; the project's admin
// registers and creates the project (self-service, as bench-mso.sh does);
// the super admin writes the clinics, Patients and Observations with
// meta.project and meta.accounts (the state $set-accounts leaves); the
// admin uploads the MSO AccessPolicy (spec 5.12) and invites one clinician
// per clinic. A project whose admin can already sign in is reused as it
// is, so a second run measures the same data.

// mixEmail is the email of a user of the profile's project.
func mixEmail(name, user string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String() + "-" + user + "@example.com"
}

// setupMix creates or reuses the project and signs its callers in.
func setupMix(ctx context.Context, client *http.Client, o *mixOptions) (*mixWorld, bool, error) {
	root := strings.TrimSuffix(o.root, "/")
	base := root + "/fhir/R4"
	api := &mixAPI{client: client, root: root}
	adminEmail := mixEmail(o.name, "admin")
	admin, err := api.login(ctx, adminEmail, o.password, "")
	reused := err == nil
	w := &mixWorld{}
	if !reused {
		if admin, err = api.register(ctx, adminEmail, o.password, o.name); err != nil {
			return nil, false, err
		}
	}
	var me struct {
		Project struct{ ID string } `json:"project"`
	}
	if err := api.call(ctx, "GET", root+"/auth/me", admin, nil, &me); err != nil || me.Project.ID == "" {
		return nil, false, fmt.Errorf("the project of %s: %v", adminEmail, err)
	}
	w.project = me.Project.ID
	var clinics []string
	if reused {
		if clinics, err = api.clinics(ctx, base, admin); err != nil {
			return nil, true, err
		}
	} else {
		sa := o.superToken
		if sa == "" {
			if sa, err = api.login(ctx, o.adminEmail, o.adminPassword, ""); err != nil {
				return nil, false, fmt.Errorf("super admin sign-in (-admin-email, -admin-password or -token): %w", err)
			}
		}
		if clinics, err = createClinics(ctx, client, base, sa, w.project, max(o.clinics, 1)); err != nil {
			return nil, false, err
		}
		if err := api.ingest(ctx, base, sa, w.project, clinics, o); err != nil {
			return nil, false, err
		}
		if err := api.invite(ctx, base, admin, o, w.project, clinics); err != nil {
			return nil, false, err
		}
	}
	if len(clinics) < 2 {
		return nil, reused, fmt.Errorf("project %s has %d clinics; the profile needs 2 or more to check the walls between them", w.project, len(clinics))
	}
	w.admin = &mixCaller{role: "admin", token: admin}
	for i, clinic := range clinics {
		tok, err := api.login(ctx, mixEmail(o.name, fmt.Sprintf("clinic%d", i)), o.password, w.project)
		if err != nil {
			return nil, reused, fmt.Errorf("clinician of %s (delete the project or pick another -mix-name): %w", clinic, err)
		}
		w.clinicians = append(w.clinicians, &mixCaller{role: "clinician", token: tok, clinic: clinic})
	}
	if err := api.discover(ctx, base, w); err != nil {
		return nil, reused, err
	}
	return w, reused, nil
}

// mixAPI makes the set-up's calls.
type mixAPI struct {
	client *http.Client
	root   string
}

// call sends body (JSON, or a form when it is neturl.Values) and decodes a
// 2xx answer into out.
func (a *mixAPI) call(ctx context.Context, method, url, token string, body, out any) error {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case neturl.Values:
		rd, contentType = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, truncate(data, 300))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// exchange trades an authorization code (plain PKCE "xyz") for a token.
func (a *mixAPI) exchange(ctx context.Context, code string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := a.call(ctx, "POST", a.root+"/oauth2/token", "",
		neturl.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}}, &tok)
	if err == nil && tok.AccessToken == "" {
		err = fmt.Errorf("no access token")
	}
	return tok.AccessToken, err
}

// login signs email in with a password, into project when given.
func (a *mixAPI) login(ctx context.Context, email, password, project string) (string, error) {
	body := map[string]any{"email": email, "password": password, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain"}
	if project != "" {
		body["projectId"] = project
	}
	var l struct{ Code string }
	if err := a.call(ctx, "POST", a.root+"/auth/login", "", body, &l); err != nil {
		return "", err
	}
	if l.Code == "" {
		return "", fmt.Errorf("login %s: no code (several projects, or a second factor?)", email)
	}
	return a.exchange(ctx, l.Code)
}

// register signs a new user up and has them create project name.
func (a *mixAPI) register(ctx context.Context, email, password, name string) (string, error) {
	var l struct{ Login string }
	if err := a.call(ctx, "POST", a.root+"/auth/newuser", "", map[string]any{"firstName": "Load", "lastName": "Admin",
		"email": email, "password": password, "codeChallenge": "xyz", "codeChallengeMethod": "plain"}, &l); err != nil {
		return "", err
	}
	var p struct{ Code string }
	if err := a.call(ctx, "POST", a.root+"/auth/newproject", "", map[string]any{"login": l.Login, "projectName": name}, &p); err != nil {
		return "", err
	}
	return a.exchange(ctx, p.Code)
}

// ingest writes the Patients and their Observations as the super admin, in
// transactions of about 100 resources, Patient i in clinic i mod n.
func (a *mixAPI) ingest(ctx context.Context, base, sa, project string, clinics []string, o *mixOptions) error {
	rng := rand.New(rand.NewPCG(o.seed, 7))
	work := make(chan []json.RawMessage)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for entries := range work {
				if _, err := post(ctx, a.client, base, sa, entries, false, true); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	var batch []json.RawMessage
	for i := range o.patients {
		pid := "urn:uuid:" + uuid.NewString()
		accounts := clinics[i%len(clinics)]
		batch = append(batch, synth.Entry(pid, synth.InProject(synth.Patient(rng), project, accounts)))
		for range o.obs {
			batch = append(batch, synth.Entry("urn:uuid:"+uuid.NewString(), synth.InProject(synth.Observation(rng, pid), project, accounts)))
		}
		if len(batch) >= 100 || i == o.patients-1 {
			work <- batch
			batch = nil
		}
	}
	close(work)
	wg.Wait()
	return firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// invite uploads the MSO policy and invites clinician i into clinic i.
func (a *mixAPI) invite(ctx context.Context, base, admin string, o *mixOptions, project string, clinics []string) error {
	var policy struct{ ID string }
	if err := a.call(ctx, "POST", base+"/AccessPolicy", admin, synth.MSOPolicy(), &policy); err != nil {
		return err
	}
	for i, clinic := range clinics {
		body := map[string]any{
			"resourceType": "Practitioner", "firstName": "Clinician", "lastName": fmt.Sprintf("Clinic%d", i),
			"email": mixEmail(o.name, fmt.Sprintf("clinic%d", i)), "password": o.password, "sendEmail": false, "scope": "project",
			"membership": map[string]any{
				"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy.ID},
				"access":       synth.ClinicAccess("AccessPolicy/"+policy.ID, []string{clinic}),
			},
		}
		if err := a.call(ctx, "POST", a.root+"/admin/projects/"+project+"/invite", admin, body, nil); err != nil {
			return err
		}
	}
	return nil
}

// mixSearchEntry is the part of a search entry the set-up reads.
type mixSearchEntry struct {
	Resource struct {
		ID         string                           `json:"id"`
		Name       json.RawMessage                  `json:"name"` // a string in an Organization, HumanNames in a Patient
		Identifier []struct{ System, Value string } `json:"identifier"`
		Meta       struct {
			Accounts []struct{ Reference string } `json:"accounts"`
		} `json:"meta"`
	} `json:"resource"`
}

// pages runs a search as token, following next links for up to maxPages.
func (a *mixAPI) pages(ctx context.Context, url, token string, maxPages int) ([]mixSearchEntry, error) {
	var all []mixSearchEntry
	for range maxPages {
		var b struct {
			Entry []mixSearchEntry `json:"entry"`
			Link  []struct{ Relation, URL string }
		}
		if err := a.call(ctx, "GET", url, token, nil, &b); err != nil {
			return nil, err
		}
		all = append(all, b.Entry...)
		url = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				url = l.URL
			}
		}
		if url == "" || len(b.Entry) == 0 {
			break
		}
	}
	return all, nil
}

// clinics lists a reused project's clinic Organizations in the order they
// were created (by name, "Clinic 000" first).
func (a *mixAPI) clinics(ctx context.Context, base, admin string) ([]string, error) {
	orgs, err := a.pages(ctx, base+"/Organization?_count=1000", admin, 10)
	if err != nil {
		return nil, err
	}
	type clinic struct{ value, ref string }
	var cs []clinic
	for _, e := range orgs {
		for _, id := range e.Resource.Identifier {
			if id.System == "urn:ward:clinic" {
				cs = append(cs, clinic{id.Value, "Organization/" + e.Resource.ID})
			}
		}
	}
	slices.SortFunc(cs, func(x, y clinic) int { return strings.Compare(x.value, y.value) })
	refs := make([]string, len(cs))
	for i, c := range cs {
		refs[i] = c.ref
	}
	return refs, nil
}

// discover reads, as the admin, which Patients and Observations are in
// which clinic (up to 10,000 of each), so clinicians read their own and
// are tried on the others'.
func (a *mixAPI) discover(ctx context.Context, base string, w *mixWorld) error {
	byClinic := map[string]*mixCaller{}
	for _, c := range w.clinicians {
		byClinic[c.clinic] = c
	}
	families := map[string]bool{}
	for _, typ := range []string{"Patient", "Observation"} {
		entries, err := a.pages(ctx, base+"/"+typ+"?_count=1000", w.admin.token, 10)
		if err != nil {
			return err
		}
		for _, e := range entries {
			r := e.Resource
			var names []struct{ Family string }
			_ = json.Unmarshal(r.Name, &names)
			for _, n := range names {
				if n.Family != "" {
					families[n.Family] = true
				}
			}
			var owner *mixCaller
			for _, acc := range r.Meta.Accounts {
				if c := byClinic[acc.Reference]; c != nil {
					owner = c
				}
			}
			if owner == nil {
				continue // the admin's own creates: in no clinic, and not read
			}
			if typ == "Observation" {
				owner.obs = append(owner.obs, r.ID)
				w.admin.obs = append(w.admin.obs, r.ID)
				continue
			}
			owner.patients = append(owner.patients, r.ID)
			w.admin.patients = append(w.admin.patients, r.ID)
			for _, c := range w.clinicians {
				if c != owner {
					c.others = append(c.others, r.ID)
				}
			}
		}
	}
	for _, c := range w.clinicians {
		if len(c.patients) == 0 {
			return fmt.Errorf("clinic %s has no Patients (-mix-patients must be at least -mix-clinics)", c.clinic)
		}
	}
	for f := range families {
		w.families = append(w.families, f)
	}
	slices.Sort(w.families)
	return nil
}
