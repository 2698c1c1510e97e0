package fhirpath

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// An ErrorHandler is told about each scanning error: where it is and what.
type ErrorHandler func(pos Pos, msg string)

// Scanner splits a FHIRPath expression into tokens. Use Init, then Scan
// until EOF. Comments and white space are skipped.
type Scanner struct {
	src    string
	offset int
	err    ErrorHandler

	// ErrorCount counts the errors reported.
	ErrorCount int
}

// Init prepares s to scan src; err (may be nil) is called for each error.
func (s *Scanner) Init(src string, err ErrorHandler) {
	s.src = src
	s.offset = 0
	s.err = err
	s.ErrorCount = 0
}

func (s *Scanner) error(pos int, msg string) {
	s.ErrorCount++
	if s.err != nil {
		s.err(Pos(pos), msg)
	}
}

// Scan returns the next token: its position, kind and literal. The literal
// of STRING and of a delimited IDENT is unescaped; DATE, DATETIME and TIME
// come without the @, EXTVAR without the %. At the end Scan returns EOF.
func (s *Scanner) Scan() (pos Pos, tok Token, lit string) {
	s.skipSpaceAndComments()
	start := s.offset
	pos = Pos(start)
	if s.offset >= len(s.src) {
		return pos, EOF, ""
	}
	c := s.src[s.offset]
	switch {
	case isLetter(c):
		return pos, IDENT, s.scanWord()
	case isDigit(c):
		return pos, NUMBER, s.scanNumber()
	}
	s.offset++
	switch c {
	case '\'', '"':
		return pos, STRING, s.scanQuoted(start, c)
	case '`':
		return pos, IDENT, s.scanQuoted(start, '`')
	case '@':
		tok, lit = s.scanDateTime(start)
		return pos, tok, lit
	case '%':
		return pos, EXTVAR, s.scanVariable(start)
	case '$':
		if s.offset < len(s.src) && isLetter(s.src[s.offset]) {
			return pos, SPECIAL, "$" + s.scanWord()
		}
		s.error(start, "expected a name after $")
		return pos, ILLEGAL, "$"
	case '.':
		return pos, DOT, "."
	case ',':
		return pos, COMMA, ","
	case '(':
		return pos, LPAREN, "("
	case ')':
		return pos, RPAREN, ")"
	case '[':
		return pos, LBRACK, "["
	case ']':
		return pos, RBRACK, "]"
	case '{':
		return pos, LBRACE, "{"
	case '}':
		return pos, RBRACE, "}"
	case '+':
		return pos, PLUS, "+"
	case '-':
		return pos, MINUS, "-"
	case '*':
		return pos, STAR, "*"
	case '/':
		return pos, SLASH, "/"
	case '&':
		return pos, AMP, "&"
	case '|':
		return pos, PIPE, "|"
	case '=':
		return pos, EQ, "="
	case '~':
		return pos, EQUIV, "~"
	case '!':
		if s.accept('=') {
			return pos, NEQ, "!="
		}
		if s.accept('~') {
			return pos, NEQUIV, "!~"
		}
	case '<':
		if s.accept('=') {
			return pos, LE, "<="
		}
		return pos, LT, "<"
	case '>':
		if s.accept('=') {
			return pos, GE, ">="
		}
		return pos, GT, ">"
	}
	r, size := utf8.DecodeRuneInString(s.src[start:])
	s.offset = start + size
	s.error(start, "unexpected character "+strconv.QuoteRune(r))
	return pos, ILLEGAL, string(r)
}

func (s *Scanner) accept(c byte) bool {
	if s.offset < len(s.src) && s.src[s.offset] == c {
		s.offset++
		return true
	}
	return false
}

func (s *Scanner) skipSpaceAndComments() {
	for s.offset < len(s.src) {
		switch c := s.src[s.offset]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			s.offset++
		case c == '/' && strings.HasPrefix(s.src[s.offset:], "//"):
			end := strings.IndexByte(s.src[s.offset:], '\n')
			if end < 0 {
				s.offset = len(s.src)
			} else {
				s.offset += end + 1
			}
		case c == '/' && strings.HasPrefix(s.src[s.offset:], "/*"):
			end := strings.Index(s.src[s.offset+2:], "*/")
			if end < 0 {
				s.error(s.offset, "comment not terminated")
				s.offset = len(s.src)
			} else {
				s.offset += end + 4
			}
		default:
			return
		}
	}
}

func (s *Scanner) scanWord() string {
	start := s.offset
	for s.offset < len(s.src) && (isLetter(s.src[s.offset]) || isDigit(s.src[s.offset])) {
		s.offset++
	}
	return s.src[start:s.offset]
}

func (s *Scanner) scanDigits() {
	for s.offset < len(s.src) && isDigit(s.src[s.offset]) {
		s.offset++
	}
}

