package sqlsim

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// expr is a parsed T-SQL expression.
type expr interface{}

type (
	litExpr struct{ v any }
	strLit  struct { // 'text' (varchar) or N'text' (nvarchar)
		s        string
		national bool
	}
	colExpr   struct{ qual, name string }
	paramExpr struct{ name string }
	varExpr   struct{ name string }
	binExpr   struct {
		op   string
		l, r expr
	}
	notExpr    struct{ e expr }
	isNullExpr struct {
		e   expr
		neg bool
	}
	inExpr struct {
		e    expr
		list []expr
		neg  bool
	}
	likeExpr struct {
		e, pat expr
		neg    bool
	}
	funcExpr struct {
		name string
		args []expr
		star bool // COUNT(*)
	}
	castExpr struct {
		e   expr
		typ string
	}
)

func (p *parser) expr() (expr, error) { return p.orExpr() }

func (p *parser) orExpr() (expr, error) {
	l, err := p.andExpr()
	for err == nil && p.accept("OR") {
		var r expr
		r, err = p.andExpr()
		l = binExpr{"OR", l, r}
	}
	return l, err
}

func (p *parser) andExpr() (expr, error) {
	l, err := p.notExpr()
	for err == nil && p.is("AND") {
		p.next()
		var r expr
		r, err = p.notExpr()
		l = binExpr{"AND", l, r}
	}
	return l, err
}

func (p *parser) notExpr() (expr, error) {
	if p.accept("NOT") {
		e, err := p.notExpr()
		return notExpr{e}, err
	}
	return p.cmpExpr()
}

func (p *parser) cmpExpr() (expr, error) {
	l, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "=", "<", ">", "<=", ">=", "<>", "!=":
			p.next()
			r, err := p.addExpr()
			return binExpr{t.text, l, r}, err
		}
	}
	neg := false
	if p.is("NOT") && (strings.EqualFold(p.peekAt(1).text, "IN") || strings.EqualFold(p.peekAt(1).text, "LIKE")) {
		p.next()
		neg = true
	}
	switch {
	case p.accept("IS"):
		n := p.accept("NOT")
		return isNullExpr{l, n}, p.expect("NULL")
	case p.accept("IN"):
		if p.isOp("(") && word(p.peekAt(1), "SELECT") {
			st, err := p.subquery()
			return inSubqueryExpr{l, st, neg}, err
		}
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		var list []expr
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			list = append(list, e)
			if !p.acceptOp(",") {
				break
			}
		}
		return inExpr{l, list, neg}, p.expectOp(")")
	case p.accept("LIKE"):
		r, err := p.addExpr()
		return likeExpr{l, r, neg}, err
	case p.accept("BETWEEN"):
		lo, err := p.addExpr()
		if err != nil {
			return nil, err
		}
		if err := p.expect("AND"); err != nil {
			return nil, err
		}
		hi, err := p.addExpr()
		return binExpr{"AND", binExpr{">=", l, lo}, binExpr{"<=", l, hi}}, err
	}
	return l, nil
}

func (p *parser) addExpr() (expr, error) {
	l, err := p.mulExpr()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.next().text
		var r expr
		r, err = p.mulExpr()
		l = binExpr{op, l, r}
	}
	return l, err
}

func (p *parser) mulExpr() (expr, error) {
	l, err := p.unary()
	for err == nil && (p.isOp("*") || p.isOp("/") || p.isOp("%")) {
		op := p.next().text
		var r expr
		r, err = p.unary()
		l = binExpr{op, l, r}
	}
	return l, err
}

func (p *parser) unary() (expr, error) {
	if p.acceptOp("-") {
		e, err := p.unary()
		return binExpr{"-", litExpr{int64(0)}, e}, err
	}
	e, err := p.primary()
	for err == nil && p.is("AT") && strings.EqualFold(p.peekAt(1).text, "TIME") && strings.EqualFold(p.peekAt(2).text, "ZONE") {
		p.next()
		p.next()
		p.next()
		var zone expr
		zone, err = p.primary()
		e = funcExpr{name: "AT TIME ZONE", args: []expr{e, zone}}
	}
	return e, err
}

func (p *parser) primary() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		return numberLiteral(t)
	case tString:
		p.next()
		return strLit{t.text, t.national}, nil
	case tParam:
		p.next()
		return paramExpr{strings.ToLower(t.text)}, nil
	case tVar:
		p.next()
		return varExpr{t.text}, nil
	case tOp:
		if t.text == "(" && p.peekAt(1).kind == tIdent && word(p.peekAt(1), "SELECT") {
			st, err := p.subquery()
			return subqueryExpr{st}, err
		}
		if t.text == "(" {
			p.next()
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		}
		return nil, p.syntaxErr()
	case tIdent:
		if !t.quoted && strings.EqualFold(t.text, "NULL") {
			p.next()
			return litExpr{nil}, nil
		}
		if word(t, "EXISTS") && p.peekAt(1).text == "(" {
			p.next()
			st, err := p.subquery()
			return existsExpr{st}, err
		}
		if p.peekAt(1).kind == tOp && p.peekAt(1).text == "(" && !t.quoted {
			return p.call()
		}
		if strings.EqualFold(t.text, "sys") && p.peekAt(1).text == "." && p.peekAt(3).text == "(" { // sys.fn_...(...)
			p.next()
			p.next()
			return p.call()
		}
		parts, err := p.multipart()
		if err != nil {
			return nil, err
		}
		if len(parts) == 1 {
			return colExpr{"", parts[0]}, nil
		}
		return colExpr{strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]}, nil
	}
	return nil, p.syntaxErr()
}

