package wire_test

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// projectBad is where the bad-input suite writes.
const projectBad = "0d000000-0000-4000-8000-00000000000d"

// badRequest is one request the API must refuse with status and an
// OperationOutcome whose text or expression contains names (when set).
// {P} and {O} stand for the ids of a seeded Patient and Observation.
type badRequest struct {
	name    string
	method  string
	path    string
	body    string
	headers []string
	status  int
	names   string
}

const (
	jsonPatch = "application/json-patch+json"
	otherUUID = "0e000000-0000-4000-8000-0000000000ee"
	validObs  = `"status":"final","code":{"text":"x"}`
)

func ct(mediaType string) []string { return []string{"Content-Type", mediaType} }

var badRequests = []badRequest{
	// Not JSON, or not a resource.
	{name: "malformed JSON", method: "POST", path: "Patient", body: `{"resourceType":"Patient",`, status: 400},
	{name: "trailing garbage", method: "POST", path: "Patient", body: `{"resourceType":"Patient"} x`, status: 400},
	{name: "array", method: "POST", path: "Patient", body: `[{"resourceType":"Patient"}]`, status: 400},
	{name: "string", method: "POST", path: "Patient", body: `"Patient"`, status: 400},
	{name: "null", method: "POST", path: "Patient", body: `null`, status: 400},
	{name: "number", method: "POST", path: "Patient", body: `42`, status: 400},
	{name: "empty body", method: "POST", path: "Patient", body: "", headers: ct("application/fhir+json"), status: 400},
	{name: "missing resourceType", method: "POST", path: "Patient", body: `{"name":[{"family":"X"}]}`, status: 400, names: "resourceType"},
	{name: "resourceType not a string", method: "POST", path: "Patient", body: `{"resourceType":1}`, status: 400, names: "resourceType"},
	{name: "unknown resourceType in body", method: "POST", path: "Patient", body: `{"resourceType":"Foo"}`, status: 400, names: "resourceType"},
	{name: "unknown type in URL", method: "POST", path: "Foo", body: `{"resourceType":"Foo"}`, status: 404},
	{name: "unknown type in PUT URL", method: "PUT", path: "Foo/{P}", body: `{"resourceType":"Foo","id":"{P}"}`, status: 404},
	{name: "create type mismatch", method: "POST", path: "Patient", body: `{"resourceType":"Observation",` + validObs + `}`, status: 400, names: "resourceType"},
	{name: "update type mismatch", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Observation","id":"{P}",` + validObs + `}`, status: 400, names: "resourceType"},

	// Ids.
	{name: "update id mismatch", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"` + otherUUID + `"}`, status: 400, names: "id"},
	{name: "update without id", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","gender":"male"}`, status: 400, names: "id"},
	{name: "id not a string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","id":5}`, status: 400, names: "id"},
	{name: "update of an invalid id", method: "PUT", path: "Patient/bad$id", body: `{"resourceType":"Patient","id":"bad$id"}`, status: 400},

	// Wrong JSON types and formats for known elements.
	{name: "boolean as string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","active":"yes"}`, status: 400, names: "active"},
	{name: "date as number", method: "POST", path: "Patient", body: `{"resourceType":"Patient","birthDate":19700501}`, status: 400, names: "birthDate"},
	{name: "array as string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":"Smith"}`, status: 400, names: "name"},
	{name: "nested array as string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":[{"given":"Ann"}]}`, status: 400, names: "given"},
	{name: "object as array", method: "POST", path: "Patient", body: `{"resourceType":"Patient","maritalStatus":[{"text":"x"}]}`, status: 400, names: "maritalStatus"},
	{name: "code as boolean", method: "POST", path: "Patient", body: `{"resourceType":"Patient","gender":true}`, status: 400, names: "gender"},
	{name: "decimal as string", method: "POST", path: "Observation", body: `{"resourceType":"Observation",` + validObs + `,"valueQuantity":{"value":"72"}}`, status: 400, names: "value"},
	{name: "bad month", method: "POST", path: "Patient", body: `{"resourceType":"Patient","birthDate":"1970-13-01"}`, status: 400, names: "birthDate"},
	{name: "US date", method: "POST", path: "Patient", body: `{"resourceType":"Patient","birthDate":"05/01/1970"}`, status: 400, names: "birthDate"},
	{name: "bad dateTime", method: "POST", path: "Observation", body: `{"resourceType":"Observation",` + validObs + `,"effectiveDateTime":"yesterday"}`, status: 400, names: "effective"},
	{name: "empty string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":[{"family":""}]}`, status: 400, names: "family"},
	{name: "null element", method: "POST", path: "Patient", body: `{"resourceType":"Patient","gender":null}`, status: 400, names: "gender"},
	{name: "missing required element", method: "POST", path: "Observation", body: `{"resourceType":"Observation","code":{"text":"x"}}`, status: 400, names: "status"},
	{name: "two values of a choice", method: "POST", path: "Patient", body: `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, status: 400, names: "deceased"},

	// Unknown elements.
	{name: "unknown element", method: "POST", path: "Patient", body: `{"resourceType":"Patient","foo":1}`, status: 400, names: "foo"},
	{name: "unknown nested element", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":[{"famly":"X"}]}`, status: 400, names: "famly"},
	{name: "unknown choice type", method: "POST", path: "Patient", body: `{"resourceType":"Patient","deceasedFoo":true}`, status: 400, names: "deceasedFoo"},
	{name: "unknown element on update", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"{P}","foo":1}`, status: 400, names: "foo"},

	// References.
	{name: "reference as number", method: "POST", path: "Patient", body: `{"resourceType":"Patient","generalPractitioner":[{"reference":42}]}`, status: 400, names: "reference"},
	{name: "reference as string", method: "POST", path: "Patient", body: `{"resourceType":"Patient","managingOrganization":"Organization/` + otherUUID + `"}`, status: 400, names: "managingOrganization"},
	{name: "reference unknown element", method: "POST", path: "Observation", body: `{"resourceType":"Observation",` + validObs + `,"subject":{"ref":"Patient/{P}"}}`, status: 400, names: "ref"},

	// Size.
	{name: "oversized create", method: "POST", path: "Patient", body: oversized(), status: 413},
	{name: "oversized update", method: "PUT", path: "Patient/{P}", body: oversized(), status: 413},
	{name: "oversized transaction", method: "POST", path: "", body: oversized(), status: 413},
	{name: "oversized patch", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","path":"/language","value":"` + strings.Repeat("a", maxBody) + `"}]`, headers: ct(jsonPatch), status: 413},

	// Invalid search values in conditional interactions.
	{name: "conditional update bad date", method: "PUT", path: "Patient?birthdate=notadate", body: `{"resourceType":"Patient"}`, status: 400, names: "birthdate"},
	{name: "conditional update unknown param", method: "PUT", path: "Patient?foo=bar", body: `{"resourceType":"Patient"}`, status: 400, names: "foo"},
	{name: "conditional delete unknown param", method: "DELETE", path: "Patient?foo=bar", status: 400, names: "foo"},
	{name: "conditional delete bad prefix", method: "DELETE", path: "Patient?birthdate=xx1970", status: 400, names: "birthdate"},
	{name: "If-None-Exist unknown param", method: "POST", path: "Patient", body: `{"resourceType":"Patient"}`, headers: []string{"If-None-Exist", "foo=bar"}, status: 400, names: "foo"},
	{name: "conditional update matching two", method: "PUT", path: "Patient?name=twin", body: `{"resourceType":"Patient"}`, status: 412},
	{name: "conditional delete matching two", method: "DELETE", path: "Patient?name=twin", status: 412},

	// PATCH.
	{name: "patch malformed JSON", method: "PATCH", path: "Patient/{P}", body: `[{"op":`, headers: ct(jsonPatch), status: 400},
	{name: "patch not an array", method: "PATCH", path: "Patient/{P}", body: `{"op":"add","path":"/active","value":true}`, headers: ct(jsonPatch), status: 400},
	{name: "patch unknown op", method: "PATCH", path: "Patient/{P}", body: `[{"op":"frobnicate","path":"/active","value":true}]`, headers: ct(jsonPatch), status: 400},
	{name: "patch missing path", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","value":true}]`, headers: ct(jsonPatch), status: 400},
	{name: "patch remove missing element", method: "PATCH", path: "Patient/{P}", body: `[{"op":"remove","path":"/telecom"}]`, headers: ct(jsonPatch), status: 400},
	{name: "patch failing test", method: "PATCH", path: "Patient/{P}", body: `[{"op":"test","path":"/gender","value":"male"},{"op":"add","path":"/active","value":true}]`, headers: ct(jsonPatch), status: 400},
	{name: "patch changing id", method: "PATCH", path: "Patient/{P}", body: `[{"op":"replace","path":"/id","value":"` + otherUUID + `"}]`, headers: ct(jsonPatch), status: 400, names: "id"},
	{name: "patch removing id", method: "PATCH", path: "Patient/{P}", body: `[{"op":"remove","path":"/id"}]`, headers: ct(jsonPatch), status: 400, names: "id"},
	{name: "patch changing resourceType", method: "PATCH", path: "Patient/{P}", body: `[{"op":"replace","path":"/resourceType","value":"Person"}]`, headers: ct(jsonPatch), status: 400, names: "resourceType"},
	{name: "patch to an invalid resource", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","path":"/active","value":"yes"}]`, headers: ct(jsonPatch), status: 400, names: "active"},
	{name: "patch adding an unknown element", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","path":"/foo","value":1}]`, headers: ct(jsonPatch), status: 400, names: "foo"},
	{name: "patch as FHIR JSON", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","path":"/active","value":true}]`, headers: ct("application/fhir+json"), status: 415},
	{name: "patch of a missing resource", method: "PATCH", path: "Patient/" + otherUUID, body: `[{"op":"add","path":"/active","value":true}]`, headers: ct(jsonPatch), status: 404},

	// Versions.
	{name: "update If-Match mismatch", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"{P}","gender":"male"}`, headers: []string{"If-Match", `W/"` + otherUUID + `"`}, status: 412},
	{name: "patch If-Match mismatch", method: "PATCH", path: "Patient/{P}", body: `[{"op":"add","path":"/active","value":true}]`, headers: []string{"Content-Type", jsonPatch, "If-Match", `W/"` + otherUUID + `"`}, status: 412},
	{name: "If-Match on a missing resource", method: "PUT", path: "Patient/" + otherUUID, body: `{"resourceType":"Patient","id":"` + otherUUID + `"}`, headers: []string{"If-Match", `W/"1"`}, status: 412},

	// Media types.
	{name: "text/plain create", method: "POST", path: "Patient", body: `{"resourceType":"Patient"}`, headers: ct("text/plain"), status: 415},
	{name: "XML create", method: "POST", path: "Patient", body: `<Patient xmlns="http://hl7.org/fhir"/>`, headers: ct("application/fhir+xml"), status: 415},
	{name: "form update", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"{P}"}`, headers: ct("application/x-www-form-urlencoded"), status: 415},
	{name: "JSON _search body", method: "POST", path: "Patient/_search", body: `{"name":"smith"}`, headers: ct("application/json"), status: 415},
	{name: "text/plain transaction", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[]}`, headers: ct("text/plain"), status: 415},

	// Methods.
	{name: "PATCH type", method: "PATCH", path: "Patient", body: `[]`, headers: ct(jsonPatch), status: 405},
	{name: "POST instance", method: "POST", path: "Patient/{P}", body: `{"resourceType":"Patient"}`, status: 405},
	{name: "PUT history", method: "PUT", path: "Patient/{P}/_history", body: `{"resourceType":"Patient"}`, status: 405},
	{name: "DELETE version", method: "DELETE", path: "Patient/{P}/_history/1", status: 405},
	{name: "PUT system", method: "PUT", path: "", body: `{"resourceType":"Bundle","type":"transaction"}`, status: 405},

	// Bundles.
	{name: "system POST of a Patient", method: "POST", path: "", body: `{"resourceType":"Patient"}`, status: 400, names: "resourceType"},
	{name: "collection Bundle", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"collection","entry":[]}`, status: 400, names: "type"},
	{name: "transaction with one bad entry", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"Kept"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","active":"yes"},"request":{"method":"POST","url":"Patient"}}]}`, status: 400, names: "active"},
	{name: "transaction with a failing update", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"Kept"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient","id":"{P}","gender":"male"},"request":{"method":"PUT","url":"Patient/{P}","ifMatch":"W/\"` + otherUUID + `\""}}]}`, status: 412},
	{name: "transaction with an unknown method", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient"},"request":{"method":"FROB","url":"Patient"}}]}`, status: 400, names: "method"},
	{name: "transaction PUT without id", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient"},"request":{"method":"PUT","url":"Patient"}}]}`, status: 400},
	{name: "transaction entry type mismatch", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Observation",` + validObs + `},"request":{"method":"POST","url":"Patient"}}]}`, status: 400, names: "resourceType"},
	{name: "transaction entries not an array", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":{}}`, status: 400, names: "entry"},

	{name: "transaction entry without request", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"Kept"}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Patient"}}]}`, status: 400, names: "request"},
	{name: "transaction with a duplicate fullUrl", method: "POST", path: "", body: `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:6f0e2c4e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Dup"}]},"request":{"method":"POST","url":"Patient"}},
		{"fullUrl":"urn:uuid:6f0e2c4e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Dup"}]},"request":{"method":"POST","url":"Patient"}}]}`, status: 400, names: "fullUrl"},

	// Duplicate keys and nesting.
	{name: "duplicate resourceType", method: "POST", path: "Patient", body: `{"resourceType":"Patient","resourceType":"Observation",` + validObs + `}`, status: 400, names: "resourceType"},
	{name: "duplicate id on update", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"{P}","id":"` + otherUUID + `"}`, status: 400, names: "id"},
	{name: "deeply nested extensions", method: "POST", path: "Patient", body: `{"resourceType":"Patient",` + nested(200) + `}`, status: 400},

	// History parameters.
	{name: "history bad _count", method: "GET", path: "Patient/_history?_count=x", status: 400, names: "_count"},
	{name: "history bad _since", method: "GET", path: "_history?_since=yesterday", status: 400, names: "_since"},
}

// nested is an extension holding an extension, depth levels deep.
func nested(depth int) string {
	return strings.Repeat(`"extension":[{"url":"http://example.org/x",`, depth) + `"valueBoolean":true` + strings.Repeat(`}]`, depth)
}

// oversized is a Patient just over the server's body limit.
func oversized() string {
	return `{"resourceType":"Patient","name":[{"family":"` + strings.Repeat("a", maxBody) + `"}]}`
}

// TestBadInput sends each bad request and checks its status and
// OperationOutcome, then that nothing was written: the project's history
// has as many versions as before and the seeded Patient is unchanged.
func TestBadInput(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectBad)
		p := c.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Seed"}],"gender":"female","birthDate":"1970"}`)
		o := c.do("POST", "Observation", `{"resourceType":"Observation",`+validObs+`}`)
		for i := 0; i < 2; i++ {
			c.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Twin"}]}`)
		}
		if p.status != 201 || o.status != 201 {
			t.Fatalf("seeding: %d %s / %d %s", p.status, p.raw, o.status, o.raw)
		}
		ids := strings.NewReplacer("{P}", p.body["id"].(string), "{O}", o.body["id"].(string))
		seed := c.mustGet("Patient/" + p.body["id"].(string))
		versions := c.historyTotal("_history")

		for _, bc := range badRequests {
			r := c.do(bc.method, ids.Replace(bc.path), ids.Replace(bc.body), bc.headers...)
			fail := failer(t, bc.name)
			switch {
			case r.status != bc.status || !isOutcome(r.body):
				fail("%s: %s %s: %d %.300s, want %d OperationOutcome", bc.name, bc.method, bc.path, r.status, r.raw, bc.status)
			case !strings.Contains(outcomeText(r.body), bc.names):
				fail("%s: outcome %q does not name %q", bc.name, outcomeText(r.body), bc.names)
			case r.status == 405 && r.header.Get("Allow") == "":
				fail("%s: 405 without Allow", bc.name)
			}
			if got := c.historyTotal("_history"); got != versions {
				fail("%s: history has %d versions, had %d: something was written", bc.name, got, versions)
				versions = got // so the next case is judged on its own
			}
			if now := c.mustGet("Patient/" + p.body["id"].(string)); string(now.raw) != string(seed.raw) {
				fail("%s: seeded Patient changed:\n%s\n%s", bc.name, seed.raw, now.raw)
				seed = now
			}
		}
		if refs := entryRefs(c.mustGet("Patient?name=kept").body, ""); len(refs) != 0 {
			t.Errorf("a failed transaction kept %v", refs)
		}
	})
}

// TestBadBytes: bodies that are not valid UTF-8 or carry control
// characters are refused or stored readably, never a server error.
func TestBadBytes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectBad)
		for _, body := range []string{
			"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\xfe\"}]}",
			`{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}`,
			`{"resourceType":"Patient","name":[{"family":"\ud800"}]}`,
			"\xef\xbb\xbf{\"resourceType\":\"Patient\"}",
		} {
			r := c.do("POST", "Patient", body)
			fail := failer(t, "bytes:"+body)
			switch {
			case r.status >= 500 || r.status == 201 && r.body == nil:
				fail("POST %q: %d %s", body, r.status, r.raw)
			case r.status == 201:
				id, _ := r.body["id"].(string)
				if got := c.get("Patient/" + id); got.status != 200 || got.body == nil {
					fail("POST %q stored, read back: %d %s", body, got.status, got.raw)
				}
				if got := c.get("Patient?_id=" + id); got.status != 200 || len(list(got.body, "entry")) != 1 {
					fail("POST %q stored, searched: %d %s", body, got.status, got.raw)
				}
			case r.status != 400 || !isOutcome(r.body):
				fail("POST %q: %d %s, want 201 or 400", body, r.status, r.raw)
			}
		}
	})
}
