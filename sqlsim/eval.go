package sqlsim

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// rowCtx binds the current row of each source of a query; in a
// subquery, outer is the row of the query around it (subquery.go).
type rowCtx struct {
	sources []*boundRow
	outer   *rowCtx
}

type boundRow struct {
	alias string
	rs    *rowset
	vals  []any
}

func (r *rowCtx) lookup(qual, name string) (any, *tds.Column, error) {
	// The innermost query's sources first, then each outer query's: a
	// subquery's unqualified name is its own table's column when it has
	// one (learn.microsoft.com/sql/relational-databases/performance/subqueries).
	for ; r != nil; r = r.outer {
		for _, b := range r.sources {
			if qual != "" && !strings.EqualFold(qual, b.alias) && !strings.HasSuffix(strings.ToLower(qual), "."+strings.ToLower(b.alias)) {
				continue
			}
			if i := b.rs.col(name); i >= 0 {
				var v any
				if b.vals != nil {
					v = b.vals[i]
				}
				return v, &b.rs.cols[i], nil
			}
		}
	}
	if qual != "" {
		return nil, nil, sqlErr(4104, 16, fmt.Sprintf("The multi-part identifier \"%s.%s\" could not be bound.", qual, name))
	}
	return nil, nil, sqlErr(207, 16, fmt.Sprintf("Invalid column name '%s'.", name))
}

// eval computes an expression for one row (row may be nil).
func (x *execCtx) eval(e expr, row *rowCtx) (any, error) {
	switch e := e.(type) {
	case litExpr:
		return e.v, nil
	case strLit:
		if e.national {
			return e.s, nil
		}
		return tds.CodePageText(e.s), nil // translated to the database's code page
	case paramExpr:
		v, ok := x.params[e.name]
		if !ok {
			return nil, sqlErr(137, 15, fmt.Sprintf("Must declare the scalar variable \"%s\".", e.name))
		}
		return v, nil
	case varExpr:
		return x.sysVar(e.name)
	case colExpr:
		v, _, err := row.lookup(e.qual, e.name)
		return v, err
	case notExpr:
		v, err := x.eval(e.e, row)
		if err != nil || v == nil {
			return nil, err
		}
		return !truthy(v), nil
	case isNullExpr:
		v, err := x.eval(e.e, row)
		return (v == nil) != e.neg, err
	case inExpr:
		v, err := x.eval(e.e, row)
		if err != nil || v == nil {
			return nil, err
		}
		vals := make([]any, 0, len(e.list))
		for _, le := range e.list {
			lv, err := x.eval(le, row)
			if err != nil {
				return nil, err
			}
			vals = append(vals, lv)
		}
		return inValues(v, vals, e.neg), nil
	case inSubqueryExpr:
		return x.inSubquery(e, row)
	case likeExpr:
		v, err := x.eval(e.e, row)
		if err != nil || v == nil {
			return nil, err
		}
		pat, err := x.eval(e.pat, row)
		if err != nil || pat == nil {
			return nil, err
		}
		return like(fmt.Sprint(v), fmt.Sprint(pat)) != e.neg, nil
	case binExpr:
		return x.evalBin(e, row)
	case castExpr:
		v, err := x.eval(e.e, row)
		if err != nil {
			return nil, err
		}
		return castTo(v, e.typ)
	case funcExpr:
		return x.call(e, row)
	case existsExpr:
		return x.exists(e, row)
	case subqueryExpr:
		return x.scalarSubquery(e, row)
	}
	return nil, fmt.Errorf("sqlsim: cannot evaluate %T", e)
}

