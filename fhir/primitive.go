package fhir

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// checkPrimitive returns why val is not a valid JSON value of the FHIR
// primitive typ, or "" when it is. The formats follow the R4 regexes as
// Medplum applies them, hand-written so that validation compiles nothing.
func checkPrimitive(val any, typ string) string {
	switch typ {
	case "boolean":
		if _, ok := val.(bool); !ok {
			return kindMismatch("boolean", val)
		}
		return ""
	case "decimal", "integer", "positiveInt", "unsignedInt", "integer64":
		return checkNumber(val, typ)
	}
	s, ok := val.(string)
	if !ok {
		return kindMismatch("string", val)
	}
	if s == "" {
		return "Invalid empty string"
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
		return !strings.ContainsAny(s, " \t\r\n")
	case "oid":
		return isOID(s)
	case "uuid":
		return isUUID(strings.TrimPrefix(s, "urn:uuid:"))
	case "date":
		_, ok := scanDate(s, false)
		return ok
	case "dateTime":
		return isDateTime(s, false)
	case "instant":
		return isDateTime(s, true)
	case "time":
		rest, ok := scanTime(s, true)
		return ok && rest == ""
	case "base64Binary":
		return isBase64(s)
	}
	return true // string, markdown, xhtml: any non-empty text
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
		if f, err = strconv.ParseFloat(text, 64); err != nil {
			return "Invalid " + typ + " format: " + describe(text)
		}
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		if s, ok := val.(string); ok && typ == "integer64" {
			return checkNumber(json.Number(s), typ)
		}
		return kindMismatch("number", val)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "Invalid " + typ + " value: out of range"
	}
	if typ == "decimal" {
		return ""
	}
	if f != math.Trunc(f) {
		return "Invalid " + typ + " value: " + formatNumber(text, f) + " is not an integer"
	}
	limit := float64(math.MaxInt32)
	if typ == "integer64" {
		limit = float64(math.MaxInt64)
	}
	switch {
	case f > limit || f < -limit-1:
		return "Invalid " + typ + " value: " + formatNumber(text, f) + " is out of range"
	case typ == "positiveInt" && f < 1:
		return "Invalid positiveInt value: " + formatNumber(text, f) + " is not positive"
	case typ == "unsignedInt" && f < 0:
		return "Invalid unsignedInt value: " + formatNumber(text, f) + " is negative"
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
		if part == "" || (part[0] == '0' && len(part) > 1) || !allDigits(part) {
			return false
		}
	}
	return true
}

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

func isBase64(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || c == '+' || c == '/' || c == '=':
			n++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			return false
		}
	}
	return n%4 == 0
}

// isDateTime accepts YYYY, YYYY-MM, YYYY-MM-DD, or a full date with a time
// (hh:mm, seconds and fraction optional) and an optional time zone. An
// instant needs seconds and a time zone.
func isDateTime(s string, instant bool) bool {
	rest, full := scanDate(s, true)
	if rest == "" {
		return !instant && (full || len(s) < 10) && len(s) >= 4 && checkDatePrefix(s)
	}
	if !full || rest[0] != 'T' {
		return false
	}
	rest, ok := scanTime(rest[1:], instant)
	if !ok {
		return false
	}
	if rest == "" {
		return !instant
	}
	return isZone(rest)
}

// checkDatePrefix re-validates a partial date (YYYY or YYYY-MM).
func checkDatePrefix(s string) bool {
	_, ok := scanDate(s, false)
	return ok
}

// scanDate reads YYYY[-MM[-DD]] from the start of s. With prefix it returns
// the rest after a full date and full=true; without, s must be only a date.
func scanDate(s string, prefix bool) (string, bool) {
	if len(s) < 4 || !allDigits(s[:4]) || s[:4] == "0000" {
		return s, false
	}
	year := atoi(s[:4])
	if len(s) == 4 {
		return "", !prefix
	}
	if len(s) < 7 || s[4] != '-' || !allDigits(s[5:7]) {
		return s, false
	}
	month := atoi(s[5:7])
	if month < 1 || month > 12 {
		return s, false
	}
	if len(s) == 7 {
		return "", !prefix
	}
	if len(s) < 10 || s[7] != '-' || !allDigits(s[8:10]) {
		return s, false
	}
	day := atoi(s[8:10])
	if day < 1 || day > daysIn(year, month) {
		return s, false
	}
	if prefix {
		return s[10:], true
	}
	return "", len(s) == 10
}

// scanTime reads hh:mm[:ss[.fff]] (seconds required when needSeconds) and
// returns the rest.
func scanTime(s string, needSeconds bool) (string, bool) {
	if len(s) < 5 || !allDigits(s[:2]) || s[2] != ':' || !allDigits(s[3:5]) {
		return s, false
	}
	if atoi(s[:2]) > 23 || atoi(s[3:5]) > 59 {
		return s, false
	}
	s = s[5:]
	if len(s) < 3 || s[0] != ':' {
		return s, !needSeconds
	}
	if !allDigits(s[1:3]) || atoi(s[1:3]) > 60 {
		return s, false
	}
	s = s[3:]
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
