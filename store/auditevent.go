package store

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
)

// Code systems of the AuditEvent shape (IHE BALP, Basic Audit Log Patterns).
const (
	auditEventTypeSystem  = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	dicomSystem           = "http://dicom.nema.org/resources/ontology/DCM"
	restfulSystem         = "http://hl7.org/fhir/restful-interaction"
	objectRoleSystem      = "http://terminology.hl7.org/CodeSystem/object-role"
	entityTypeSystem      = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	balpEntityTypeSystem  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	sourceTypeSystem      = "http://terminology.hl7.org/CodeSystem/security-source-type"
	participationSystem   = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	wardOperationSystem   = "https://ward.health/fhir/CodeSystem/operation"
	wardIdentityEvent     = "https://ward.health/fhir/CodeSystem/identity-event"
	wardAgentRoleSystem   = "https://ward.health/fhir/CodeSystem/audit-agent-role"
	wardHTTPStatusExt     = "https://ward.health/fhir/StructureDefinition/http-status"
	wardUserAgentExt      = "https://ward.health/fhir/StructureDefinition/user-agent"
	wardServerIdentSystem = "https://ward.health/fhir/server"
)

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type extension struct {
	URL          string `json:"url"`
	ValueInteger *int   `json:"valueInteger,omitempty"`
	ValueString  string `json:"valueString,omitempty"`
}

type auditNetwork struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type auditAgent struct {
	Extension []extension       `json:"extension,omitempty"`
	Type      *codeableConcept  `json:"type,omitempty"`
	Role      []codeableConcept `json:"role,omitempty"`
	Who       *reference        `json:"who,omitempty"`
	AltID     string            `json:"altId,omitempty"`
	Requestor bool              `json:"requestor"`
	Network   *auditNetwork     `json:"network,omitempty"`
}

type auditDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

type auditEntity struct {
	What   *reference    `json:"what,omitempty"`
	Type   *coding       `json:"type,omitempty"`
	Role   *coding       `json:"role,omitempty"`
	Query  string        `json:"query,omitempty"`
	Detail []auditDetail `json:"detail,omitempty"`
}

type auditSource struct {
	Observer reference `json:"observer"`
	Type     []coding  `json:"type,omitempty"`
}

// auditMeta is the meta the store gives every resource it writes, here
// written directly: the trail's records skip the generic write path.
type auditMeta struct {
	VersionID   string      `json:"versionId"`
	LastUpdated string      `json:"lastUpdated"`
	Author      reference   `json:"author"`
	Project     string      `json:"project,omitempty"`
	Compartment []reference `json:"compartment,omitempty"`
}

type auditEvent struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         auditMeta     `json:"meta"`
	Extension    []extension   `json:"extension,omitempty"`
	Type         coding        `json:"type"`
	Subtype      []coding      `json:"subtype,omitempty"`
	Action       string        `json:"action,omitempty"`
	Recorded     string        `json:"recorded"`
	Outcome      string        `json:"outcome,omitempty"`
	OutcomeDesc  string        `json:"outcomeDesc,omitempty"`
	Agent        []auditAgent  `json:"agent"`
	Source       auditSource   `json:"source"`
	Entity       []auditEntity `json:"entity,omitempty"`
}

// auditProject is the trail rec belongs to: the server's when no caller
// could be established.
func auditProject(rec *ward.AuditRecord) string {
	if rec.ProjectID == "" {
		return ward.SystemProjectID
	}
	return rec.ProjectID
}

// Bounds of the request input one record keeps: a user agent, a refusal's
// text or an id is the client's to choose, and a search query may be
// hundreds of kilobytes; the trail needs what was asked, not all of it.
const (
	maxAuditText  = 1024
	maxAuditQuery = 4096
)