func (p *parser) call() (expr, error) {
	name := strings.ToUpper(p.next().text)
	p.next() // (
	if name == "CAST" || name == "TRY_CAST" {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect("AS"); err != nil {
			return nil, err
		}
		typ, err := p.typeName()
		if err != nil {
			return nil, err
		}
		return castExpr{e, typ}, p.expectOp(")")
	}
	if name == "CONVERT" {
		typ, err := p.typeName()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(","); err != nil {
			return nil, err
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.acceptOp(",") {
			p.expr() // style
		}
		return castExpr{e, typ}, p.expectOp(")")
	}
	f := funcExpr{name: name}
	if p.isOp("*") {
		p.next()
		f.star = true
		return f, p.expectOp(")")
	}
	if p.acceptOp(")") {
		return f, nil
	}
	for {
		if name == "DATEDIFF" || name == "DATEADD" || name == "DATEPART" {
			if len(f.args) == 0 && p.peek().kind == tIdent {
				f.args = append(f.args, litExpr{strings.ToUpper(p.next().text)})
				if err := p.expectOp(","); err != nil {
					return nil, err
				}
				continue
			}
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		f.args = append(f.args, e)
		if !p.acceptOp(",") {
			break
		}
	}
	return f, p.expectOp(")")
}

// typeName reads a type like nvarchar(128), numeric(25,0), int.
func (p *parser) typeName() (string, error) {
	n, err := p.name()
	if err != nil {
		return "", err
	}
	n = strings.ToLower(n)
	if p.acceptOp("(") {
		var args []string
		for !p.isOp(")") && p.peek().kind != tEOF {
			args = append(args, p.next().text)
		}
		p.next()
		n += "(" + strings.Join(args, "") + ")"
	}
	return n, nil
}

func (e colExpr) String() string {
	if e.qual != "" {
		return fmt.Sprintf("%s.%s", e.qual, e.name)
	}
	return e.name
}

// numberLiteral types a numeric constant as SQL Server does
// (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql): 0x...
// is binary, digits are int (bigint, or numeric beyond it), digits with a
// point are decimal with the digits written, and an exponent makes float.
func numberLiteral(t token) (expr, error) {
	text := t.text
	switch {
	case len(text) > 1 && (text[1] == 'x' || text[1] == 'X'):
		h := text[2:]
		if len(h)%2 == 1 {
			h = "0" + h
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", text))
		}
		return litExpr{b}, nil
	case strings.ContainsAny(text, "eE"):
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", text))
		}
		return litExpr{f}, nil
	case strings.Contains(text, "."):
		if strings.Count(text, ".") > 1 {
			return nil, sqlErr(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", text))
		}
		d, err := tds.ParseDecimal(text)
		if err != nil || d.Digits() > 38 {
			return litExpr{text}, nil
		}
		return litExpr{d}, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n > 1<<31-1 { // beyond int: numeric(p,0), there is no bigint constant
		if d, err := tds.ParseDecimal(text); err == nil && d.Digits() <= 38 {
			return litExpr{d}, nil
		}
		return litExpr{text}, nil
	}
	return litExpr{n}, nil
}

// staticType is the type SQL Server gives an expression before it runs,
// for the kinds whose type does not follow from the value: a character
// constant is varchar(n) in the database's collation, N'...' nvarchar(n)
// (learn.microsoft.com/sql/t-sql/data-types/constants-transact-sql); a
// concatenation of two is the Unicode one if either is, its length the
// sum (.../precision-scale-and-length-transact-sql); a column its own.
func staticType(e expr, row *rowCtx) (tds.Column, bool) {
	switch e := e.(type) {
	case litExpr: // a numeric constant: int, numeric(digits, scale), float, varbinary(n)
		switch v := e.v.(type) {
		case int64:
			return tds.Column{Type: tds.TypeInt}, true
		case tds.Decimal:
			return tds.Column{Type: tds.TypeNumeric, Precision: uint8(max(v.Digits(), int(v.Scale), 1)), Scale: v.Scale}, true
		case float64:
			return tds.Column{Type: tds.TypeFloat}, true
		case []byte:
			return tds.Column{Type: tds.TypeVarBinary, Length: max(len(v), 1)}, true
		}
	case strLit:
		if e.national {
			return tds.Column{Type: tds.TypeNVarChar, Length: max(len(utf16.Encode([]rune(e.s))), 1)}, true
		}
		return tds.Column{Type: tds.TypeVarChar, Length: max(len([]rune(e.s)), 1)}, true
	case colExpr:
		if _, c, err := row.lookup(e.qual, e.name); err == nil {
			return *c, true
		}
	case binExpr:
		if e.op != "+" {
			break
		}
		l, ok1 := staticType(e.l, row)
		r, ok2 := staticType(e.r, row)
		if !ok1 || !ok2 || !isText(l.Type) || !isText(r.Type) || l.Length < 0 || r.Length < 0 {
			break
		}
		c := tds.Column{Type: tds.TypeVarChar, Length: l.Length + r.Length}
		if isUnicode(l.Type) || isUnicode(r.Type) {
			c.Type = tds.TypeNVarChar
		}
		if c.Length > 8000 || (c.Type == tds.TypeNVarChar && c.Length > 4000) {
			break // beyond 8000 bytes: not simulated, typed by its value
		}
		return c, true
	}
	return tds.Column{}, false
}

func isText(t tds.Type) bool {
	return t == tds.TypeVarChar || t == tds.TypeChar || isUnicode(t)
}

func isUnicode(t tds.Type) bool { return t == tds.TypeNVarChar || t == tds.TypeNChar }

func isConstant(e expr) bool {
	switch e.(type) {
	case strLit, litExpr:
		return true
	}
	return false
}
