package fhirpath

import "strings"

// Node is a node of the syntax tree. String prints it as an expression that
// parses back to the same tree.
type Node interface {
	Pos() Pos
	String() string
	write(b *strings.Builder)
	prec() int // binding strength, for printing parentheses
}

// postfixPrec is the binding strength of terms and of . [] () chains.
const postfixPrec = 12

type (
	// Ident is a name at the start of a path: an element name or a type
	// name such as Patient.
	Ident struct {
		NamePos Pos
		Name    string
	}

	// Literal is a string, number, boolean, date/time or quantity literal.
	Literal struct {
		ValuePos Pos
		Kind     LiteralKind
		Text     string // the string value; the number, date or time text as written
		Unit     string // quantity unit
		value    Value  // computed once by the parser
	}

	// EmptySet is {}.
	EmptySet struct {
		Lbrace Pos
	}

	// Variable is an environment variable such as %resource.
	Variable struct {
		NamePos Pos
		Name    string // without %
	}

	// Special is $this, $index or $total.
	Special struct {
		NamePos Pos
		Name    string // with $
	}

	// Member is X.Name.
	Member struct {
		X       Node
		NamePos Pos
		Name    string
	}

	// Call is a function call: X.Name(Args), or Name(Args) on the focus
	// when X is nil.
	Call struct {
		X       Node
		NamePos Pos
		Name    string
		Args    []Node
		fn      *function
		typeArg string // for ofType/is/as: the type named by the argument
	}

	// Index is X[Index].
	Index struct {
		X      Node
		Lbrack Pos
		Index  Node
	}

	// Unary is +X or -X.
	Unary struct {
		OpPos Pos
		Op    Token
		X     Node
	}

	// Binary is X Op Y.
	Binary struct {
		X     Node
		OpPos Pos
		Op    Token
		Y     Node
	}

	// TypeOp is "X is Type" or "X as Type".
	TypeOp struct {
		X     Node
		OpPos Pos
		Op    Token // IS or AS
		Type  TypeSpec
	}
)

// TypeSpec names a type, optionally qualified: Quantity, FHIR.Patient,
// System.String.
type TypeSpec struct {
	NamePos   Pos
	Namespace string
	Name      string
}

// String returns the qualified name.
func (t TypeSpec) String() string {
	if t.Namespace == "" {
		return identString(t.Name)
	}
	return identString(t.Namespace) + "." + identString(t.Name)
}

// LiteralKind tells literals apart.
type LiteralKind int

// Literal kinds.
const (
	StringLit LiteralKind = iota
	NumberLit
	BooleanLit
	DateLit
	DateTimeLit
	TimeLit
	QuantityLit
)

func (x *Ident) Pos() Pos    { return x.NamePos }
func (x *Literal) Pos() Pos  { return x.ValuePos }
func (x *EmptySet) Pos() Pos { return x.Lbrace }
func (x *Variable) Pos() Pos { return x.NamePos }
func (x *Special) Pos() Pos  { return x.NamePos }
func (x *Member) Pos() Pos   { return x.X.Pos() }
func (x *Index) Pos() Pos    { return x.X.Pos() }
func (x *Unary) Pos() Pos    { return x.OpPos }
func (x *Binary) Pos() Pos   { return x.X.Pos() }
func (x *TypeOp) Pos() Pos   { return x.X.Pos() }
func (x *Call) Pos() Pos {
	if x.X != nil {
		return x.X.Pos()
	}
	return x.NamePos
}

func (*Ident) prec() int           { return postfixPrec }
func (*Literal) prec() int         { return postfixPrec }
func (*EmptySet) prec() int        { return postfixPrec }
func (*Variable) prec() int        { return postfixPrec }
func (*Special) prec() int         { return postfixPrec }
func (*Member) prec() int          { return postfixPrec }
func (*Call) prec() int            { return postfixPrec }
func (*Index) prec() int           { return postfixPrec }
func (*Unary) prec() int           { return unaryPrec }
func (x *Binary) prec() int        { return x.Op.Precedence() }
func (x *TypeOp) prec() int        { return x.Op.Precedence() }
func (x *Ident) String() string    { return nodeString(x) }
func (x *Literal) String() string  { return nodeString(x) }
func (x *EmptySet) String() string { return "{}" }
func (x *Variable) String() string { return nodeString(x) }
func (x *Special) String() string  { return x.Name }
func (x *Member) String() string   { return nodeString(x) }
func (x *Call) String() string     { return nodeString(x) }
func (x *Index) String() string    { return nodeString(x) }
func (x *Unary) String() string    { return nodeString(x) }
func (x *Binary) String() string   { return nodeString(x) }
func (x *TypeOp) String() string   { return nodeString(x) }