// auditText is s as a record may store it: at most max bytes, valid UTF-8,
// no NUL (which the resource validation refuses, so an access with a NUL in
// its path or headers would otherwise go unrecorded — and unanswered).
func auditText(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanAuditRecord returns a copy of rec whose every string passed
// auditText.
func cleanAuditRecord(rec *ward.AuditRecord) *ward.AuditRecord {
	c := *rec
	for _, f := range []*string{&c.ProjectID, &c.Kind, &c.Action, &c.Interaction, &c.Outcome, &c.Reason,
		&c.User, &c.Profile, &c.Membership, &c.Client, &c.OnBehalfOf, &c.Address, &c.UserAgent,
		&c.RequestID, &c.ResourceType, &c.ResourceID, &c.VersionID} {
		*f = auditText(*f, maxAuditText)
	}
	c.Query = auditText(rec.Query, maxAuditQuery)
	c.Patients = make([]string, len(rec.Patients))
	for i, p := range rec.Patients {
		c.Patients[i] = auditText(p, maxAuditText)
	}
	return &c
}

// auditVersion shapes rec as a FHIR R4 AuditEvent (IHE BALP) stored at
// now in rec's project, with its index rows and compartments: everything
// the audit log's writer then only inserts. Request input in rec is
// bounded and cleaned first (cleanAuditRecord). The rows are built from
// the shape (auditRows), not by FHIRPath; a test holds them equal.
func auditVersion(rec *ward.AuditRecord, now time.Time) (*version, error) {
	rec = cleanAuditRecord(rec)
	ev := auditEventOf(rec)
	project := auditProject(rec)
	ev.ID = ward.NewID()
	rows := auditRows(ev)
	refs, uuids := index.Compartments(metaProject(project), "AuditEvent", ev.ID, nil, rows)
	ev.Meta = auditMeta{
		VersionID:   ward.NewID(),
		LastUpdated: now.Format("2006-01-02T15:04:05.000Z07:00"),
		Author:      reference{Reference: ward.SystemPrincipal().Author},
		Project:     metaProject(project),
	}
	for _, ref := range refs {
		ev.Meta.Compartment = append(ev.Meta.Compartment, reference{Reference: ref})
	}
	content, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	res := &ward.Resource{
		Type: "AuditEvent", ID: ev.ID, VersionID: ev.Meta.VersionID, ProjectID: project,
		LastUpdated: now, Content: content,
	}
	return &version{res: res, rows: rows, compartments: uuids}, nil
}

// auditEventOf is rec's AuditEvent without id and meta.
func auditEventOf(rec *ward.AuditRecord) *auditEvent {
	when := rec.Time
	if when.IsZero() {
		when = time.Now()
	}
	ev := &auditEvent{
		ResourceType: "AuditEvent",
		Type:         auditType(rec.Kind),
		Subtype:      auditSubtype(rec.Kind, rec.Interaction),
		Action:       rec.Action,
		Recorded:     when.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"),
		Outcome:      rec.Outcome,
		OutcomeDesc:  rec.Reason,
		Agent:        auditAgents(rec),
		Source: auditSource{
			Observer: reference{Display: "Ward", Identifier: &identifier{System: wardServerIdentSystem, Value: "ward"}},
			Type:     []coding{{System: sourceTypeSystem, Code: "4", Display: "Application Server"}},
		},
		Entity: auditEntities(rec),
	}
	if rec.Status != 0 {
		status := rec.Status
		ev.Extension = []extension{{URL: wardHTTPStatusExt, ValueInteger: &status}}
	}
	return ev
}

// auditRows are the index rows FHIRPath would extract from ev for the
// AuditEvent search parameters Ward offers (fhir.withdrawnParams drops the
// others): action, address, agent, date, entity (and entity:identifier),
// outcome, patient, subtype and type.
func auditRows(ev *auditEvent) *index.Rows {
	r := &index.Rows{}
	r.AddCoding("type", ev.Type.System, ev.Type.Code, ev.Type.Display)
	for _, c := range ev.Subtype {
		r.AddCoding("subtype", c.System, c.Code, c.Display)
	}
	r.AddCode("action", ev.Action)
	r.AddDate("date", ev.Recorded)
	r.AddCode("outcome", ev.Outcome)
	for _, a := range ev.Agent {
		if a.Who != nil {
			r.AddReference("agent", a.Who.Reference)
			addPatientRef(r, a.Who.Reference)
		}
		if a.Network != nil {
			r.AddString("address", a.Network.Address)
		}
	}
	for _, e := range ev.Entity {
		if e.What != nil {
			r.AddReference("entity", e.What.Reference)
			addPatientRef(r, e.What.Reference)
			if id := e.What.Identifier; id != nil {
				r.AddIdentifierOf("entity", id.System, id.Value)
			}
		}
	}
	r.Finish()
	return r
}

// addPatientRef adds ref under "patient" when it points at a Patient
// (agent.who and entity.what resolved to a Patient).
func addPatientRef(r *index.Rows, ref string) {
	if typ, _, ok := index.ParseReference(ref); ok && typ == "Patient" {
		r.AddReference("patient", ref)
	}
}

func auditType(kind string) coding {
	if kind == "login" {
		return coding{System: dicomSystem, Code: "110114", Display: "User Authentication"}
	}
	return coding{System: auditEventTypeSystem, Code: "rest", Display: "RESTful Operation"}
}

// auditSubtype is the restful interaction, the operation, or the identity
// event (DICOM Login/Logout where one applies).
func auditSubtype(kind, interaction string) []coding {
	switch {
	case interaction == "":
		return nil
	case kind == "login":
		out := []coding{{System: wardIdentityEvent, Code: interaction}}
		switch interaction {
		case "login":
			out = append(out, coding{System: dicomSystem, Code: "110122", Display: "Login"})
		case "logout":
			out = append(out, coding{System: dicomSystem, Code: "110123", Display: "Logout"})
		}
		return out
	case strings.HasPrefix(interaction, "$"):
		return []coding{{System: restfulSystem, Code: "operation"}, {System: wardOperationSystem, Code: interaction}}
	}
	return []coding{{System: restfulSystem, Code: interaction}}
}

// auditAgents: the requestor (the profile, or the client application when
// there is no profile) with the address it came from, then the other
// identities of the caller, each an agent that is not the requestor.
func auditAgents(rec *ward.AuditRecord) []auditAgent {
	requestor := auditAgent{Requestor: true, AltID: rec.User}
	if who := firstNonEmpty(rec.Profile, rec.Client); who != "" {
		requestor.Who = &reference{Reference: who}
	}
	if rec.Address != "" {
		requestor.Network = &auditNetwork{Address: rec.Address, Type: networkType(rec.Address)}
	}
	if rec.UserAgent != "" {
		requestor.Extension = []extension{{URL: wardUserAgentExt, ValueString: rec.UserAgent}}
	}
	agents := []auditAgent{requestor}
	others := []struct{ role, ref string }{
		{"user", rec.User},
		{"membership", rec.Membership},
		{"on-behalf-of", rec.OnBehalfOf},
	}
	if rec.Profile != "" {
		others = append(others, struct{ role, ref string }{"client", rec.Client})
	}
	for _, o := range others {
		if o.ref == "" {
			continue
		}
		agents = append(agents, auditAgent{
			Role: []codeableConcept{{Coding: []coding{{System: wardAgentRoleSystem, Code: o.role}}}},
			Who:  &reference{Reference: o.ref},
		})
	}
	return agents
}

// networkType is AuditEvent.agent.network.type: 2 an IP address, 1 a name.
func networkType(address string) string {
	if strings.ContainsAny(address, ":") || strings.Trim(address, "0123456789.") == "" {
		return "2"
	}
	return "1"
}

// auditEntities: the resource (versioned when known), each patient, the
// query with its result count, and the request id.
func auditEntities(rec *ward.AuditRecord) []auditEntity {
	var out []auditEntity
	searched := rec.Query != "" || rec.Interaction == "search-type" || rec.Interaction == "search-system"
	if rec.ResourceType != "" && rec.ResourceID != "" {
		ref := rec.ResourceType + "/" + rec.ResourceID
		if rec.VersionID != "" {
			ref += "/_history/" + rec.VersionID
		}
		e := auditEntity{
			What: &reference{Reference: ref},
			Type: &coding{System: entityTypeSystem, Code: "2", Display: "System Object"},
			Role: &coding{System: objectRoleSystem, Code: "4", Display: "Domain Resource"},
		}
		if !searched && rec.Results >= 0 { // how many resources an operation on it touched ($expunge)
			e.Detail = []auditDetail{{Type: "results", ValueString: strconv.Itoa(rec.Results)}}
		}
		out = append(out, e)
	}
	for _, p := range rec.Patients {
		out = append(out, auditEntity{
			What: &reference{Reference: p},
			Type: &coding{System: entityTypeSystem, Code: "1", Display: "Person"},
			Role: &coding{System: objectRoleSystem, Code: "1", Display: "Patient"},
		})
	}
	if searched {
		q := auditEntity{
			Type:  &coding{System: entityTypeSystem, Code: "2", Display: "System Object"},
			Role:  &coding{System: objectRoleSystem, Code: "24", Display: "Query"},
			Query: base64.StdEncoding.EncodeToString([]byte(rec.Query)),
		}
		if rec.ResourceType != "" && rec.ResourceID == "" {
			q.What = &reference{Display: rec.ResourceType}
		}
		if rec.Results >= 0 {
			q.Detail = []auditDetail{{Type: "results", ValueString: strconv.Itoa(rec.Results)}}
		}
		out = append(out, q)
	}
	if rec.RequestID != "" {
		out = append(out, auditEntity{
			What: &reference{Identifier: &identifier{Value: rec.RequestID}},
			Type: &coding{System: balpEntityTypeSystem, Code: "XrequestId"},
		})
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
