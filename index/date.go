package index

import (
	"math"
	"time"
)

// Open ends of a Period.
const (
	MinDate int64 = math.MinInt64
	MaxDate int64 = math.MaxInt64
)

// DateRange returns the instants a FHIR date, dateTime or instant covers, as
// unix microseconds [low, high], both inclusive: "2020" is
// [2020-01-01T00:00:00Z, 2020-12-31T23:59:59.999999Z], "2020-03-04T10:00:00.5Z"
// is [...10:00:00.500000, ...10:00:00.599999]. A value without a time zone is
// taken as UTC. ok is false for anything else, including times of day.
func DateRange(s string) (low, high int64, ok bool) {
	p := dateParser{s: s}
	t, width, ok := p.parse()
	if !ok {
		return 0, 0, false
	}
	return t.UnixMicro(), t.Add(width).UnixMicro() - 1, true
}

// dateParser reads one FHIR date/dateTime/instant. It is hand-written
// because indexing calls it for every date of every resource.
type dateParser struct {
	s   string
	pos int
}

// parse returns the start of the value in UTC and the width of the range
// its precision implies.
func (p *dateParser) parse() (start time.Time, width time.Duration, ok bool) {
	year, ok := p.digits(4)
	if !ok || year < 1 {
		return time.Time{}, 0, false
	}
	if p.done() {
		t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(1, 0, 0).Sub(t), true
	}
	month, ok := p.field('-', 2, 1, 12)
	if !ok {
		return time.Time{}, 0, false
	}
	if p.done() {
		t := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(0, 1, 0).Sub(t), true
	}
	day, ok := p.field('-', 2, 1, daysIn(year, month))
	if !ok {
		return time.Time{}, 0, false
	}
	if p.done() {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), 24 * time.Hour, true
	}
	return p.parseTime(year, month, day)
}

// parseTime reads "Thh:mm[:ss[.fff]][Z|±hh:mm]" after a full date.
func (p *dateParser) parseTime(year, month, day int) (time.Time, time.Duration, bool) {
	hour, ok := p.field('T', 2, 0, 23)
	if !ok {
		return time.Time{}, 0, false
	}
	minute, ok := p.field(':', 2, 0, 59)
	if !ok {
		return time.Time{}, 0, false
	}
	second, nanos, width := 0, 0, time.Minute
	if p.peek() == ':' {
		if second, ok = p.field(':', 2, 0, 59); !ok {
			return time.Time{}, 0, false
		}
		width = time.Second
		if p.peek() == '.' {
			if nanos, width, ok = p.fraction(); !ok {
				return time.Time{}, 0, false
			}
		}
	}
	offset, ok := p.zone()
	if !ok || !p.done() {
		return time.Time{}, 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	return t.Add(-offset), width, true
}

// fraction reads ".d+" and returns the nanoseconds it names and the width
// of its last digit, never finer than a microsecond (the index's unit).
func (p *dateParser) fraction() (nanos int, width time.Duration, ok bool) {
	p.pos++ // '.'
	width = time.Second
	n := 0
	for ; !p.done() && isDigit(p.s[p.pos]); p.pos++ {
		if width > time.Microsecond {
			width /= 10
			nanos += int(p.s[p.pos]-'0') * int(width)
		}
		n++
	}
	return nanos, width, n > 0
}

// zone reads "", "Z" or "±hh:mm" and returns the offset east of UTC.
func (p *dateParser) zone() (time.Duration, bool) {
	if p.done() {
		return 0, true
	}
	switch c := p.s[p.pos]; c {
	case 'Z':
		p.pos++
		return 0, true
	case '+', '-':
		p.pos++
		h, ok := p.digits(2)
		if !ok || h > 14 {
			return 0, false
		}
		if p.peek() == ':' {
			p.pos++
		}
		m, ok := p.digits(2)
		if !ok || m > 59 {
			return 0, false
		}
		off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		if c == '-' {
			off = -off
		}
		return off, true
	}
	return 0, false
}

// field reads sep followed by n digits in [lo, hi].
func (p *dateParser) field(sep byte, n, lo, hi int) (int, bool) {
	if p.peek() != sep {
		return 0, false
	}
	p.pos++
	v, ok := p.digits(n)
	return v, ok && v >= lo && v <= hi
}

func (p *dateParser) digits(n int) (int, bool) {
	if p.pos+n > len(p.s) {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := p.s[p.pos+i]
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.pos += n
	return v, true
}

func (p *dateParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.pos]
}

func (p *dateParser) done() bool { return p.pos >= len(p.s) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