func (x *execCtx) evalBin(e binExpr, row *rowCtx) (any, error) {
	l, err := x.eval(e.l, row)
	if err != nil {
		return nil, err
	}
	if e.op == "AND" && l != nil && !truthy(l) {
		return false, nil
	}
	if e.op == "OR" && l != nil && truthy(l) {
		return true, nil
	}
	r, err := x.eval(e.r, row)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "AND", "OR":
		if l == nil || r == nil {
			return nil, nil
		}
		return truthy(r), nil
	case "=", "<", ">", "<=", ">=", "<>", "!=":
		if l == nil || r == nil {
			return nil, nil
		}
		c, ok := compare(l, r)
		if !ok {
			return nil, sqlErr(245, 16, fmt.Sprintf("Conversion failed when converting the value '%v' to a comparable type.", r))
		}
		switch e.op {
		case "=":
			return c == 0, nil
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		case ">=":
			return c >= 0, nil
		}
		return c != 0, nil
	}
	return arith(e.op, l, r)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return v != nil
}

// compare orders two values of compatible types.
func compare(a, b any) (int, bool) {
	if v, ok := a.(variant); ok {
		a = v.v
	}
	if v, ok := b.(variant); ok {
		b = v.v
	}
	if c, ok := compareExact(a, b); ok {
		return c, true
	}
	if fa, ok := num(a); ok {
		if fb, ok := num(b); ok {
			return fa.Cmp(fb), true
		}
		if s, ok := b.(string); ok {
			if fb, ok := new(big.Float).SetString(strings.TrimSpace(s)); ok {
				return fa.Cmp(fb), true
			}
		}
		return 0, false
	}
	switch a := a.(type) {
	case string:
		if fb, ok := num(b); ok {
			fa, ok := new(big.Float).SetString(strings.TrimSpace(a))
			if !ok {
				return 0, false
			}
			return fa.Cmp(fb), true
		}
		if t, ok := b.(time.Time); ok {
			ta, err := parseTime(a)
			if err != nil {
				return 0, false
			}
			return ta.Compare(t), true
		}
		if g, ok := b.([16]byte); ok {
			return strings.Compare(strings.ToUpper(a), guidString(g)), true
		}
		return strings.Compare(strings.ToLower(a), strings.ToLower(fmt.Sprint(b))), true
	case time.Time:
		switch b := b.(type) {
		case time.Time:
			return a.Compare(b), true
		case string:
			tb, err := parseTime(b)
			if err != nil {
				return 0, false
			}
			return a.Compare(tb), true
		}
	case [16]byte:
		return strings.Compare(guidString(a), strings.ToUpper(fmt.Sprint(toGUIDString(b)))), true
	}
	return 0, false
}

func toGUIDString(v any) string {
	if g, ok := v.([16]byte); ok {
		return guidString(g)
	}
	return fmt.Sprint(v)
}

func num(v any) (*big.Float, bool) {
	switch v := v.(type) {
	case int64:
		return new(big.Float).SetInt64(v), true
	case float64:
		return big.NewFloat(v), true
	case bool:
		if v {
			return big.NewFloat(1), true
		}
		return big.NewFloat(0), true
	case tds.Decimal:
		f, _ := new(big.Float).SetString(v.String())
		return f, f != nil
	}
	return nil, false
}

func arith(op string, l, r any) (any, error) {
	if l == nil || r == nil {
		return nil, nil
	}
	ls, lstr := l.(string)
	rs, rstr := r.(string)
	switch {
	case lstr && rstr && op == "+":
		return ls + rs, nil
	case lstr != rstr: // text meets a number: the text converts to it (data type precedence)
		var err error
		if lstr {
			l, err = toNumberLike(ls, r)
		} else {
			r, err = toNumberLike(rs, l)
		}
		if err != nil {
			return nil, err
		}
	}
	li, lok := l.(int64)
	ri, rok := r.(int64)
	if lok && rok {
		switch op {
		case "+":
			return li + ri, nil
		case "-":
			return li - ri, nil
		case "*":
			return li * ri, nil
		case "/", "%":
			if ri == 0 {
				return nil, sqlErr(8134, 16, "Divide by zero error encountered.")
			}
			if op == "/" {
				return li / ri, nil
			}
			return li % ri, nil
		}
	}
	if d, ok, err := decimalArith(op, l, r); ok {
		return d, err
	}
	lf, ok1 := num(l)
	rf, ok2 := num(r)
	if !ok1 || !ok2 {
		return nil, sqlErr(8117, 16, fmt.Sprintf("Operand data type is invalid for %s operator.", op))
	}
	a, _ := lf.Float64()
	b, _ := rf.Float64()
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, sqlErr(8134, 16, "Divide by zero error encountered.")
		}
		return a / b, nil
	}
	return nil, sqlErr(8117, 16, "Operand data type is invalid.")
}

