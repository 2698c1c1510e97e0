package fhirpath

import (
	"strings"
	"testing"
)

type scanned struct {
	tok Token
	lit string
}

func scanAll(src string) ([]scanned, []string) {
	var s Scanner
	var errs []string
	s.Init(src, func(pos Pos, msg string) { errs = append(errs, position(src, pos).String()+": "+msg) })
	var out []scanned
	for {
		_, tok, lit := s.Scan()
		if tok == EOF {
			return out, errs
		}
		out = append(out, scanned{tok, lit})
	}
}

func TestScanner(t *testing.T) {
	tests := []struct {
		src  string
		want []scanned
	}{
		{"Patient.name", []scanned{{IDENT, "Patient"}, {DOT, "."}, {IDENT, "name"}}},
		{"`div`.x", []scanned{{IDENT, "div"}, {DOT, "."}, {IDENT, "x"}}},
		{`'it\'s \u00e9\n'`, []scanned{{STRING, "it's é\n"}}},
		{`'a\qb'`, []scanned{{STRING, "aqb"}}}, // unknown escapes drop the backslash
		{"12 3.25 4.", []scanned{{NUMBER, "12"}, {NUMBER, "3.25"}, {NUMBER, "4"}, {DOT, "."}}},
		{"@2020 @2020-01 @2020-01-02", []scanned{{DATE, "2020"}, {DATE, "2020-01"}, {DATE, "2020-01-02"}}},
		{"@2020-01-02T10:00:00.123+02:00", []scanned{{DATETIME, "2020-01-02T10:00:00.123+02:00"}}},
		{"@2020-01-02T @2020T10Z", []scanned{{DATETIME, "2020-01-02T"}, {DATETIME, "2020T10Z"}}},
		{"@T10:30", []scanned{{TIME, "T10:30"}}},
		{"%resource %`vs-x` $this", []scanned{{EXTVAR, "resource"}, {EXTVAR, "vs-x"}, {SPECIAL, "$this"}}},
		{"a!=b!~c<=d>=e<f>g", []scanned{{IDENT, "a"}, {NEQ, "!="}, {IDENT, "b"}, {NEQUIV, "!~"}, {IDENT, "c"}, {LE, "<="}, {IDENT, "d"}, {GE, ">="}, {IDENT, "e"}, {LT, "<"}, {IDENT, "f"}, {GT, ">"}, {IDENT, "g"}}},
		{"a // line\n/* block */ | {}", []scanned{{IDENT, "a"}, {PIPE, "|"}, {LBRACE, "{"}, {RBRACE, "}"}}},
		{"x[0] + -1 * 2 / 3 & 'y'", []scanned{{IDENT, "x"}, {LBRACK, "["}, {NUMBER, "0"}, {RBRACK, "]"}, {PLUS, "+"}, {MINUS, "-"}, {NUMBER, "1"}, {STAR, "*"}, {NUMBER, "2"}, {SLASH, "/"}, {NUMBER, "3"}, {AMP, "&"}, {STRING, "y"}}},
	}
	for _, tt := range tests {
		got, errs := scanAll(tt.src)
		if len(errs) > 0 {
			t.Errorf("%q: errors %v", tt.src, errs)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %v, want %v", tt.src, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q token %d: got %v, want %v", tt.src, i, got[i], tt.want[i])
			}
		}
	}
}

func TestScannerErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"'open", "1:1: string not terminated"},
		{"a /* open", "1:3: comment not terminated"},
		{"a ^ b", `1:3: unexpected character '^'`},
		{"@x", "1:1: invalid date literal"},
		{"@T1", "1:1: invalid time literal"},
		{"$", "1:1: expected a name after $"},
		{"a\n  %", "2:3: expected a name after %"},
		{"!", "1:1: unexpected character '!'"},
	}
	for _, tt := range tests {
		_, errs := scanAll(tt.src)
		if len(errs) == 0 || !strings.Contains(errs[0], tt.want) {
			t.Errorf("%q: errors %v, want %q", tt.src, errs, tt.want)
		}
	}
}