func (s *Scanner) scanNumber() string {
	start := s.offset
	s.scanDigits()
	if s.offset+1 < len(s.src) && s.src[s.offset] == '.' && isDigit(s.src[s.offset+1]) {
		s.offset++
		s.scanDigits()
	}
	return s.src[start:s.offset]
}

// scanQuoted scans a string or delimited identifier whose opening quote is
// at start; it returns the unescaped text.
func (s *Scanner) scanQuoted(start int, quote byte) string {
	var b strings.Builder
	from := s.offset
	for {
		if s.offset >= len(s.src) {
			s.error(start, "string not terminated")
			return b.String() + s.src[from:]
		}
		c := s.src[s.offset]
		if c == quote {
			if b.Len() == 0 {
				lit := s.src[from:s.offset]
				s.offset++
				return lit
			}
			b.WriteString(s.src[from:s.offset])
			s.offset++
			return b.String()
		}
		if c != '\\' {
			s.offset++
			continue
		}
		b.WriteString(s.src[from:s.offset])
		s.offset++
		from = s.scanEscape(&b)
	}
}

// scanEscape writes the escape sequence after a backslash and returns the
// offset from which plain text continues.
func (s *Scanner) scanEscape(b *strings.Builder) int {
	if s.offset >= len(s.src) {
		return s.offset
	}
	c := s.src[s.offset]
	s.offset++
	switch c {
	case '\'', '"', '`', '\\', '/':
		b.WriteByte(c)
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'f':
		b.WriteByte('\f')
	case 'u':
		if s.offset+4 <= len(s.src) {
			if n, err := strconv.ParseUint(s.src[s.offset:s.offset+4], 16, 32); err == nil {
				b.WriteRune(rune(n))
				s.offset += 4
				return s.offset
			}
		}
		b.WriteByte('u')
	default:
		// A backslash before any other character is dropped (FHIRPath §2.8).
		s.offset--
	}
	return s.offset
}

func (s *Scanner) scanVariable(start int) string {
	if s.offset < len(s.src) {
		switch c := s.src[s.offset]; {
		case isLetter(c):
			return s.scanWord()
		case c == '`' || c == '\'' || c == '"':
			s.offset++
			return s.scanQuoted(start, c)
		}
	}
	s.error(start, "expected a name after %")
	return ""
}

// scanDateTime scans a date, dateTime or time literal after its @:
// @YYYY[-MM[-DD]][T[hh[:mm[:ss[.fff]]]][Z|±hh:mm]] or @Thh[:mm[:ss[.fff]]].
func (s *Scanner) scanDateTime(start int) (Token, string) {
	from := s.offset
	if s.accept('T') {
		if !s.scanTime() {
			s.error(start, "invalid time literal")
			return ILLEGAL, s.src[start:s.offset]
		}
		return TIME, s.src[from:s.offset]
	}
	if !s.scanFixedDigits(4) {
		s.error(start, "invalid date literal")
		return ILLEGAL, s.src[start:s.offset]
	}
	if s.peekDash() && s.scanDashDigits() && s.peekDash() {
		s.scanDashDigits()
	}
	if !s.accept('T') {
		return DATE, s.src[from:s.offset]
	}
	if s.offset < len(s.src) && isDigit(s.src[s.offset]) {
		s.scanTime()
	}
	s.scanZone()
	return DATETIME, s.src[from:s.offset]
}

func (s *Scanner) peekDash() bool {
	return s.offset+2 < len(s.src) && s.src[s.offset] == '-' && isDigit(s.src[s.offset+1]) && isDigit(s.src[s.offset+2])
}

func (s *Scanner) scanDashDigits() bool {
	s.offset++
	return s.scanFixedDigits(2)
}

func (s *Scanner) scanFixedDigits(n int) bool {
	if s.offset+n > len(s.src) {
		return false
	}
	for i := 0; i < n; i++ {
		if !isDigit(s.src[s.offset+i]) {
			return false
		}
	}
	s.offset += n
	return true
}

// scanTime scans hh[:mm[:ss[.fff]]].
func (s *Scanner) scanTime() bool {
	if !s.scanFixedDigits(2) {
		return false
	}
	for i := 0; i < 2; i++ {
		if !(s.offset+2 < len(s.src) && s.src[s.offset] == ':' && isDigit(s.src[s.offset+1])) {
			return true
		}
		s.offset++
		if !s.scanFixedDigits(2) {
			return false
		}
	}
	if s.offset+1 < len(s.src) && s.src[s.offset] == '.' && isDigit(s.src[s.offset+1]) {
		s.offset++
		s.scanDigits()
	}
	return true
}

func (s *Scanner) scanZone() {
	if s.accept('Z') {
		return
	}
	if s.offset+6 <= len(s.src) && (s.src[s.offset] == '+' || s.src[s.offset] == '-') &&
		isDigit(s.src[s.offset+1]) && isDigit(s.src[s.offset+2]) && s.src[s.offset+3] == ':' &&
		isDigit(s.src[s.offset+4]) && isDigit(s.src[s.offset+5]) {
		s.offset += 6
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
