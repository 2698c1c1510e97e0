package wardhttp

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/rawjson"
)

// Attachment URLs, as Medplum rewrites them (spec 3.3): a string member
// "url" or "path" that names a Binary — "Binary/{id}[/_history/{vid}]",
// "{base}/fhir/R4/Binary/{id}…" or a signed "{base}/storage/{id}/{vid}?…" —
// is stored as "Binary/{id}" (canonicalAttachments, on writes), and served
// as a fresh signed URL when the caller can read that Binary (and its
// securityContext), else as "Binary/{id}" (presigner, on every resource a
// REST answer or Bundle shows). So a Media keeps pointing at its bytes
// after the URL it was written with has expired. Binaries themselves are
// never rewritten. Values are spliced into the stored bytes; nothing else
// of the resource changes.

// binaryURL matches the forms that name a Binary; group 1 is the id,
// group 2 the version when the form names one.
var (
	binaryRef     = regexp.MustCompile(`^Binary/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$`)
	binaryFHIRURL = regexp.MustCompile(`^https?://[^/?#]+(?:/[^?#]*)?/fhir/R4/Binary/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?(?:[?#].*)?$`)
	storageURL    = regexp.MustCompile(`^https?://[^/?#]+(?:/[^?#]*)?/storage/([A-Za-z0-9\-.]{1,64})/([A-Za-z0-9\-.]{1,64})\?(.*)$`)
)

// namedBinary returns the Binary id (and version) a URL value names.
func namedBinary(v string) (id, version string, ok bool) {
	if m := binaryRef.FindStringSubmatch(v); m != nil {
		return m[1], m[2], true
	}
	if m := binaryFHIRURL.FindStringSubmatch(v); m != nil {
		return m[1], m[2], true
	}
	if m := storageURL.FindStringSubmatch(v); m != nil {
		// Only Ward's own signed URLs: they carry Expires and Signature.
		if q, err := url.ParseQuery(m[3]); err == nil && q.Get("Signature") != "" && q.Get("Expires") != "" {
			return m[1], m[2], true
		}
	}
	return "", "", false
}

// mayNameBinary is the cheap test before a resource is scanned.
func mayNameBinary(content []byte) bool {
	return bytes.Contains(content, []byte("Binary/")) || bytes.Contains(content, []byte("/storage/"))
}

// rewriteURLs returns data with every "url" or "path" string member for
// which replace answers ok replaced by its answer (JSON-encoded).
func rewriteURLs(data []byte, replace func(value string) (string, bool)) []byte {
	var out []byte
	last, valueAt := 0, -1 // valueAt: where the value of a "url"/"path" member starts
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		end, err := rawjson.SkipString(data, i)
		if err != nil {
			return data
		}
		if next := rawjson.SkipSpace(data, end); next < len(data) && data[next] == ':' {
			key := string(data[i+1 : end-1])
			valueAt = -1
			if key == "url" || key == "path" {
				valueAt = rawjson.SkipSpace(data, next+1)
			}
			i = next
			continue
		}
		if i == valueAt {
			if v, err := rawjson.DecodeString(data[i:end]); err == nil {
				if nv, ok := replace(v); ok && nv != v {
					out = append(append(out, data[last:i]...), jsonString(nv)...)
					last = end
				}
			}
		}
		valueAt = -1
		i = end - 1
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// canonicalAttachments is content with every attachment URL naming a
// Binary written as "Binary/{id}" (no access check: it only names).
func (s *Server) canonicalAttachments(typ string, content []byte) []byte {
	if s.binary == nil || typ == "Binary" || !mayNameBinary(content) {
		return content
	}
	return rewriteURLs(content, func(v string) (string, bool) {
		if strings.HasPrefix(v, "Binary/") {
			return v, false
		}
		id, _, ok := namedBinary(v)
		return "Binary/" + id, ok
	})
}

// presigner turns the attachment URLs of one request's answer into signed
// URLs, reading each Binary once as the caller.
type presigner struct {
	s     *Server
	r     *http.Request
	cache map[string]string
}

func (s *Server) presignerFor(r *http.Request) *presigner {
	if s.binary == nil {
		return nil
	}
	return &presigner{s: s, r: r}
}

// content returns res's bytes (content) as the caller is shown them.
func (p *presigner) content(res *ward.Resource, content []byte) []byte {
	if p == nil || res == nil || res.Type == "Binary" || !mayNameBinary(content) {
		return content
	}
	return rewriteURLs(content, func(v string) (string, bool) {
		if signed, ok := p.cache[v]; ok {
			return signed, true
		}
		id, version, ok := namedBinary(v)
		if !ok {
			return v, false
		}
		signed := p.sign(p.r.Context(), id, version)
		if p.cache == nil {
			p.cache = map[string]string{}
		}
		p.cache[v] = signed
		return signed, true
	})
}

// sign is the signed URL of Binary id (at version, when named), or
// "Binary/{id}" when the caller cannot read it.
func (p *presigner) sign(ctx context.Context, id, version string) string {
	var res *ward.Resource
	var err error
	if version != "" {
		res, err = p.s.store.VRead(ctx, "Binary", id, version)
	} else {
		res, err = p.s.store.Read(ctx, "Binary", id)
	}
	if err != nil || p.s.checkSecurityContext(ctx, res) != nil {
		return "Binary/" + id
	}
	return p.s.signedURL(p.r, res)
}
