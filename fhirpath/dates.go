package fhirpath

import "time"

// Precisions of a partial date or time.
const (
	precYear = iota + 1
	precMonth
	precDay
	precHour
	precMinute
	precSecond // seconds and fractions are one precision (FHIRPath §2.1.9.1)
)

// partialTime is a parsed FHIR date, dateTime, instant or time: the fields
// up to prec are set.
type partialTime struct {
	fields [7]int // year, month, day, hour, minute, second, nanosecond
	prec   int
	zone   bool // a time zone was given
	offset int  // seconds east of UTC
	clock  bool // a time of day without a date
}

// parsePartialTime parses YYYY[-MM[-DD[Thh[:mm[:ss[.f]]][Z|±hh:mm]]]] or,
// for time values, hh[:mm[:ss[.f]]] (with an optional leading T).
func parsePartialTime(s string) (partialTime, bool) {
	var t partialTime
	i := 0
	num := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for k := 0; k < n; k++ {
			c := s[i+k]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	if len(s) > 2 && (s[0] == 'T' || s[2] == ':') || len(s) == 2 {
		t.clock = true
		sep('T')
		t.prec = precDay
	} else {
		y, ok := num(4)
		if !ok {
			return t, false
		}
		t.fields[0], t.prec = y, precYear
		for _, p := range []int{precMonth, precDay} {
			if !sep('-') {
				break
			}
			v, ok := num(2)
			if !ok {
				return t, false
			}
			t.fields[p-1], t.prec = v, p
		}
		if !sep('T') || i == len(s) {
			return t, i == len(s)
		}
	}
	h, ok := num(2)
	if !ok {
		return t, false
	}
	t.fields[3], t.prec = h, precHour
	for _, p := range []int{precMinute, precSecond} {
		if !sep(':') {
			break
		}
		v, ok := num(2)
		if !ok {
			return t, false
		}
		t.fields[p-1], t.prec = v, p
	}
	if t.prec == precSecond && sep('.') {
		start, ns := i, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-start < 9 {
				ns = ns*10 + int(s[i]-'0')
			}
			i++
		}
		for k := i - start; k < 9; k++ {
			ns *= 10
		}
		if i == start {
			return t, false
		}
		t.fields[6] = ns
	}
	switch {
	case sep('Z'):
		t.zone = true
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		i++
		hh, ok1 := num(2)
		if !sep(':') {
			return t, false
		}
		mm, ok2 := num(2)
		if !ok1 || !ok2 {
			return t, false
		}
		t.zone, t.offset = true, sign*(hh*3600+mm*60)
	}
	return t, i == len(s)
}

// normalized returns the fields in UTC when t has a time of day and a zone
// (a time without a zone counts as UTC, as in Medplum).
func (t partialTime) normalized() [7]int {
	if t.clock || t.prec < precHour || t.offset == 0 {
		return t.fields
	}
	f := t.fields
	month, day := f[1], f[2]
	if month == 0 {
		month = 1
	}
	if day == 0 {
		day = 1
	}
	u := time.Date(f[0], time.Month(month), day, f[3], f[4], f[5], f[6], time.UTC).Add(-time.Duration(t.offset) * time.Second)
	return [7]int{u.Year(), int(u.Month()), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond()}
}

// compareDates compares two date/time strings (FHIRPath §6.6 on dates):
// cmp is -1, 0 or 1; known is false when they differ in precision and agree
// on their common part; dates is false when either is not a date.
func compareDates(a, b string) (cmp int, known, dates bool) {
	x, ok1 := parsePartialTime(a)
	y, ok2 := parsePartialTime(b)
	if !ok1 || !ok2 || x.clock != y.clock {
		return 0, false, false
	}
	xf, yf := x.normalized(), y.normalized()
	prec := min(x.prec, y.prec)
	first := 0
	if x.clock {
		first = 3
	}
	last := prec // fields[0:prec] cover the common precision
	if prec == precSecond {
		last = 7
	}
	for k := first; k < last; k++ {
		if xf[k] != yf[k] {
			if xf[k] < yf[k] {
				return -1, true, true
			}
			return 1, true, true
		}
	}
	if x.prec != y.prec {
		return 0, false, true
	}
	return 0, true, true
}
