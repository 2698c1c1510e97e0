package wardhttp

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/blob"
)

// Binary content as Medplum serves it. A POST to Binary (or PUT to
// Binary/{id}) whose body is not a FHIR JSON Binary is the file itself: it
// is streamed into a staged blob (never held in memory), then the Binary
// resource is written through the store — walls, policy and audit as for
// any write — and the blob published under "<project>/<id>/<version>" in
// the same transaction, so a refused or failed write leaves no bytes
// behind. A GET of Binary/{id} answers the bytes unless Accept asks for
// application/fhir+json. The JSON of a Binary carries a signed URL,
// /storage/{id}/{version}?Expires=…&Signature=…, that serves its bytes
// without a token until it expires; the signature (HMAC-SHA256 with the
// server's secret) covers the project, id, version and expiry.

// DefaultBinaryMaxBytes is the upload limit when BinaryOptions leaves it zero.
const DefaultBinaryMaxBytes = 1 << 30

// DefaultBinaryURLLifetime is how long a signed URL serves its bytes.
const DefaultBinaryURLLifetime = time.Hour

// blockedContentTypes are executables and installers, refused (400) as
// Medplum refuses them whatever the configuration.
var blockedContentTypes = []string{
	"application/java-archive", "application/x-msdownload", "application/x-sh",
	"application/vnd.apple.installer+xml", "application/vnd.microsoft.portable-executable",
}

// deniedExtensions are file names Medplum refuses (Gmail's blocked list).
var deniedExtensions = strings.Fields(`.ade .adp .apk .appx .appxbundle .bat .cab .chm .cmd .com .cpl .dll .dmg
	.ex .ex_ .exe .hta .ins .isp .iso .jar .jse .lib .lnk .mde .msc .msi .msix .msixbundle .msp .mst .nsh .php
	.pif .ps1 .scr .sct .shb .sys .vb .vbe .vbs .vxd .wsc .wsf .wsh`)

// BinaryOptions configures Binary content. Blobs and URLSecret are required.
type BinaryOptions struct {
	Blobs blob.Store
	// MaxBytes bounds an upload (after decompression); over it is 413.
	MaxBytes int64
	// Allow, when not empty, lists the only media types accepted ("image/*"
	// matches a family); Deny lists refused ones. Either refusal is 415.
	// Executables and installers are refused (400) whatever these say.
	Allow, Deny []string
	// URLSecret keys the signatures of /storage URLs.
	URLSecret []byte
	// URLLifetime is how long a signed URL works.
	URLLifetime time.Duration
	// Now returns the time; tests replace it.
	Now func() time.Time
}

func (o *BinaryOptions) withDefaults() *BinaryOptions {
	c := *o
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultBinaryMaxBytes
	}
	if c.URLLifetime <= 0 {
		c.URLLifetime = DefaultBinaryURLLifetime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &c
}

// binaryKey is where a Binary version's bytes live.
func binaryKey(res *ward.Resource) (string, error) {
	return blob.Key(res.ProjectID, res.ID, res.VersionID)
}

// handleBinaryWrite serves POST Binary and PUT Binary/{id}.
func (s *Server) handleBinaryWrite(w http.ResponseWriter, r *http.Request) {
	if s.binary == nil || isFHIRJSON(r.Header.Get("Content-Type")) {
		// A Binary resource in FHIR JSON is an ordinary write.
		h := s.handleCreate
		if r.Method == http.MethodPut {
			h = s.handleUpdate
		}
		s.limitBody(s.budgetBodies(http.HandlerFunc(h))).ServeHTTP(w, r)
		return
	}
	res, err := s.writeBinary(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	s.respondBinary(w, r, res)
}

func (s *Server) writeBinary(r *http.Request) (*result, error) {
	ctx := r.Context()
	contentType, err := s.uploadType(r)
	if err != nil {
		return nil, err
	}
	if r.ContentLength > s.binary.MaxBytes {
		return nil, tooLarge(s.binary.MaxBytes)
	}
	body, err := decodedBody(r)
	if err != nil {
		return nil, err
	}
	staged, err := s.binary.Blobs.Stage(ctx, body, s.binary.MaxBytes)
	switch {
	case errors.Is(err, blob.ErrTooLarge):
		return nil, tooLarge(s.binary.MaxBytes)
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, invalidf("Could not read the upload: %v", err)
	}
	defer func() { _ = staged.Discard() }()
	content := binaryContent(contentType, r.Header.Get("X-Security-Context"), r.PathValue("id"))
	return s.write(ctx, func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		var res *result
		var err error
		if id := r.PathValue("id"); id != "" {
			res, err = s.update(ctx, tx, "Binary", id, content, &resourceHead{Type: "Binary", ID: id}, parseETag(r.Header.Get("If-Match")))
		} else {
			res, err = s.create(ctx, tx, "Binary", content, "")
		}
		if err != nil {
			return nil, err
		}
		key, err := binaryKey(res.resource)
		if err != nil {
			return nil, err
		}
		// Published inside the transaction: if the commit fails after
		// this, the bytes are unreachable (no version names them).
		if err := staged.Commit(ctx, key); err != nil {
			return nil, fmt.Errorf("binary: publish %s: %w", key, err)
		}
		return res, nil
	})
}

