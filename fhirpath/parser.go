package fhirpath

import (
	"encoding/json"
	"strconv"

	"github.com/wardhealth/ward"
)

// Limits that keep hostile input cheap.
const (
	maxSourceLen = 64 << 10 // bytes
	maxNest      = 128      // nesting of operators, calls and parentheses
)

// parser is a precedence-climbing parser with one token of look-ahead. It
// stops at the first error.
type parser struct {
	src     string
	scanner Scanner

	pos Pos
	tok Token
	lit string

	nest int
	err  *ward.Error
}

// bailout unwinds the parser after the first error.
type bailout struct{}

func parse(src string) (root Node, err error) {
	if len(src) > maxSourceLen {
		return nil, &ward.Error{Code: ward.EINVALID, Message: "FHIRPath expression is longer than " + strconv.Itoa(maxSourceLen) + " bytes"}
	}
	p := &parser{src: src}
	p.scanner.Init(src, p.errorAt)
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			root, err = nil, p.err
		}
	}()
	p.next()
	root = p.parseBinary(lowestPrec)
	if p.tok != EOF {
		p.errorExpected("an operator or the end of the expression")
	}
	return root, nil
}

func (p *parser) next() {
	p.pos, p.tok, p.lit = p.scanner.Scan()
	if p.lit == "" && (p.tok == IDENT || p.tok == EXTVAR) {
		p.errorAt(p.pos, "empty name")
	}
}

func (p *parser) errorAt(pos Pos, msg string) {
	if p.err == nil {
		p.err = &ward.Error{
			Code:       ward.EINVALID,
			Message:    "Invalid FHIRPath at " + position(p.src, pos).String() + ": " + msg,
			Expression: []string{p.src},
		}
	}
	panic(bailout{})
}

// found describes the current token for an error message.
func (p *parser) found() string {
	switch p.tok {
	case EOF:
		return "end of expression"
	case STRING:
		return "string " + strconv.Quote(p.lit)
	}
	end := p.scanner.offset
	if end > int(p.pos)+40 {
		end = int(p.pos) + 40
	}
	return strconv.Quote(p.src[p.pos:end])
}

func (p *parser) errorExpected(what string) {
	p.errorAt(p.pos, "expected "+what+", found "+p.found())
}

func (p *parser) expect(tok Token) Pos {
	pos := p.pos
	if p.tok != tok {
		p.errorExpected(strconv.Quote(tok.String()))
	}
	p.next()
	return pos
}

func (p *parser) enter() {
	p.nest++
	if p.nest > maxNest {
		p.errorAt(p.pos, "expression nested too deeply")
	}
}

func (p *parser) leave() { p.nest-- }

// delimited reports whether the current IDENT was written in backticks.
func (p *parser) delimited() bool { return p.tok == IDENT && p.src[p.pos] == '`' }

// binaryOp returns the operator at the current token, or ILLEGAL.
func (p *parser) binaryOp() Token {
	if p.tok == IDENT {
		if p.delimited() {
			return ILLEGAL
		}
		return keyword(p.lit)
	}
	if p.tok.Precedence() > 0 {
		return p.tok
	}
	return ILLEGAL
}

// parseBinary parses operands joined by operators of precedence ≥ min.
func (p *parser) parseBinary(min int) Node {
	p.enter()
	defer p.leave()
	x := p.parseUnary()
	for {
		op := p.binaryOp()
		prec := op.Precedence()
		if prec == 0 || prec < min {
			return x
		}
		opPos := p.pos
		p.next()
		if op == IS || op == AS {
			x = &TypeOp{X: x, OpPos: opPos, Op: op, Type: p.parseTypeSpec()}
			continue
		}
		y := p.parseBinary(prec + 1)
		x = &Binary{X: x, OpPos: opPos, Op: op, Y: y}
	}
}

func (p *parser) parseUnary() Node {
	if p.tok == PLUS || p.tok == MINUS {
		p.enter()
		defer p.leave()
		pos, op := p.pos, p.tok
		p.next()
		return &Unary{OpPos: pos, Op: op, X: p.parseUnary()}
	}
	return p.parsePostfix(p.parseTerm())
}

func (p *parser) parsePostfix(x Node) Node {
	for {
		switch p.tok {
		case DOT:
			p.next()
			if p.tok != IDENT {
				p.errorExpected("a name after .")
			}
			pos, name := p.pos, p.lit
			p.next()
			if p.tok == LPAREN {
				x = p.parseCall(x, pos, name)
			} else {
				x = &Member{X: x, NamePos: pos, Name: name}
			}
		case LBRACK:
			lbrack := p.pos
			p.next()
			p.enter()
			index := p.parseBinary(lowestPrec)
			p.leave()
			p.expect(RBRACK)
			x = &Index{X: x, Lbrack: lbrack, Index: index}
		default:
			return x
		}
	}
}

