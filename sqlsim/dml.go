package sqlsim

import (
	"fmt"
	"sort"
	"strings"
)

func (x *execCtx) insert(p *parser) error {
	p.next()
	p.accept("INTO")
	parts, err := p.multipart()
	if err != nil {
		return err
	}
	var names []string
	if p.acceptOp("(") {
		for {
			n, err := p.name()
			if err != nil {
				return err
			}
			names = append(names, n)
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
	}
	if err := p.expect("VALUES"); err != nil {
		return err
	}
	var tuples [][]any
	for {
		if err := p.expectOp("("); err != nil {
			return err
		}
		var vals []any
		for {
			v, err := x.value(p)
			if err != nil {
				return err
			}
			vals = append(vals, v)
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return err
		}
		tuples = append(tuples, vals)
		if !p.acceptOp(",") {
			break
		}
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, t, err := x.writeTarget(parts)
	if err != nil {
		return err
	}
	idx := make([]int, 0, len(t.Columns))
	if names == nil {
		for i := range t.Columns {
			idx = append(idx, i)
		}
	} else {
		for _, n := range names {
			i := colIndex(t, n)
			if i < 0 {
				return sqlErr(207, 16, fmt.Sprintf("Invalid column name '%s'.", n))
			}
			idx = append(idx, i)
		}
	}
	now := in.cfg.Now().UTC()
	// Every row is made and checked before any is written: a failed
	// statement changes nothing.
	rows, order := map[int64][]any{}, make([]int64, 0, len(tuples))
	for n, vals := range tuples {
		if len(vals) != len(idx) {
			return sqlErr(110, 15, "There are fewer columns in the INSERT statement than values specified in the VALUES clause.")
		}
		row := make([]any, len(t.Columns))
		for i, v := range vals {
			cv, err := castTo(v, t.Columns[idx[i]].Type)
			if err != nil {
				return err
			}
			row[idx[i]] = cv
		}
		id := -1 - int64(n) // not an existing row's id
		rows[id], order = row, append(order, id)
	}
	if err := checkRows(d.Name, t, rows, order, "INSERT"); err != nil {
		return err
	}
	for _, id := range order {
		t.NextRow++
		d.appendLog(now, LogRecord{Op: "insert", Table: t.Name, RowID: t.NextRow, Values: rows[id]})
		t.Rows[t.NextRow] = rows[id]
	}
	x.afterWrite(d)
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(int64(len(tuples)), true)
}

func colIndex(t *Table, name string) int {
	for i, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// writeTarget finds the table a statement changes; callers hold in.mu.
func (x *execCtx) writeTarget(parts []string) (*Database, *Table, error) {
	dbName := x.s.db
	if len(parts) == 3 {
		dbName = parts[0]
	}
	d, ok := x.s.in.st.Databases[strings.ToLower(dbName)]
	if !ok || d.State != "ONLINE" {
		return nil, nil, sqlErr(942, 14, fmt.Sprintf("Database '%s' cannot be opened because it is offline or restoring.", dbName))
	}
	if err := readOnlyErr(d); err != nil {
		return nil, nil, err
	}
	t, ok := d.table(parts[len(parts)-1])
	if !ok {
		return nil, nil, sqlErr(208, 16, fmt.Sprintf("Invalid object name '%s'.", strings.Join(parts, ".")))
	}
	x.s.touch(d)
	return d, t, nil
}

// matching returns the ids of rows that satisfy where, in id order.
func (x *execCtx) matching(t *Table, where expr) ([]int64, error) {
	rs := tableRowset(t)
	var ids []int64
	for id := range t.Rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []int64
	for _, id := range ids {
		if where != nil {
			v, err := x.eval(where, &rowCtx{sources: []*boundRow{{alias: t.Name, rs: rs, vals: t.Rows[id]}}})
			if err != nil {
				return nil, err
			}
			if v == nil || !truthy(v) {
				continue
			}
		}
		out = append(out, id)
	}
	return out, nil
}

func (x *execCtx) update(p *parser) error {
	p.next()
	parts, err := p.multipart()
	if err != nil {
		return err
	}
	if err := p.expect("SET"); err != nil {
		return err
	}
	type set struct {
		col string
		e   expr
	}
	var sets []set
	for {
		c, err := p.name()
		if err != nil {
			return err
		}
		if err := p.expectOp("="); err != nil {
			return err
		}
		e, err := p.expr()
		if err != nil {
			return err
		}
		sets = append(sets, set{c, e})
		if !p.acceptOp(",") {
			break
		}
	}
	var where expr
	if p.accept("WHERE") {
		if where, err = p.expr(); err != nil {
			return err
		}
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, t, err := x.writeTarget(parts)
	if err != nil {
		return err
	}
	ids, err := x.matching(t, where)
	if err != nil {
		return err
	}
	rs := tableRowset(t)
	now := in.cfg.Now().UTC()
	rows := map[int64][]any{} // every new row first: a failed statement changes nothing
	for _, id := range ids {
		row := append([]any(nil), t.Rows[id]...)
		rc := &rowCtx{sources: []*boundRow{{alias: t.Name, rs: rs, vals: t.Rows[id]}}}
		for _, s := range sets {
			i := colIndex(t, s.col)
			if i < 0 {
				return sqlErr(207, 16, fmt.Sprintf("Invalid column name '%s'.", s.col))
			}
			v, err := x.eval(s.e, rc)
			if err != nil {
				return err
			}
			if row[i], err = castTo(v, t.Columns[i].Type); err != nil {
				return err
			}
		}
		rows[id] = row
	}
	if err := checkRows(d.Name, t, rows, ids, "UPDATE"); err != nil {
		return err
	}
	for _, id := range ids {
		d.appendLog(now, LogRecord{Op: "update", Table: t.Name, RowID: id, Values: rows[id]})
		t.Rows[id] = rows[id]
	}
	x.afterWrite(d)
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(int64(len(ids)), true)
}

func (x *execCtx) deleteStmt(p *parser) error {
	p.next()
	p.accept("FROM")
	parts, err := p.multipart()
	if err != nil {
		return err
	}
	var where expr
	if p.accept("WHERE") {
		if where, err = p.expr(); err != nil {
			return err
		}
	}
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, t, err := x.writeTarget(parts)
	if err != nil {
		return err
	}
	ids, err := x.matching(t, where)
	if err != nil {
		return err
	}
	now := in.cfg.Now().UTC()
	for _, id := range ids {
		d.appendLog(now, LogRecord{Op: "delete", Table: t.Name, RowID: id})
		delete(t.Rows, id)
	}
	x.afterWrite(d)
	if err := in.save(); err != nil {
		return err
	}
	return x.w.Done(int64(len(ids)), true)
}
