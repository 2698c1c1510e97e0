package index

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NumberRange parses a FHIR decimal as written and returns its value and the
// range its precision implies: half a unit of the last digit written on
// either side. "100" is [99.5, 100.5], "100.0" is [99.95, 100.05], "1.50"
// is [1.495, 1.505] and "1e2" (one significant digit) is [50, 150]. The
// bounds are computed in decimal and rounded once, so they carry no
// binary noise. ok is false when s is not a decimal.
func NumberRange(s string) (value, low, high float64, ok bool) {
	d, ok := parseDecimal(s)
	if !ok {
		return 0, 0, 0, false
	}
	value, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return 0, 0, 0, false
	}
	// value = digits × 10^exp; the bounds are (10·digits ∓ 5) × 10^(exp-1).
	e := "e" + strconv.Itoa(d.exp-1)
	upper := parseFloat(d.digits + "5" + e)
	var lower float64
	if strings.Trim(d.digits, "0") == "" {
		lower = -upper
	} else {
		lower = parseFloat(decrement(d.digits) + "5" + e)
	}
	if d.negative {
		lower, upper = -upper, -lower
	}
	if math.IsInf(value, 0) || math.IsNaN(value) {
		return 0, 0, 0, false
	}
	return value, lower, upper, true
}

// decimal is a decimal literal split as digits × 10^exp (sign apart).
type decimal struct {
	negative bool
	digits   string // the mantissa digits without the point, e.g. "150" for 1.50
	exp      int
}

func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.negative = s[i] == '-'
		i++
	}
	var b strings.Builder
	intDigits, fracDigits := 0, 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		b.WriteByte(s[i])
		intDigits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			b.WriteByte(s[i])
			fracDigits++
		}
		if fracDigits == 0 {
			return d, false
		}
	}
	if intDigits+fracDigits == 0 {
		return d, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		n, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || n > 400 || n < -400 || strings.HasPrefix(s[i+1:], "+-") {
			return d, false
		}
		exp = n
		i = len(s)
	}
	if i != len(s) {
		return d, false
	}
	d.digits = b.String()
	d.exp = exp - fracDigits
	return d, true
}

// decrement returns digits − 1 for a decimal string that is not zero.
func decrement(digits string) string {
	b := []byte(digits)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] > '0' {
			b[i]--
			break
		}
		b[i] = '9'
	}
	return string(b)
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64) // s is well-formed; ±Inf on overflow
	return clampFloat(f)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// clampFloat keeps infinities out of the database.
func clampFloat(f float64) float64 {
	switch {
	case math.IsInf(f, 1):
		return math.MaxFloat64
	case math.IsInf(f, -1):
		return -math.MaxFloat64
	}
	return f
}

// numberText returns a JSON number as written, for the kinds of Go values a
// resource tree or a FHIRPath result holds.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return n.String(), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), !math.IsInf(n, 0) && !math.IsNaN(n)
	case float32:
		return strconv.FormatFloat(float64(n), 'g', -1, 32), true
	case int:
		return strconv.Itoa(n), true
	case int32:
		return strconv.FormatInt(int64(n), 10), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case fmt.Stringer: // a FHIRPath decimal keeps its text
		s := n.String()
		_, ok := parseDecimal(s)
		return s, ok
	}
	return "", false
}