// like matches SQL LIKE with % and _ (case-insensitive, as the default
// collation).
func like(s, pat string) bool {
	s, pat = strings.ToLower(s), strings.ToLower(pat)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for j < len(pat) {
			switch pat[j] {
			case '%':
				for k := i; k <= len(s); k++ {
					if match(k, j+1) {
						return true
					}
				}
				return false
			case '_':
				if i >= len(s) {
					return false
				}
			default:
				if i >= len(s) || s[i] != pat[j] {
					return false
				}
			}
			i++
			j++
		}
		return i == len(s)
	}
	return match(0, 0)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.9999999 -07:00", "2006-01-02T15:04:05.9999999-07:00", "2006-01-02T15:04:05.9999999", "2006-01-02 15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, sqlErr(241, 16, "Conversion failed when converting date and/or time from character string.")
}

// castTo converts for CAST/CONVERT and for inserts into typed columns.
func castTo(v any, typ string) (any, error) {
	if vv, ok := v.(variant); ok { // sql_variant converts as its base type
		v = vv.v
	}
	if v == nil {
		return nil, nil
	}
	base := typ
	if i := strings.IndexByte(typ, '('); i >= 0 {
		base = typ[:i]
	}
	switch base {
	case "int", "bigint", "smallint", "tinyint":
		switch v := v.(type) {
		case int64:
			return v, nil
		case float64:
			return int64(v), nil
		case bool:
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		case tds.Decimal: // the fraction is truncated
			return new(big.Int).Quo(v.Unscaled(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(v.Scale)), nil)).Int64(), nil
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, sqlErr(245, 16, fmt.Sprintf("Conversion failed when converting the nvarchar value '%s' to data type int.", v))
			}
			return n, nil
		}
	case "bit":
		return truthy(v), nil
	case "float", "real":
		f, ok := num(v)
		if !ok {
			if s, isStr := v.(string); isStr {
				return strconv.ParseFloat(s, 64)
			}
			return nil, sqlErr(8114, 16, "Error converting data type to float.")
		}
		r, _ := f.Float64()
		if base == "real" { // 4 bytes: 7 digits
			r = float64(float32(r))
		}
		return r, nil
	case "decimal", "numeric", "money", "smallmoney":
		d, err := toDecimal(v)
		if err != nil {
			return nil, err
		}
		prec, scale := numericPrecision(typ)
		return fitNumeric(d, prec, scale)
	case "nvarchar", "varchar", "nchar", "char", "sysname", "ntext", "text":
		switch v := v.(type) {
		case [16]byte:
			return guidString(v), nil
		case time.Time:
			return v.Format("2006-01-02 15:04:05.000"), nil
		case bool:
			if v {
				return "1", nil
			}
			return "0", nil
		}
		str := fmt.Sprint(v)
		if d, ok := v.(tds.Decimal); ok {
			str = d.String()
		}
		if base == "varchar" || base == "char" || base == "text" {
			str = tds.CodePageText(str)
		}
		if base == "char" || base == "nchar" { // fixed length: padded with spaces
			if n, err := strconv.Atoi(strings.Trim(typ[len(base):], "()")); err == nil && len([]rune(str)) < n {
				str += strings.Repeat(" ", n-len([]rune(str)))
			}
		}
		return str, nil
	case "time":
		return timeOfDay(v)
	case "datetime", "datetime2", "date", "smalldatetime", "datetimeoffset":
		var t time.Time
		switch v := v.(type) {
		case time.Time:
			t = v
		case string:
			var err error
			if t, err = parseTime(v); err != nil {
				return nil, err
			}
		default:
			return v, nil
		}
		switch base {
		case "datetimeoffset":
			return offsetValue(t), nil // without an offset: +00:00
		case "smalldatetime":
			return smallDateTime(wallClock(t)), nil
		case "date":
			w := wallClock(t)
			return time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC), nil
		}
		return wallClock(t), nil // an offset is dropped, the wall clock kept
	case "uniqueidentifier":
		switch v := v.(type) {
		case [16]byte:
			return v, nil
		case string:
			return parseGUID(v)
		}
	case "varbinary", "binary", "image":
		var b []byte
		switch v := v.(type) {
		case []byte:
			b = v
		case string:
			b = []byte(v)
		default:
			return v, nil
		}
		if n, err := strconv.Atoi(strings.Trim(typ[len(base):], "()")); err == nil && base == "binary" && len(b) < n {
			b = append(append([]byte(nil), b...), make([]byte, n-len(b))...) // binary(n) pads with 0x00
		}
		return b, nil
	}
	return v, nil
}

