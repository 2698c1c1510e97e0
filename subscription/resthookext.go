package subscription

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
)

// Medplum's rest-hook extensions beyond the channel: a secret signing the
// body and the statuses that count as delivered.
const (
	// SecretURL is Medplum's extension on a Subscription whose string
	// value signs each rest-hook body (X-Signature).
	SecretURL = "https://www.medplum.com/fhir/StructureDefinition/subscription-secret"
	// legacySecretURL is the extension's first URL, still read after
	// SecretURL as Medplum does.
	legacySecretURL = "https://www.medplum.com/fhir/StructureDefinition-subscriptionSecret"
	// SuccessCodesURL is Medplum's extension listing the hook statuses
	// that count as delivered (valueString "200,204" or "200-299").
	SuccessCodesURL = "https://medplum.com/fhir/StructureDefinition/subscription-success-codes"
)

// signature is X-Signature: the hex HMAC-SHA256 of the exact body sent,
// keyed by the Subscription's secret, so a receiver can tell the POST
// came from whoever knows the secret and that the body is untouched.
func signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// successCodes is a parsed subscription-success-codes value, read as
// Medplum reads it: spaces removed, comma-separated codes and lo-hi
// ranges tried in order; a code that is not an integer makes the rest of
// the list give way to the default (2xx and 3xx), so "200, x" still
// accepts 200 first.
type successCodes struct {
	ranges   [][2]int // tried in order
	fallback bool     // an entry after ranges is not an integer: default check
}

// parseSuccessCodes parses v; "" (no extension) gives nil, the default.
func parseSuccessCodes(v string) *successCodes {
	if v == "" {
		return nil
	}
	out := &successCodes{}
	for _, code := range strings.Split(strings.ReplaceAll(v, " ", ""), ",") {
		lo, hi, ok := code, code, true
		if strings.Contains(code, "-") {
			parts := strings.Split(code, "-")
			lo, hi = parts[0], parts[1]
		}
		from, okLo := jsInteger(lo)
		to, okHi := jsInteger(hi)
		if ok = okLo && okHi; !ok {
			out.fallback = true
			break
		}
		out.ranges = append(out.ranges, [2]int{from, to})
	}
	return out
}

// delivered reports whether status counts as a delivery under c.
func (c *successCodes) delivered(status int) bool {
	if c == nil {
		return defaultDelivered(status)
	}
	for _, r := range c.ranges {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return c.fallback && defaultDelivered(status)
}

func defaultDelivered(status int) bool { return status >= 200 && status < 400 }

// decimal is what JavaScript's Number() reads as a decimal number.
var decimal = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// jsInteger is Number(s) when it is an integer, as Medplum tests it:
// surrounding white space ignored, "" is 0 (so "-299" is 0 to 299),
// 0x, 0o and 0b prefixes read.
func jsInteger(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	if len(s) > 2 && s[0] == '0' {
		if base, ok := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]; ok {
			n, err := strconv.ParseInt(s[2:], base, 64)
			return int(n), err == nil && !strings.ContainsAny(s[2:], "+-_")
		}
	}
	if !decimal.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int(f)) {
		return 0, false
	}
	return int(f), true
}

// secretOf is the Subscription's secret: SecretURL's string value, else
// the legacy URL's, as Medplum looks for them.
func secretOf(j subscriptionJSON) string {
	for _, url := range []string{SecretURL, legacySecretURL} {
		for _, e := range j.Extension {
			if e.URL == url {
				if v := cmp.Or(e.ValueString, e.ValueCode); v != "" {
					return v
				}
				break // the first extension of a URL is the one read
			}
		}
	}
	return ""
}
