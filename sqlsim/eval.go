package sqlsim

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// rowCtx binds the current row of each source of a query.
type rowCtx struct {
	sources []*boundRow
}

type boundRow struct {
	alias string
	rs    *rowset
	vals  []any
}

func (r *rowCtx) lookup(qual, name string) (any, *tds.Column, error) {
	if r == nil {
		return nil, nil, sqlErr(207, 16, fmt.Sprintf("Invalid column name '%s'.", name))
	}
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
		for _, le := range e.list {
			lv, err := x.eval(le, row)
			if err != nil {
				return nil, err
			}
			if c, ok := compare(v, lv); ok && c == 0 {
				return !e.neg, nil
			}
		}
		return e.neg, nil
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
	if ls, ok := l.(string); ok && op == "+" {
		return ls + fmt.Sprint(r), nil
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
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02 15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
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
		case tds.Decimal:
			return v.Unscaled().Int64(), nil
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
		return r, nil
	case "decimal", "numeric", "money":
		switch v := v.(type) {
		case int64:
			return tds.DecimalFromInt64(v, 0), nil
		case string:
			d, err := tds.ParseDecimal(v)
			if err != nil {
				return nil, sqlErr(8114, 16, "Error converting data type nvarchar to numeric.")
			}
			return d, nil
		case float64:
			return tds.ParseDecimal(strconv.FormatFloat(v, 'f', -1, 64))
		}
		return v, nil
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
		return fmt.Sprint(v), nil
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
		if base == "datetimeoffset" {
			return offsetValue(t), nil // without an offset: +00:00
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
		switch v := v.(type) {
		case []byte:
			return v, nil
		case string:
			return []byte(v), nil
		}
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
