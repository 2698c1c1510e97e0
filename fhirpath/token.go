package fhirpath

import "strconv"

// Token is a lexical token of FHIRPath.
type Token int

// The tokens. Words (names, keywords such as "and" or "div", true and false)
// are all IDENT: whether a word is an operator or an identifier depends on
// where it stands, so the parser decides (see keyword).
const (
	ILLEGAL Token = iota
	EOF

	IDENT    // name, or `delimited name` (lit is the unescaped name)
	STRING   // 'text' (lit is the unescaped text)
	NUMBER   // 12, 1.5
	DATE     // @2020-01-02 (lit without the @)
	DATETIME // @2020-01-02T10:00:00Z
	TIME     // @T10:00
	EXTVAR   // %name, %`name`, %'name' (lit is the name without %)
	SPECIAL  // $this, $index, $total (lit with the $)

	DOT      // .
	COMMA    // ,
	LPAREN   // (
	RPAREN   // )
	LBRACK   // [
	RBRACK   // ]
	LBRACE   // {
	RBRACE   // }
	PLUS     // +
	MINUS    // -
	STAR     // *
	SLASH    // /
	AMP      // &
	PIPE     // |
	EQ       // =
	NEQ      // !=
	EQUIV    // ~
	NEQUIV   // !~
	LT       // <
	LE       // <=
	GT       // >
	GE       // >=
	operEnd  // end of the punctuation operators
	AND      // and
	OR       // or
	XOR      // xor
	IMPLIES  // implies
	IS       // is
	AS       // as
	IN       // in
	CONTAINS // contains
	DIV      // div
	MOD      // mod
)

var tokenNames = [...]string{
	ILLEGAL:  "ILLEGAL",
	EOF:      "EOF",
	IDENT:    "identifier",
	STRING:   "string",
	NUMBER:   "number",
	DATE:     "date",
	DATETIME: "dateTime",
	TIME:     "time",
	EXTVAR:   "variable",
	SPECIAL:  "special variable",
	DOT:      ".",
	COMMA:    ",",
	LPAREN:   "(",
	RPAREN:   ")",
	LBRACK:   "[",
	RBRACK:   "]",
	LBRACE:   "{",
	RBRACE:   "}",
	PLUS:     "+",
	MINUS:    "-",
	STAR:     "*",
	SLASH:    "/",
	AMP:      "&",
	PIPE:     "|",
	EQ:       "=",
	NEQ:      "!=",
	EQUIV:    "~",
	NEQUIV:   "!~",
	LT:       "<",
	LE:       "<=",
	GT:       ">",
	GE:       ">=",
	operEnd:  "",
	AND:      "and",
	OR:       "or",
	XOR:      "xor",
	IMPLIES:  "implies",
	IS:       "is",
	AS:       "as",
	IN:       "in",
	CONTAINS: "contains",
	DIV:      "div",
	MOD:      "mod",
}

// String returns the operator text of tok, or its class name.
func (tok Token) String() string {
	if tok >= 0 && int(tok) < len(tokenNames) {
		return tokenNames[tok]
	}
	return "token(" + strconv.Itoa(int(tok)) + ")"
}

// keyword returns the operator token a word stands for when it follows a
// complete operand ("a and b"), and IDENT for other words.
func keyword(word string) Token {
	switch word {
	case "and":
		return AND
	case "or":
		return OR
	case "xor":
		return XOR
	case "implies":
		return IMPLIES
	case "is":
		return IS
	case "as":
		return AS
	case "in":
		return IN
	case "contains":
		return CONTAINS
	case "div":
		return DIV
	case "mod":
		return MOD
	}
	return IDENT
}

// Precedences of the binary operators, loosest first (FHIRPath §10).
const (
	lowestPrec = 1
	unaryPrec  = 11
)

// Precedence returns the binary precedence of tok; 0 when tok is not a
// binary operator.
func (tok Token) Precedence() int {
	switch tok {
	case IMPLIES:
		return 1
	case OR, XOR:
		return 2
	case AND:
		return 3
	case IN, CONTAINS:
		return 4
	case EQ, NEQ, EQUIV, NEQUIV:
		return 5
	case LT, LE, GT, GE:
		return 6
	case PIPE:
		return 7
	case IS, AS:
		return 8
	case PLUS, MINUS, AMP:
		return 9
	case STAR, SLASH, DIV, MOD:
		return 10
	}
	return 0
}

// Pos is a byte offset into the expression source.
type Pos int

// Position is a human position in the source: line and column count from 1,
// the column in bytes.
type Position struct {
	Offset int
	Line   int
	Column int
}

func (p Position) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

// position converts a byte offset of src into line and column.
func position(src string, offset Pos) Position {
	line, col := 1, 1
	for i := 0; i < int(offset) && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return Position{Offset: int(offset), Line: line, Column: col}
}
