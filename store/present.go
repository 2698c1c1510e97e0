package store

import (
	"context"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/rawjson"
)

// The output gate: what a caller sees of a resource is decided here and
// nowhere else. Every resource a ward.ResourceStore method returns (read,
// vread, history, search matches and includes, $everything, the answer to
// a write) passes through present, so REST, bundles, GraphQL, operations
// and the identity endpoints (which read through a non-internal
// principal for what they answer) all show the same fields:
//
//   - the hiddenFields of the access-policy rule that grants the read
//     (redact, decided in SQL);
//   - ward.SecretFields of the type (password hashes, MFA secrets, login
//     codes, private key material) unless the principal is Internal, a
//     super admin's included;
//   - meta.author, meta.project, meta.account and meta.compartment unless
//     the caller sent "X-Medplum: extended" (ward.NonExtendedMetaFields).
//
// The gate fails closed: a stored resource it cannot scan is an error, not
// served whole.

// present applies the output gate to resources in place. Each resource
// must be the caller's own copy (reads build fresh ones; writes copy in
// output).
func present(ctx context.Context, db queryer, d Dialect, p *ward.Principal, resources []*ward.Resource) error {
	if err := redact(ctx, db, d, p, resources); err != nil {
		return err
	}
	audited := ward.AccessFromContext(ctx) != nil
	for _, r := range resources {
		if r == nil || r.Content == nil {
			continue
		}
		if audited && r.Type != "AuditEvent" {
			r.Patients = compartmentPatients(r.Content)
		}
		content, err := visibleContent(p, r.Type, r.Content)
		if err != nil {
			return err
		}
		r.Content = content
	}
	return nil
}

// compartmentPatients returns the "Patient/…" entries of a stored
// resource's meta.compartment, read before the gate may strip them, for
// the audit trail's "whose data was this" — only when the request is
// audited (a ward.Access in its context), and never for an AuditEvent:
// reading the trail is recorded with its query, not as an access to the
// patients it names, or each look at a patient's access history would
// add to it. It is nil for content it cannot
// scan: the gate itself refuses such content just after. It scans the raw
// bytes (no decoding into Go values): every returned resource pays it.
func compartmentPatients(content []byte) []string {
	meta := rawjson.Value(content, "meta")
	if meta == nil {
		return nil
	}
	list := rawjson.Value(meta, "compartment")
	i := rawjson.SkipSpace(list, 0)
	if i >= len(list) || list[i] != '[' {
		return nil
	}
	var patients []string
	for i = rawjson.SkipSpace(list, i+1); i < len(list) && list[i] != ']'; {
		end, err := rawjson.SkipValue(list, i)
		if err != nil {
			return nil
		}
		if ref := referenceOf(list[i:end]); strings.HasPrefix(ref, "Patient/") {
			patients = append(patients, ref)
		}
		if i = rawjson.SkipSpace(list, end); i < len(list) && list[i] == ',' {
			i = rawjson.SkipSpace(list, i+1)
		}
	}
	return patients
}

// referenceOf is the "reference" string of a Reference object, or "".
func referenceOf(obj []byte) string {
	raw := rawjson.Value(obj, "reference")
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	ref, err := rawjson.DecodeString(raw)
	if err != nil {
		return ""
	}
	return ref
}

// visibleContent removes from one stored resource what no policy decides:
// secrets and non-extended meta. It returns content itself when nothing is
// removed, so the common read costs one scan of the leading members.
func visibleContent(p *ward.Principal, typ string, content []byte) ([]byte, error) {
	if secrets := ward.SecretFields(typ); len(secrets) > 0 && !p.Internal {
		out, _, err := rawjson.Drop(content, secrets)
		if err != nil {
			return nil, err
		}
		content = out
	}
	if p.Extended {
		return content, nil
	}
	return rawjson.DropFromMember(content, "meta", ward.NonExtendedMetaFields())
}

// keepSecrets makes a write by a non-internal caller unable to set or
// clear ward.SecretFields: whatever the body says, the stored values of
// existing (nil on create) are kept. A super admin who reads a User and
// writes it back (the gate hid passwordHash) must not erase the password,
// nor set a hash of their choosing.
func keepSecrets(p *ward.Principal, typ string, d *decodedResource, existing map[string]any) error {
	secrets := ward.SecretFields(typ)
	if len(secrets) == 0 || p.Internal {
		return nil
	}
	return dropFields(d, secrets, existing)
}

// liveTree is the decoded content of old when it is a live version, else
// nil.
func liveTree(old *ward.Resource) map[string]any {
	if old == nil || old.Deleted {
		return nil
	}
	return decodeTree(old.Content)
}
