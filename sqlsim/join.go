package sqlsim

import "strings"

// joinIndex narrows a join's candidate rows by an integer equality in its
// ON clause (mf.media_set_id = bs.media_set_id), so a join of msdb's
// history tables costs the rows that match, not every pair: the plugin
// reads backupset JOIN backupmediafamily on every job, and at thousands of
// databases the nested loop made each read cost sets x families. The
// index only picks candidates; each is still tested against the whole ON
// clause, so the result is the nested loop's.
type joinIndex struct {
	probe expr            // the side naming earlier sources
	rows  map[int64][]int // the source's rows by the indexed column
}

// newJoinIndex returns nil when the ON clause has no top-level conjunct
// "alias.column = expression" on an integer column, or when earlier
// sources use the same alias (the column would not name this source).
func newJoinIndex(on expr, alias string, earlier []source, rs *rowset) *joinIndex {
	for _, s := range earlier {
		if strings.EqualFold(s.alias, alias) {
			return nil
		}
	}
	for _, c := range conjuncts(on) {
		b, ok := c.(binExpr)
		if !ok || b.op != "=" {
			continue
		}
		for _, pair := range [][2]expr{{b.l, b.r}, {b.r, b.l}} {
			col, ok := pair[0].(colExpr)
			if !ok || !strings.EqualFold(col.qual, alias) {
				continue
			}
			if idx := indexColumn(rs, col.name); idx != nil {
				return &joinIndex{probe: pair[1], rows: idx}
			}
		}
	}
	return nil
}

// conjuncts splits a AND b AND c into its parts.
func conjuncts(e expr) []expr {
	if b, ok := e.(binExpr); ok && b.op == "AND" {
		return append(conjuncts(b.l), conjuncts(b.r)...)
	}
	return []expr{e}
}

// indexColumn maps each value of an integer column to its rows; nil when
// the column is missing or holds anything but integers and NULLs (other
// types compare by rules a map key would not follow).
func indexColumn(rs *rowset, name string) map[int64][]int {
	i := rs.col(name)
	if i < 0 {
		return nil
	}
	idx := make(map[int64][]int)
	for n, r := range rs.rows {
		switch v := r[i].(type) {
		case int64:
			idx[v] = append(idx[v], n)
		case nil:
		default:
			return nil
		}
	}
	return idx
}

// candidates returns the rows that can satisfy the equality for the
// earlier sources' rows in cur, and false when the probe is not an
// integer there (the caller then tests every row).
func (j *joinIndex) candidates(x *execCtx, cur []*boundRow) ([]int, bool) {
	v, err := x.eval(j.probe, &rowCtx{sources: cur, outer: x.outer})
	if err != nil {
		return nil, false
	}
	switch v := v.(type) {
	case int64:
		return j.rows[v], true
	case nil:
		return nil, true // NULL = anything is never true
	}
	return nil, false
}

// joinRows is the rows of rs the join tests for cur: the index's
// candidates, in table order, or every row.
func joinRows(x *execCtx, j *joinIndex, rs *rowset, cur []*boundRow) [][]any {
	if j == nil {
		return rs.rows
	}
	ns, ok := j.candidates(x, cur)
	if !ok {
		return rs.rows
	}
	out := make([][]any, len(ns))
	for k, n := range ns {
		out[k] = rs.rows[n]
	}
	return out
}
