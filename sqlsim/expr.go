package sqlsim

import (
	"fmt"
	"strconv"
	"strings"
)

// expr is a parsed T-SQL expression.
type expr interface{}

type (
	litExpr   struct{ v any }
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
		if strings.Contains(t.text, ".") {
			f, err := strconv.ParseFloat(t.text, 64)
			return litExpr{f}, err
		}
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return litExpr{t.text}, nil // beyond bigint: keep digits (LSNs)
		}
		return litExpr{n}, nil
	case tString:
		p.next()
		return litExpr{t.text}, nil
	case tParam:
		p.next()
		return paramExpr{strings.ToLower(t.text)}, nil
	case tVar:
		p.next()
		return varExpr{t.text}, nil
	case tOp:
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
		if p.peekAt(1).kind == tOp && p.peekAt(1).text == "(" && !t.quoted {
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