func nodeString(n Node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

// writeOperand writes n, in parentheses when it binds looser than min.
func writeOperand(b *strings.Builder, n Node, min int) {
	if n.prec() < min {
		b.WriteByte('(')
		n.write(b)
		b.WriteByte(')')
		return
	}
	n.write(b)
}

func (x *Ident) write(b *strings.Builder)    { b.WriteString(identString(x.Name)) }
func (x *EmptySet) write(b *strings.Builder) { b.WriteString("{}") }
func (x *Special) write(b *strings.Builder)  { b.WriteString(x.Name) }

func (x *Variable) write(b *strings.Builder) {
	b.WriteByte('%')
	if isPlainIdent(x.Name) {
		b.WriteString(x.Name)
	} else {
		writeQuoted(b, x.Name, '`')
	}
}

func (x *Literal) write(b *strings.Builder) {
	switch x.Kind {
	case StringLit:
		writeQuoted(b, x.Text, '\'')
	case NumberLit, BooleanLit:
		b.WriteString(x.Text)
	case DateLit, DateTimeLit, TimeLit:
		b.WriteByte('@')
		b.WriteString(x.Text)
	case QuantityLit:
		b.WriteString(x.Text)
		b.WriteByte(' ')
		if isCalendarUnit(x.Unit) {
			b.WriteString(x.Unit)
		} else {
			writeQuoted(b, x.Unit, '\'')
		}
	}
}

func (x *Member) write(b *strings.Builder) {
	writeOperand(b, x.X, postfixPrec)
	b.WriteByte('.')
	b.WriteString(memberString(x.Name))
}

func (x *Call) write(b *strings.Builder) {
	if x.X != nil {
		writeOperand(b, x.X, postfixPrec)
		b.WriteByte('.')
	}
	b.WriteString(memberString(x.Name))
	b.WriteByte('(')
	for i, a := range x.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		a.write(b)
	}
	b.WriteByte(')')
}

func (x *Index) write(b *strings.Builder) {
	writeOperand(b, x.X, postfixPrec)
	b.WriteByte('[')
	x.Index.write(b)
	b.WriteByte(']')
}

func (x *Unary) write(b *strings.Builder) {
	b.WriteString(x.Op.String())
	if _, ok := x.X.(*Unary); ok {
		b.WriteByte(' ') // - -x: parentheses would nest deeper than the source
	}
	writeOperand(b, x.X, unaryPrec)
}

func (x *Binary) write(b *strings.Builder) {
	p := x.Op.Precedence()
	writeOperand(b, x.X, p)
	b.WriteByte(' ')
	b.WriteString(x.Op.String())
	b.WriteByte(' ')
	writeOperand(b, x.Y, p+1) // operators are left-associative
}

func (x *TypeOp) write(b *strings.Builder) {
	writeOperand(b, x.X, x.Op.Precedence())
	b.WriteByte(' ')
	b.WriteString(x.Op.String())
	b.WriteByte(' ')
	b.WriteString(x.Type.String())
}

// identString returns name as written in an expression: plain, or in
// backticks when it is not a plain identifier or could be read as a
// keyword or literal.
func identString(name string) string {
	if isPlainIdent(name) && keyword(name) == IDENT && name != "true" && name != "false" {
		return name
	}
	var b strings.Builder
	writeQuoted(&b, name, '`')
	return b.String()
}

// memberString returns a name after a dot or before "(": only names that
// are not plain identifiers need backticks there.
func memberString(name string) string {
	if isPlainIdent(name) {
		return name
	}
	var b strings.Builder
	writeQuoted(&b, name, '`')
	return b.String()
}

func isPlainIdent(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// writeQuoted writes s between quotes with FHIRPath escapes.
func writeQuoted(b *strings.Builder, s string, quote byte) {
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte(quote)
}

// isCalendarUnit reports whether word is an unquoted unit of a quantity
// literal (5 days).
func isCalendarUnit(word string) bool {
	switch word {
	case "year", "years", "month", "months", "week", "weeks", "day", "days",
		"hour", "hours", "minute", "minutes", "second", "seconds", "millisecond", "milliseconds":
		return true
	}
	return false
}