func (p *parser) parseTerm() Node {
	pos, lit := p.pos, p.lit
	switch p.tok {
	case IDENT:
		delimited := p.delimited()
		p.next()
		if p.tok == LPAREN {
			return p.parseCall(nil, pos, lit)
		}
		if !delimited && (lit == "true" || lit == "false") {
			return &Literal{ValuePos: pos, Kind: BooleanLit, Text: lit, value: boolValue(lit == "true")}
		}
		return &Ident{NamePos: pos, Name: lit}
	case STRING:
		p.next()
		return &Literal{ValuePos: pos, Kind: StringLit, Text: lit, value: stringValue(lit)}
	case NUMBER:
		p.next()
		return p.parseNumber(pos, lit)
	case DATE, DATETIME, TIME:
		tok := p.tok
		p.next()
		return dateLiteral(pos, tok, lit)
	case EXTVAR:
		p.next()
		return &Variable{NamePos: pos, Name: lit}
	case SPECIAL:
		if lit != "$this" && lit != "$index" && lit != "$total" {
			p.errorAt(pos, "unknown special variable "+lit)
		}
		p.next()
		return &Special{NamePos: pos, Name: lit}
	case LPAREN:
		p.next()
		x := p.parseBinary(lowestPrec)
		p.expect(RPAREN)
		return x
	case LBRACE:
		p.next()
		p.expect(RBRACE)
		return &EmptySet{Lbrace: pos}
	}
	p.errorExpected("an expression")
	return nil
}

// parseNumber parses a number, or a quantity when a unit follows.
func (p *parser) parseNumber(pos Pos, text string) Node {
	typ := "integer"
	for i := 0; i < len(text); i++ {
		if text[i] == '.' {
			typ = "decimal"
		}
	}
	unit := ""
	switch {
	case p.tok == STRING:
		unit = p.lit
	case p.tok == IDENT && !p.delimited() && isCalendarUnit(p.lit):
		unit = p.lit
	default:
		return &Literal{ValuePos: pos, Kind: NumberLit, Text: text, value: Value{Data: json.Number(text), Type: typ}}
	}
	p.next()
	q := map[string]any{"value": json.Number(text), "unit": unit}
	return &Literal{ValuePos: pos, Kind: QuantityLit, Text: text, Unit: unit, value: Value{Data: q, Type: "Quantity"}}
}

func dateLiteral(pos Pos, tok Token, text string) Node {
	switch tok {
	case DATE:
		return &Literal{ValuePos: pos, Kind: DateLit, Text: text, value: Value{Data: text, Type: "date"}}
	case TIME:
		return &Literal{ValuePos: pos, Kind: TimeLit, Text: text, value: Value{Data: text[1:], Type: "time"}}
	}
	data := text
	if data[len(data)-1] == 'T' {
		data = data[:len(data)-1] // @2020-01-01T is a dateTime of day precision
	}
	return &Literal{ValuePos: pos, Kind: DateTimeLit, Text: text, value: Value{Data: data, Type: "dateTime"}}
}

// parseTypeSpec parses the type after is/as: Name or Namespace.Name.
func (p *parser) parseTypeSpec() TypeSpec {
	if p.tok != IDENT {
		p.errorExpected("a type name")
	}
	t := TypeSpec{NamePos: p.pos, Name: p.lit}
	p.next()
	if p.tok == DOT {
		p.next()
		if p.tok != IDENT {
			p.errorExpected("a type name after .")
		}
		t.Namespace, t.Name = t.Name, p.lit
		p.next()
	}
	return t
}

// parseCall parses the arguments of name( and checks them against the
// function table.
func (p *parser) parseCall(x Node, pos Pos, name string) Node {
	p.enter()
	defer p.leave()
	p.expect(LPAREN)
	call := &Call{X: x, NamePos: pos, Name: name}
	for p.tok != RPAREN {
		call.Args = append(call.Args, p.parseBinary(lowestPrec))
		if p.tok != COMMA {
			break
		}
		p.next()
	}
	p.expect(RPAREN)
	fn := lookupFunction(name)
	if fn == nil {
		p.errorAt(pos, "unknown function "+name+"()")
	}
	if n := len(call.Args); n < fn.minArgs || n > fn.maxArgs {
		p.errorAt(pos, name+"() takes "+arity(fn)+", found "+plural(n, "argument"))
	}
	call.fn = fn
	if fn.typeArg {
		call.typeArg = typeName(call.Args[0])
		if call.typeArg == "" {
			p.errorAt(call.Args[0].Pos(), name+"() expects a type name, found "+strconv.Quote(call.Args[0].String()))
		}
	}
	return call
}

// typeName returns the type an argument names (Quantity, FHIR.Patient), or "".
func typeName(n Node) string {
	switch x := n.(type) {
	case *Ident:
		return x.Name
	case *Member:
		if id, ok := x.X.(*Ident); ok {
			return id.Name + "." + x.Name
		}
	}
	return ""
}

func arity(fn *function) string {
	switch {
	case fn.minArgs == fn.maxArgs:
		return plural(fn.minArgs, "argument")
	case fn.maxArgs == fn.minArgs+1:
		return strconv.Itoa(fn.minArgs) + " or " + plural(fn.maxArgs, "argument")
	}
	return strconv.Itoa(fn.minArgs) + " to " + plural(fn.maxArgs, "argument")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