func parseGUID(s string) ([16]byte, error) {
	var g [16]byte
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	if len(h) != 32 {
		return g, sqlErr(8169, 16, "Conversion failed when converting from a character string to uniqueidentifier.")
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return g, sqlErr(8169, 16, "Conversion failed when converting from a character string to uniqueidentifier.")
		}
		g[i] = byte(b)
	}
	return g, nil
}

// toDecimal converts a number or numeric text to an exact decimal.
func toDecimal(v any) (tds.Decimal, error) {
	switch v := v.(type) {
	case tds.Decimal:
		return v, nil
	case int64:
		return tds.DecimalFromInt64(v, 0), nil
	case bool:
		if v {
			return tds.DecimalFromInt64(1, 0), nil
		}
		return tds.DecimalFromInt64(0, 0), nil
	case float64:
		return tds.ParseDecimal(strconv.FormatFloat(v, 'f', -1, 64))
	case string:
		d, err := tds.ParseDecimal(v)
		if err != nil {
			return d, sqlErr(8114, 16, "Error converting data type nvarchar to numeric.")
		}
		return d, nil
	}
	return tds.Decimal{}, sqlErr(8114, 16, fmt.Sprintf("Error converting data type %T to numeric.", v))
}

// numericPrecision reads decimal(p,s) from a type name: decimal alone is
// decimal(18,0), money is (19,4), smallmoney (10,4)
// (learn.microsoft.com/sql/t-sql/data-types/decimal-and-numeric-transact-sql,
// .../money-and-smallmoney-transact-sql).
func numericPrecision(typ string) (prec, scale int) {
	base, args, _ := strings.Cut(typ, "(")
	switch base {
	case "money":
		return 19, 4
	case "smallmoney":
		return 10, 4
	}
	prec = 18
	if args != "" {
		ps, ss, _ := strings.Cut(strings.TrimSuffix(args, ")"), ",")
		if n, err := strconv.Atoi(strings.TrimSpace(ps)); err == nil {
			prec = n
		}
		if n, err := strconv.Atoi(strings.TrimSpace(ss)); err == nil {
			scale = n
		}
	}
	return prec, scale
}

// fitNumeric rounds d to scale and refuses a value with more than prec
// digits, as a conversion to numeric(p,s) does (error 8115).
func fitNumeric(d tds.Decimal, prec, scale int) (tds.Decimal, error) {
	r, err := d.Rescale(uint8(scale))
	if err != nil || r.Digits() > prec {
		return tds.Decimal{}, sqlErr(8115, 16, "Arithmetic overflow error converting numeric to data type numeric.")
	}
	return r, nil
}