// uploadType checks the upload's media type and file name against the
// configuration and returns the type the Binary records.
func (s *Server) uploadType(r *http.Request) (string, error) {
	ct := strings.TrimSpace(r.Header.Get("Content-Type"))
	if ct == "" {
		ct = "application/octet-stream"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", ward.Errorf(ward.EUNSUPPORTED, "Invalid content type %q", ct)
	}
	if !s.typeAllowed(mt) {
		return "", ward.Errorf(ward.EUNSUPPORTED, "Content type %s is not accepted", mt)
	}
	for _, blocked := range blockedContentTypes {
		if mt == blocked {
			return "", invalidf("Invalid content type")
		}
	}
	name := strings.ToLower(r.URL.Query().Get("_filename"))
	for _, ext := range deniedExtensions {
		if strings.HasSuffix(name, ext) {
			return "", invalidf("Invalid file extension")
		}
	}
	return ct, nil
}

func (s *Server) typeAllowed(mt string) bool {
	matches := func(list []string) bool {
		for _, pattern := range list {
			if ok, _ := path.Match(strings.ToLower(pattern), mt); ok {
				return true
			}
		}
		return false
	}
	if len(s.binary.Allow) > 0 && !matches(s.binary.Allow) {
		return false
	}
	return !matches(s.binary.Deny)
}

// decodedBody undoes a gzip or deflate Content-Encoding, as Medplum does.
func decodedBody(r *http.Request) (io.Reader, error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return r.Body, nil
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, invalidf("Invalid gzip body: %v", err)
		}
		return zr, nil
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, invalidf("Invalid deflate body: %v", err)
		}
		return zr, nil
	default:
		return nil, invalidf("Unsupported content encoding")
	}
}

// binaryContent is the Binary resource written for an upload.
func binaryContent(contentType, securityContext, id string) []byte {
	b := map[string]any{"resourceType": "Binary", "contentType": contentType}
	if id != "" {
		b["id"] = id
	}
	if securityContext != "" {
		b["securityContext"] = map[string]string{"reference": securityContext}
	}
	return mustJSON(b)
}

func isFHIRJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == mediaFHIRJSON
}

// wantsBinaryJSON is Medplum's rule: a read answers the Binary's bytes
// unless Accept starts with application/fhir+json.
func wantsBinaryJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Accept"), mediaFHIRJSON)
}

// respondBinary answers a Binary's JSON with its signed URL.
func (s *Server) respondBinary(w http.ResponseWriter, r *http.Request, res *result) {
	if res != nil && res.resource != nil && res.body == nil && s.binary != nil {
		res.body = s.withSignedURL(r, res.resource)
	}
	s.respond(w, r, res, nil)
}

// readBinary serves GET Binary/{id} (and its vread): the bytes, or the
// JSON when asked for.
func (s *Server) readBinary(w http.ResponseWriter, r *http.Request, res *ward.Resource) {
	if err := s.checkSecurityContext(r.Context(), res); err != nil {
		Error(w, r, err)
		return
	}
	if wantsBinaryJSON(r) {
		s.respondBinary(w, r, &result{status: http.StatusOK, resource: res})
		return
	}
	noteResource(r.Context(), res)
	s.serveBytes(w, r, res)
}

// checkSecurityContext is Medplum's wall for Binaries, which have no
// search parameters for a policy's criteria: a Binary whose
// securityContext names a resource the caller cannot read is not found.
func (s *Server) checkSecurityContext(ctx context.Context, res *ward.Resource) error {
	var b struct {
		SecurityContext struct {
			Reference string `json:"reference"`
		} `json:"securityContext"`
	}
	if json.Unmarshal(res.Content, &b) != nil || b.SecurityContext.Reference == "" {
		return nil
	}
	typ, id, ok := strings.Cut(b.SecurityContext.Reference, "/")
	if !ok || !s.types[typ] {
		return nil // not a reference Ward can resolve; Medplum does not validate it either
	}
	if _, err := s.store.Read(ctx, typ, id); err != nil {
		if code := ward.ErrorCode(err); code == ward.ENOTFOUND || code == ward.EGONE || code == ward.EFORBIDDEN {
			return ward.Errorf(ward.ENOTFOUND, "Not found")
		}
		return err
	}
	return nil
}

