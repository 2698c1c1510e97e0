package fhir

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// checkPrimitive returns why val is not a valid JSON value of the FHIR
// primitive typ, or "" when it is. Messages and formats follow Medplum's
// validator (its regexes, hand-written here so that validation compiles
// nothing), except that dates must exist (no February 30th).
func checkPrimitive(val any, typ string) string {
	switch typ {
	case "boolean":
		if _, ok := val.(bool); !ok {
			return kindMismatch("boolean", val)
		}
		return ""
	case "decimal", "integer", "positiveInt", "unsignedInt":
		return checkNumber(val, typ)
	}
	s, ok := val.(string)
	if !ok {
		return kindMismatch("string", val)
	}
	if s == "" {
		return "Invalid empty value"
	}
	if strings.TrimSpace(s) == "" {
		return "String must contain non-whitespace content"
	}
	if !validString(typ, s) {
		return "Invalid " + typ + " format: " + describe(s)
	}
	return ""
}

func kindMismatch(want string, val any) string {
	return "Invalid JSON type: expected " + want + ", but got " + jsonKind(val)
}

func validString(typ, s string) bool {
	switch typ {
	case "id":
		return isID(s)
	case "code":
		return isCode(s)
	case "uri", "url", "canonical":
		return !strings.ContainsAny(s, " \t\r\n\f\v")
	case "oid":
		return isOID(s)
	case "uuid":
		rest, ok := strings.CutPrefix(s, "urn:uuid:")
		return ok && isUUID(rest)
	case "date":
		return isDate(s)
	case "dateTime":
		return isDateTime(s, false)
	case "instant":
		return isDateTime(s, true)
	case "time":
		rest, ok := scanTime(s)
		return ok && rest == ""
	case "base64Binary":
		return isBase64(s)
	case "integer64":
		_, err := strconv.ParseInt(s, 10, 64)
		return err == nil
	}
	return true // string, markdown, xhtml: any text with content
}

// checkNumber accepts json.Number (and, for callers that did not use
// UseNumber, float64 and int).
func checkNumber(val any, typ string) string {
	var f float64
	var text string
	switch n := val.(type) {
	case json.Number:
		text = string(n)
		var err error
		if f, err = strconv.ParseFloat(text, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return "Invalid numeric value: " + describe(text)
		}
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return kindMismatch("number", val)
	}
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		return "Invalid numeric value: " + formatNumber(text, f) + " is out of range"
	case typ == "decimal":
		return ""
	case f != math.Trunc(f):
		return "Expected number to be an integer: " + formatNumber(text, f)
	case f > math.MaxInt32 || f < math.MinInt32:
		return "Invalid numeric value: " + formatNumber(text, f) + " is out of range for " + typ
	case typ == "positiveInt" && f < 1:
		return "Expected number to be positive: " + formatNumber(text, f)
	case typ == "unsignedInt" && f < 0:
		return "Expected number to be non-negative: " + formatNumber(text, f)
	}
	return ""
}

func formatNumber(text string, f float64) string {
	if text != "" {
		return truncate(text)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func isID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isCode: non-blank tokens separated by single spaces.
func isCode(s string) bool {
	prevSpace := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		case c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace
}

func isOID(s string) bool {
	rest, ok := strings.CutPrefix(s, "urn:oid:")
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '2' || rest[1] != '.' {
		return false
	}
	for _, part := range strings.Split(rest[2:], ".") {
		if !allDigits(part) || (part[0] == '0' && len(part) > 1) {
			return false
		}
	}
	return true
}

// isUUID accepts the lower-case 8-4-4-4-12 form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isBase64 is Medplum's strict form: groups of four, padding only at the
// end, no whitespace.
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := len(s) - len(strings.TrimRight(s, "="))
	if pad > 2 {
		return false
	}
	for i := 0; i < len(s)-pad; i++ {
		if c := s[i]; !(isAlnum(c) || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// isDate accepts YYYY, YYYY-MM and YYYY-MM-DD with a real month and day.
func isDate(s string) bool {
	if len(s) != 4 && len(s) != 7 && len(s) != 10 {
		return false
	}
	if !allDigits(s[:4]) || s[:4] == "0000" {
		return false
	}
	if len(s) == 4 {
		return true
	}
	if s[4] != '-' || !allDigits(s[5:7]) {
		return false
	}
	month := atoi(s[5:7])
	if month < 1 || month > 12 {
		return false
	}
	if len(s) == 7 {
		return true
	}
	if s[7] != '-' || !allDigits(s[8:10]) {
		return false
	}
	day := atoi(s[8:10])
	return day >= 1 && day <= daysIn(atoi(s[:4]), month)
}

// isDateTime follows Medplum's pattern: a date (YYYY, YYYY-MM or
// YYYY-MM-DD); after a full date optionally Thh or Thh:mm:ss[.fff]; then an
// optional time zone (Z or ±hh:mm). An instant needs the full date, seconds
// and a time zone.
func isDateTime(s string, instant bool) bool {
	n := dateLength(s)
	if !isDate(s[:n]) {
		return false
	}
	rest := s[n:]
	switch {
	case rest != "" && rest[0] == 'T':
		if n != 10 {
			return false
		}
		var ok bool
		if rest, ok = scanDateTimeClock(rest[1:], instant); !ok {
			return false
		}
	case instant:
		return false
	}
	if rest == "" {
		return !instant
	}
	return isZone(rest)
}

// dateLength is how much of s can be its date part: 10, 7 or 4 characters.
func dateLength(s string) int {
	for _, n := range []int{10, 7} {
		if len(s) >= n && (len(s) == n || s[n] == 'T' || s[n] == 'Z' || s[n] == '+' || s[n] == '-') && isDate(s[:n]) {
			return n
		}
	}
	return min(len(s), 4)
}

// scanDateTimeClock reads the time of a dateTime: hh, or hh:mm:ss[.f].
func scanDateTimeClock(s string, needSeconds bool) (string, bool) {
	if len(s) > 2 && s[2] == ':' {
		return scanTime(s)
	}
	if needSeconds || len(s) < 2 || !allDigits(s[:2]) || atoi(s[:2]) > 23 {
		return s, false
	}
	return s[2:], true
}

// scanTime reads hh:mm:ss[.f] (one to nine fraction digits) from the start
// of s and returns the rest.
func scanTime(s string) (string, bool) {
	if len(s) < 8 || !allDigits(s[:2]) || s[2] != ':' || !allDigits(s[3:5]) || s[5] != ':' || !allDigits(s[6:8]) {
		return s, false
	}
	if atoi(s[:2]) > 23 || atoi(s[3:5]) > 59 || atoi(s[6:8]) > 60 {
		return s, false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return s, false
		}
		s = s[n:]
	}
	return s, true
}

// isZone accepts Z or ±hh:mm up to ±14:00.
func isZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !allDigits(s[1:3]) || !allDigits(s[4:6]) {
		return false
	}
	h, m := atoi(s[1:3]), atoi(s[4:6])
	return m <= 59 && (h < 14 || h == 14 && m == 0)
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