// decimalArith is + - * on exact operands (int or decimal): the result
// keeps every digit, as SQL Server's numeric result types do
// (learn.microsoft.com/sql/t-sql/data-types/precision-scale-and-length-transact-sql).
func decimalArith(op string, l, r any) (any, bool, error) {
	_, lf := l.(float64)
	_, rf := r.(float64)
	_, ld := l.(tds.Decimal)
	_, rd := r.(tds.Decimal)
	if lf || rf || !(ld || rd) || (op != "+" && op != "-" && op != "*") {
		return nil, false, nil
	}
	a, err1 := toDecimal(l)
	b, err2 := toDecimal(r)
	if err1 != nil || err2 != nil {
		return nil, false, nil
	}
	var out *big.Int
	scale := max(a.Scale, b.Scale)
	switch op {
	case "*":
		out, scale = new(big.Int).Mul(a.Unscaled(), b.Unscaled()), a.Scale+b.Scale
	default:
		ax, _ := a.Rescale(scale)
		bx, _ := b.Rescale(scale)
		if op == "+" {
			out = new(big.Int).Add(ax.Unscaled(), bx.Unscaled())
		} else {
			out = new(big.Int).Sub(ax.Unscaled(), bx.Unscaled())
		}
	}
	d, err := tds.DecimalFromBig(out, scale)
	if err != nil || scale > 38 || d.Digits() > 38 {
		return nil, true, sqlErr(8115, 16, "Arithmetic overflow error converting expression to data type numeric.")
	}
	return d, true, nil
}

// timeOfDay converts to time: a clock on 1900-01-01
// (learn.microsoft.com/sql/t-sql/data-types/time-transact-sql).
func timeOfDay(v any) (any, error) {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case string:
		var err error
		if t, err = time.Parse("15:04:05.9999999", strings.TrimSpace(v)); err != nil {
			if t, err = time.Parse("15:04", strings.TrimSpace(v)); err != nil {
				if t, err = parseTime(v); err != nil {
					return nil, sqlErr(241, 16, "Conversion failed when converting date and/or time from character string.")
				}
			}
		}
	default:
		return nil, sqlErr(529, 16, fmt.Sprintf("Explicit conversion from data type %T to time is not allowed.", v))
	}
	return time.Date(1900, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
}

// compareExact orders integers and decimals without rounding (25-digit
// LSNs differ in their last digits, beyond a float's precision).
func compareExact(a, b any) (int, bool) {
	exact := func(v any) (*big.Int, uint8, bool) {
		switch v := v.(type) {
		case int64:
			return big.NewInt(v), 0, true
		case tds.Decimal:
			return v.Unscaled(), v.Scale, true
		}
		return nil, 0, false
	}
	x, sx, ok1 := exact(a)
	y, sy, ok2 := exact(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	ten := big.NewInt(10)
	if sx < sy {
		x = new(big.Int).Mul(x, new(big.Int).Exp(ten, big.NewInt(int64(sy-sx)), nil))
	} else if sy < sx {
		y = new(big.Int).Mul(y, new(big.Int).Exp(ten, big.NewInt(int64(sx-sy)), nil))
	}
	return x.Cmp(y), true
}

// smallDateTime rounds to the minute as smalldatetime does: 29.998
// seconds or less down, 29.999 or more up
// (learn.microsoft.com/sql/t-sql/data-types/smalldatetime-transact-sql).
func smallDateTime(t time.Time) time.Time {
	m := t.Truncate(time.Minute)
	if t.Sub(m) >= 29999*time.Millisecond {
		m = m.Add(time.Minute)
	}
	return m
}

// toNumberLike converts text to the numeric type of other, as an
// operator between text and a number does: the type of higher precedence
// wins (learn.microsoft.com/sql/t-sql/data-types/data-type-precedence-transact-sql).
func toNumberLike(s string, other any) (any, error) {
	switch other.(type) {
	case int64:
		return castTo(s, "int")
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, sqlErr(8114, 16, "Error converting data type varchar to float.")
		}
		return f, nil
	case tds.Decimal:
		return toDecimal(strings.TrimSpace(s))
	}
	return s, nil
}
