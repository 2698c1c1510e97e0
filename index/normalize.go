package index

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeString is the form string search compares: lower case, with
// accents removed (canonical decomposition, combining marks dropped), so that
// "Zoë" and "ZOE" both become "zoe". The search compiler applies it to query
// values; the indexer stores it in search_string.value.
func NormalizeString(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Index entries in PostgreSQL are limited to about 2.7 kB, so indexed
// columns are cut to these many bytes; prefix and equality search on
// shorter values is unaffected.
const (
	maxIndexedLen = 2000 // string value, uri, reference target
	maxTokenLen   = 1000 // token system and code share one index entry
)

// clip cuts s to at most n bytes without splitting a UTF-8 sequence, and
// drops NUL characters, which PostgreSQL text columns refuse.
func clip(s string, n int) string {
	s = dropNUL(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func dropNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}