// serveBytes writes the bytes of Binary version res (already allowed).
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, res *ward.Resource) {
	var b struct {
		ContentType string `json:"contentType"`
		Data        []byte `json:"data"`
	}
	if err := json.Unmarshal(res.Content, &b); err != nil {
		Error(w, r, err)
		return
	}
	var body io.Reader
	if b.Data != nil {
		body = bytes.NewReader(b.Data)
	} else {
		key, err := binaryKey(res)
		if err != nil {
			Error(w, r, err)
			return
		}
		rc, err := s.binary.Blobs.Open(r.Context(), key)
		if errors.Is(err, blob.ErrNotFound) {
			Error(w, r, ward.Errorf(ward.ENOTFOUND, "Binary has no content"))
			return
		} else if err != nil {
			Error(w, r, err)
			return
		}
		defer rc.Close()
		body = rc
	}
	h := w.Header()
	if b.ContentType == "" {
		b.ContentType = "application/octet-stream"
	}
	h.Set("Content-Type", b.ContentType)
	h.Set("ETag", etag(res.VersionID))
	h.Set("Last-Modified", res.LastUpdated.UTC().Format(http.TimeFormat))
	// Uploaded HTML or SVG must never run as a page of the API's origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.CopyBuffer(w, body, make([]byte, 64<<10)); err != nil {
		loggerFrom(r.Context()).DebugContext(r.Context(), "binary: download cut short", "error", err)
	}
}

// withSignedURL returns res's JSON with "url" set to its signed URL (a
// Binary holding its bytes in data needs none).
func (s *Server) withSignedURL(r *http.Request, res *ward.Resource) []byte {
	var probe struct {
		Data json.RawMessage `json:"data"`
	}
	if res.Content == nil || json.Unmarshal(res.Content, &probe) != nil || probe.Data != nil {
		return res.Content
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(res.Content, &fields); err != nil {
		return res.Content
	}
	fields["url"] = mustJSON(s.signedURL(r, res))
	return mustJSON(fields)
}

// signedURL is the /storage URL of Binary version res.
func (s *Server) signedURL(r *http.Request, res *ward.Resource) string {
	expires := s.binary.Now().Add(s.binary.URLLifetime).Unix()
	q := url.Values{}
	q.Set("Expires", strconv.FormatInt(expires, 10))
	q.Set("Signature", s.signature(res.ProjectID, res.ID, res.VersionID, expires))
	return s.baseFor(r) + "/storage/" + url.PathEscape(res.ID) + "/" + url.PathEscape(res.VersionID) + "?" + q.Encode()
}

func (s *Server) signature(project, id, version string, expires int64) string {
	mac := hmac.New(sha256.New, s.binary.URLSecret)
	fmt.Fprintf(mac, "ward-binary\x00%s\x00%s\x00%s\x00%d", project, id, version, expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// handleStorage serves a signed URL: no token, the signature is the
// permission. A missing or wrong signature is 401, an expired URL 410 (as
// Medplum answers), a Binary gone or never signed for 404. The Binary is
// looked up by the server itself (the caller has no principal); the
// signature, which names the project, decides whether it is served.
func (s *Server) handleStorage(w http.ResponseWriter, r *http.Request) {
	if s.binary == nil {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
		return
	}
	q := r.URL.Query()
	sig := q.Get("Signature")
	expires, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if sig == "" || err != nil {
		Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Missing or invalid signature"))
		return
	}
	if s.binary.Now().Unix() > expires {
		Error(w, r, ward.Errorf(ward.EGONE, "URL has expired"))
		return
	}
	id, version := r.PathValue("id"), r.PathValue("vid")
	ctx := ward.NewContextWithPrincipal(r.Context(), ward.SystemPrincipal())
	res, err := s.store.VRead(ctx, "Binary", id, version)
	if err == nil {
		_, err = s.store.Read(ctx, "Binary", id) // a deleted Binary is served no more
	}
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.signature(res.ProjectID, id, version, expires))) {
		// An unknown id and a signature for another binary answer alike.
		Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Invalid signature"))
		return
	}
	s.serveBytes(w, r, res)
}
