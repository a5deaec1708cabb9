package sqlsim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// rowset is a table the select engine reads: a system view or a user table.
type rowset struct {
	cols []tds.Column
	rows [][]any
}

func (r *rowset) col(name string) int {
	for i, c := range r.cols {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

type selectItem struct {
	e     expr
	alias string
	star  bool
}

type source struct {
	parts []string
	alias string
	on    expr // join condition (nil for the first source)
	left  bool
}

type orderItem struct {
	e    expr
	desc bool
}

type selectStmt struct {
	top     int64
	items   []selectItem
	from    []source
	where   expr
	orderBy []orderItem
}

func (p *parser) parseSelect() (*selectStmt, error) {
	p.next() // SELECT
	st := &selectStmt{top: -1}
	if p.accept("TOP") {
		paren := p.acceptOp("(")
		t := p.next()
		fmt.Sscan(t.text, &st.top)
		if paren {
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
		}
	}
	for {
		if p.isOp("*") {
			p.next()
			st.items = append(st.items, selectItem{star: true})
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			it := selectItem{e: e}
			if p.accept("AS") {
				t := p.next()
				it.alias = t.text
			} else if t := p.peek(); t.kind == tIdent && (t.quoted || !isKeyword(t.text)) {
				it.alias = p.next().text
			}
			st.items = append(st.items, it)
		}
		if !p.acceptOp(",") {
			break
		}
	}
	if p.accept("FROM") {
		for {
			var src source
			if len(st.from) > 0 {
				switch {
				case p.accept("LEFT"):
					p.accept("OUTER")
					src.left = true
					if err := p.expect("JOIN"); err != nil {
						return nil, err
					}
				case p.accept("INNER"):
					if err := p.expect("JOIN"); err != nil {
						return nil, err
					}
				case p.accept("JOIN"):
				default:
					goto whereClause
				}
			}
			parts, err := p.multipart()
			if err != nil {
				return nil, err
			}
			src.parts = parts
			src.alias = parts[len(parts)-1]
			if p.accept("AS") {
				src.alias, _ = p.name()
			} else if t := p.peek(); t.kind == tIdent && (t.quoted || !isKeyword(t.text)) {
				src.alias = p.next().text
			}
			if p.accept("WITH") { // table hints such as WITH (NOLOCK)
				p.expectOp("(")
				for !p.isOp(")") && p.peek().kind != tEOF {
					p.next()
				}
				p.next()
			}
			if len(st.from) > 0 {
				if err := p.expect("ON"); err != nil {
					return nil, err
				}
				if src.on, err = p.expr(); err != nil {
					return nil, err
				}
			}
			st.from = append(st.from, src)
			if p.acceptOp(",") {
				continue
			}
		}
	}
whereClause:
	if p.accept("WHERE") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		st.where = e
	}
	if p.accept("ORDER") {
		if err := p.expect("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			o := orderItem{e: e}
			if p.accept("DESC") {
				o.desc = true
			} else {
				p.accept("ASC")
			}
			st.orderBy = append(st.orderBy, o)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	return st, nil
}

var keywords = map[string]bool{"FROM": true, "WHERE": true, "ORDER": true, "JOIN": true, "INNER": true, "LEFT": true, "ON": true,
	"AND": true, "OR": true, "AS": true, "GROUP": true, "UNION": true, "WITH": true, "NOT": true, "IS": true, "IN": true, "LIKE": true}

func isKeyword(s string) bool { return keywords[strings.ToUpper(s)] || isStmtStart(s) }

func (x *execCtx) selectStmt(p *parser) error {
	st, err := p.parseSelect()
	if err != nil {
		return err
	}
	x.s.in.mu.Lock()
	rs, err := x.runSelect(st)
	x.s.in.mu.Unlock()
	if err != nil {
		return err
	}
	if err := x.w.Columns(rs.cols); err != nil {
		return err
	}
	for _, r := range rs.rows {
		if err := x.w.Row(r...); err != nil {
			return err
		}
	}
	return x.w.Done(int64(len(rs.rows)), true)
}

// runSelect evaluates a SELECT; callers hold in.mu.
func (x *execCtx) runSelect(st *selectStmt) (*rowset, error) {
	outer := x.outer // the outer query's row in a correlated subquery, else nil
	var srcs []*rowset
	for _, s := range st.from {
		rs, err := x.source(s.parts)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, rs)
	}
	// Nested-loop join of the sources, filtered by ON and WHERE; an
	// integer equality in ON narrows each source's rows first (join.go).
	idx := make([]*joinIndex, len(st.from))
	for i, s := range st.from {
		if i > 0 && s.on != nil {
			idx[i] = newJoinIndex(s.on, s.alias, st.from[:i], srcs[i])
		}
	}
	var matched []*rowCtx
	var walk func(i int, cur []*boundRow) error
	walk = func(i int, cur []*boundRow) error {
		if i == len(st.from) {
			rc := &rowCtx{sources: slices.Clone(cur), outer: outer}
			if st.where != nil {
				v, err := x.eval(st.where, rc)
				if err != nil {
					return err
				}
				if v == nil || !truthy(v) {
					return nil
				}
			}
			matched = append(matched, rc)
			return nil
		}
		hit := false
		for _, r := range joinRows(x, idx[i], srcs[i], cur) {
			b := &boundRow{alias: st.from[i].alias, rs: srcs[i], vals: r}
			if st.from[i].on != nil {
				v, err := x.eval(st.from[i].on, &rowCtx{sources: append(slices.Clone(cur), b), outer: outer})
				if err != nil {
					return err
				}
				if v == nil || !truthy(v) {
					continue
				}
			}
			hit = true
			if err := walk(i+1, append(cur, b)); err != nil {
				return err
			}
		}
		if !hit && st.from[i].left {
			return walk(i+1, append(cur, &boundRow{alias: st.from[i].alias, rs: srcs[i], vals: make([]any, len(srcs[i].cols))}))
		}
		return nil
	}
	if len(st.from) == 0 {
		var rc *rowCtx
		if outer != nil {
			rc = &rowCtx{outer: outer}
		}
		matched = []*rowCtx{rc}
		if st.where != nil { // SELECT ... WHERE without FROM: one row or none
			v, err := x.eval(st.where, rc)
			if err != nil {
				return nil, err
			}
			if v == nil || !truthy(v) {
				matched = nil
			}
		}
	} else if err := walk(0, nil); err != nil {
		return nil, err
	}
	if len(st.orderBy) > 0 {
		var sortErr error
		slices.SortStableFunc(matched, func(a, b *rowCtx) int {
			for _, o := range st.orderBy {
				va, err1 := x.eval(o.e, a)
				vb, err2 := x.eval(o.e, b)
				if err1 != nil || err2 != nil {
					sortErr = cmp.Or(err1, err2)
					return 0
				}
				c := orderCmp(va, vb)
				if o.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		if sortErr != nil {
			return nil, sortErr
		}
	}
	if hasAggregate(st.items) {
		return x.aggregate(st, matched)
	}
	if st.top >= 0 && int64(len(matched)) > st.top {
		matched = matched[:st.top]
	}
	return x.project(st, srcs, matched)
}

func orderCmp(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, _ := compare(a, b)
	return c
}

func (x *execCtx) project(st *selectStmt, srcs []*rowset, rows []*rowCtx) (*rowset, error) {
	out := &rowset{}
	type colSrc struct {
		e   expr
		src int
		idx int
	}
	var plan []colSrc
	for _, it := range st.items {
		if it.star {
			for si, s := range srcs {
				for ci, c := range s.cols {
					out.cols = append(out.cols, c)
					plan = append(plan, colSrc{src: si, idx: ci})
				}
			}
			continue
		}
		col := tds.Column{Name: it.alias, Nullable: true}
		if ce, ok := it.e.(castExpr); ok { // CAST names its result's type
			typ := ce.typ
			if !strings.Contains(typ, "(") && strings.Contains(" varchar nvarchar char nchar varbinary binary ", " "+typ+" ") {
				typ += "(30)" // CAST's default length (learn.microsoft.com/sql/t-sql/functions/cast-and-convert-transact-sql)
			}
			col = colForType(ColDef{Name: it.alias, Type: typ})
			col.Nullable = true
		}
		if _, ok := it.e.(binExpr); ok || isConstant(it.e) { // constants and concatenations of text
			scope := &rowCtx{sources: boundEmpty(st, srcs), outer: x.outer}
			if len(rows) > 0 && rows[0] != nil {
				scope = rows[0]
			}
			if c, ok := staticType(it.e, scope); ok {
				col = c
				col.Name, col.Nullable = it.alias, true
			}
		}
		if ce, ok := it.e.(colExpr); ok {
			if len(rows) > 0 && rows[0] != nil {
				if _, c, err := rows[0].lookup(ce.qual, ce.name); err == nil {
					col = *c
				}
			} else if len(srcs) > 0 {
				_, c, err := (&rowCtx{sources: boundEmpty(st, srcs), outer: x.outer}).lookup(ce.qual, ce.name)
				if err != nil {
					return nil, err
				}
				col = *c
			}
			if it.alias != "" {
				col.Name = it.alias
			}
		}
		out.cols = append(out.cols, col)
		plan = append(plan, colSrc{e: it.e, src: -1})
	}
	for _, rc := range rows {
		vals := make([]any, len(plan))
		for i, pl := range plan {
			if pl.src >= 0 {
				vals[i] = rc.sources[pl.src].vals[pl.idx]
				continue
			}
			v, err := x.eval(pl.e, rc)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		out.rows = append(out.rows, vals)
	}
	inferTypes(out)
	return out, nil
}

func boundEmpty(st *selectStmt, srcs []*rowset) []*boundRow {
	var out []*boundRow
	for i, s := range srcs {
		out = append(out, &boundRow{alias: st.from[i].alias, rs: s})
	}
	return out
}

// inferTypes gives expression columns a type from their values.
func inferTypes(rs *rowset) {
	defer func() { // sql_variant values travel as their base value
		for _, r := range rs.rows {
			for i, v := range r {
				if vv, ok := v.(variant); ok {
					r[i] = vv.v
				}
			}
		}
	}()
	for i := range rs.cols {
		if rs.cols[i].Type != 0 {
			continue
		}
		rs.cols[i] = typeOf(rs.cols[i].Name, rs.rows, i)
	}
}

func typeOf(name string, rows [][]any, i int) tds.Column {
	c := tds.Column{Name: name, Nullable: true, Type: tds.TypeNVarChar, Length: 4000}
	for _, r := range rows {
		switch r[i].(type) {
		case nil:
			continue
		case int64:
			c.Type = tds.TypeInt
			for _, r2 := range rows {
				if v, ok := r2[i].(int64); ok && (v > 1<<31-1 || v < -1<<31) {
					c.Type = tds.TypeBigInt
				}
			}
		case bool:
			c.Type = tds.TypeBit
		case float64:
			c.Type = tds.TypeFloat
		case tds.Decimal: // numeric(38, the largest scale) holds every value
			c.Type, c.Precision, c.Scale = tds.TypeNumeric, 25, 0
			for _, r2 := range rows {
				if d, ok := r2[i].(tds.Decimal); ok && (d.Scale > 0 || d.Digits() > 25) {
					c.Precision, c.Scale = 38, max(c.Scale, d.Scale)
				}
			}
		case time.Time:
			c.Type, c.Scale = tds.TypeDateTime2, 7
			if isOffsetValue(r[i].(time.Time)) {
				c.Type = tds.TypeDateTimeOffset
			}
		case [16]byte:
			c.Type = tds.TypeUniqueIdentifier
		case []byte:
			c.Type, c.Length = tds.TypeVarBinary, -1
		case variant:
			c.Type = tds.TypeVariant
		}
		break
	}
	return c
}

// variant marks SERVERPROPERTY's sql_variant results.
type variant struct{ v any }

var aggregates = map[string]bool{"COUNT": true, "MAX": true, "MIN": true, "SUM": true, "COUNT_BIG": true}

func hasAggregate(items []selectItem) bool {
	for _, it := range items {
		if f, ok := it.e.(funcExpr); ok && aggregates[f.name] {
			return true
		}
	}
	return false
}

func (x *execCtx) aggregate(st *selectStmt, rows []*rowCtx) (*rowset, error) {
	out := &rowset{}
	vals := make([]any, len(st.items))
	for i, it := range st.items {
		out.cols = append(out.cols, tds.Column{Name: it.alias, Nullable: true})
		f, ok := it.e.(funcExpr)
		if !ok || !aggregates[f.name] {
			if len(rows) > 0 {
				v, err := x.eval(it.e, rows[0])
				if err != nil {
					return nil, err
				}
				vals[i] = v
			}
			continue
		}
		var acc any
		var count int64
		for _, rc := range rows {
			if f.star {
				count++
				continue
			}
			v, err := x.eval(f.args[0], rc)
			if err != nil {
				return nil, err
			}
			if v == nil {
				continue
			}
			count++
			switch f.name {
			case "MAX":
				if acc == nil || orderCmp(v, acc) > 0 {
					acc = v
				}
			case "MIN":
				if acc == nil || orderCmp(v, acc) < 0 {
					acc = v
				}
			case "SUM":
				if acc == nil {
					acc = v
				} else if s, err := arith("+", acc, v); err == nil {
					acc = s
				}
			}
		}
		switch f.name {
		case "COUNT":
			vals[i] = count
			out.cols[i] = tds.Column{Name: it.alias, Type: tds.TypeInt}
		case "COUNT_BIG":
			vals[i] = count
			out.cols[i] = tds.Column{Name: it.alias, Type: tds.TypeBigInt}
		default:
			vals[i] = acc
		}
	}
	out.rows = [][]any{vals}
	inferTypes(out)
	return out, nil
}
