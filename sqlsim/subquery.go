package sqlsim

import (
	"fmt"
	"strings"
)

// Subqueries (learn.microsoft.com/sql/relational-databases/performance/subqueries):
// EXISTS (SELECT ...) is TRUE when the query returns a row
// (learn.microsoft.com/sql/t-sql/language-elements/exists-transact-sql);
// (SELECT ...) as a value is its one column's value, NULL without a row,
// 512 with more than one, 116 with more than one column. A subquery sees
// the row of the query around it (a correlated subquery, run again for
// each outer row): a name its own tables lack is looked up in the outer
// query's, innermost first (rowCtx.lookup). Evaluated with the instance's
// lock held, as a query is.

type (
	existsExpr   struct{ st *selectStmt }
	subqueryExpr struct{ st *selectStmt }
	// inSubqueryExpr is e [NOT] IN (SELECT ...).
	inSubqueryExpr struct {
		e   expr
		st  *selectStmt
		neg bool
	}
)

// subquery reads ( SELECT ... ) at p.
func (p *parser) subquery() (*selectStmt, error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	if !p.is("SELECT") {
		return nil, p.syntaxErr()
	}
	st, err := p.parseSelect()
	if err != nil {
		return nil, err
	}
	return st, p.expectOp(")")
}

// inner runs a subquery with row as its outer query's row.
func (x *execCtx) inner(st *selectStmt, row *rowCtx) (*rowset, error) {
	saved := x.outer
	x.outer = row
	defer func() { x.outer = saved }()
	return x.runSelect(st)
}

func (x *execCtx) exists(e existsExpr, row *rowCtx) (any, error) {
	rs, err := x.inner(e.st, row)
	if err != nil {
		return nil, err
	}
	return len(rs.rows) > 0, nil
}

// innerColumn runs a subquery that must give one column, as a value or
// IN subquery must (error 116 otherwise).
func (x *execCtx) innerColumn(st *selectStmt, row *rowCtx) (*rowset, error) {
	rs, err := x.inner(st, row)
	if err == nil && len(rs.cols) != 1 {
		return nil, sqlErr(116, 16, "Only one expression can be specified in the select list when the subquery is not introduced with EXISTS.")
	}
	return rs, err
}

func (x *execCtx) scalarSubquery(e subqueryExpr, row *rowCtx) (any, error) {
	rs, err := x.innerColumn(e.st, row)
	switch {
	case err != nil:
		return nil, err
	case len(rs.rows) > 1:
		return nil, sqlErr(512, 16, "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= or when the subquery is used as an expression.")
	case len(rs.rows) == 0:
		return nil, nil
	}
	return rs.rows[0][0], nil
}

// inSubquery is e [NOT] IN (SELECT col ...) (learn.microsoft.com/sql/t-sql/language-elements/in-transact-sql):
// the subquery has one column (116 otherwise) and may read the outer row.
func (x *execCtx) inSubquery(e inSubqueryExpr, row *rowCtx) (any, error) {
	v, err := x.eval(e.e, row)
	if err != nil {
		return nil, err
	}
	rs, err := x.innerColumn(e.st, row)
	switch {
	case err != nil:
		return nil, err
	case v == nil:
		return nil, nil
	}
	vals := make([]any, len(rs.rows))
	for i, r := range rs.rows {
		vals[i] = r[0]
	}
	return inValues(v, vals, e.neg), nil
}

// inValues is IN over values, as the IN page says: TRUE when one equals
// v; else UNKNOWN (NULL) when one is NULL, as a NULL compared with IN or
// NOT IN gives UNKNOWN; else FALSE. NOT IN negates TRUE and FALSE.
func inValues(v any, vals []any, neg bool) any {
	sawNull := false
	for _, lv := range vals {
		if lv == nil {
			sawNull = true
			continue
		}
		if c, ok := compare(v, lv); ok && c == 0 {
			return !neg
		}
	}
	if sawNull {
		return nil
	}
	return neg
}

// hasSubquery reports whether e holds a subquery, which needs the lock
// where an expression is evaluated outside a query (DECLARE, SET).
func hasSubquery(e expr) bool {
	switch e.(type) {
	case existsExpr, subqueryExpr, inSubqueryExpr:
		return true
	}
	for _, c := range children(e) {
		if hasSubquery(c) {
			return true
		}
	}
	return false
}

// objectID is OBJECT_ID('[db.][schema.]name' [, 'type'])
// (learn.microsoft.com/sql/t-sql/functions/object-id-transact-sql): the
// id sys.tables shows for a user table of the current or named
// database, NULL for anything else (types other than U, no such table or
// database). Schemas are not simulated. Callers hold in.mu.
func (x *execCtx) objectID(args []any) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, sqlErr(174, 15, "The object_id function requires 1 to 2 argument(s).")
	}
	if args[0] == nil {
		return nil, nil
	}
	if len(args) == 2 && (args[1] == nil || !strings.EqualFold(strings.TrimSpace(fmt.Sprint(args[1])), "U")) {
		return nil, nil
	}
	toks, err := lex(fmt.Sprint(args[0]))
	if err != nil {
		return nil, nil
	}
	p := &parser{toks: toks}
	parts, err := p.multipart()
	if err != nil || p.peek().kind != tEOF || len(parts) > 3 {
		return nil, nil
	}
	dbName := x.s.db
	if len(parts) == 3 {
		dbName = parts[0]
	}
	d, ok := x.s.in.st.Databases[strings.ToLower(dbName)]
	if !ok {
		return nil, nil
	}
	for i, n := range tableNames(d) { // numbered as sys.tables numbers them
		if strings.EqualFold(n, parts[len(parts)-1]) {
			return int64(1000 + i), nil
		}
	}
	return nil, nil
}
