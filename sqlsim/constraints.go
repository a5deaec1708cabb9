package sqlsim

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// Constraints of CREATE TABLE that sqlsim enforces
// (learn.microsoft.com/sql/t-sql/statements/create-table-transact-sql):
// NOT NULL (a NULL answers 515) and PRIMARY KEY / UNIQUE (a duplicate
// answers 2627; PRIMARY KEY columns are NOT NULL). Both end only their
// statement, which changes nothing, and the batch goes on (errors.go).
// Columns with IDENTITY or DEFAULT are not checked, and neither is a key
// holding one: sqlsim does not generate their values. FOREIGN KEY and
// CHECK are accepted and not enforced.

// tableKey is one PRIMARY KEY or UNIQUE constraint while CREATE TABLE is
// read.
type tableKey struct {
	name, kind string // kind "PRIMARY KEY" or "UNIQUE KEY"
	cols       []string
}

// columnConstraints reads what follows a column's type up to the next
// comma or closing parenthesis: NULL, NOT NULL, IDENTITY, DEFAULT,
// [CONSTRAINT name] PRIMARY KEY | UNIQUE, and anything else skipped.
func columnConstraints(p *parser, c ColDef) (ColDef, tableKey) {
	var k tableKey
	name, notNull := "", false
	depth := 0
	for p.peek().kind != tEOF {
		switch {
		case p.isOp("("):
			depth++
		case p.isOp(")"):
			if depth == 0 {
				c.NotNull = (notNull || k.kind == "PRIMARY KEY") && !c.generated
				return c, k
			}
			depth--
		case p.isOp(",") && depth == 0:
			c.NotNull = (notNull || k.kind == "PRIMARY KEY") && !c.generated
			return c, k
		case depth > 0:
		case p.is("NOT") && word(p.peekAt(1), "NULL"):
			notNull = true
			p.next()
		case p.is("IDENTITY"), p.is("DEFAULT"):
			c.generated = true
		case p.is("CONSTRAINT"):
			p.next()
			name = p.peek().text
		case p.is("PRIMARY") && word(p.peekAt(1), "KEY"):
			k = tableKey{name: name, kind: "PRIMARY KEY", cols: []string{c.Name}}
			p.next()
		case p.is("UNIQUE"):
			k = tableKey{name: name, kind: "UNIQUE KEY", cols: []string{c.Name}}
		}
		p.next()
	}
	return c, k
}

// tableConstraint reads a table constraint: [CONSTRAINT name] PRIMARY
// KEY [CLUSTERED | NONCLUSTERED] (col [ASC | DESC], ...) or UNIQUE (...);
// ok is false for the kinds not enforced (FOREIGN KEY, CHECK), which are
// skipped.
func tableConstraint(p *parser) (k tableKey, ok bool) {
	if p.accept("CONSTRAINT") {
		k.name = p.next().text
	}
	switch {
	case p.is("PRIMARY") && word(p.peekAt(1), "KEY"):
		k.kind = "PRIMARY KEY"
		p.next()
		p.next()
	case p.accept("UNIQUE"):
		k.kind = "UNIQUE KEY"
	default:
		skipParens(p)
		return k, false
	}
	p.accept("CLUSTERED")
	p.accept("NONCLUSTERED")
	if p.acceptOp("(") {
		for !p.isOp(")") && p.peek().kind != tEOF {
			t := p.next()
			if t.kind == tIdent && (t.quoted || !(strings.EqualFold(t.text, "ASC") || strings.EqualFold(t.text, "DESC"))) {
				k.cols = append(k.cols, t.text)
			}
			p.acceptOp(",")
		}
		p.acceptOp(")")
	}
	skipParens(p) // WITH (...), ON filegroup
	return k, len(k.cols) > 0
}

// applyKeys marks the columns of each key; a key over a column whose
// value sqlsim does not generate (IDENTITY, DEFAULT) is left unchecked.
// An unnamed key gets a name of SQL Server's shape PK__table__hex (its
// real suffix is SQL Server's own: see docs/compatibility.md, Unknowns).
func applyKeys(table string, cols []ColDef, keys []tableKey) {
	for _, k := range keys {
		idx := make([]int, 0, len(k.cols))
		for _, n := range k.cols {
			for i := range cols {
				if strings.EqualFold(cols[i].Name, n) {
					idx = append(idx, i)
				}
			}
		}
		if len(idx) != len(k.cols) {
			continue
		}
		skip := false
		for _, i := range idx {
			skip = skip || cols[i].generated || cols[i].Key != ""
		}
		if skip {
			continue
		}
		name := k.name
		if name == "" {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s.%s", table, strings.Join(k.cols, ","))
			prefix := "PK"
			if k.kind == "UNIQUE KEY" {
				prefix = "UQ"
			}
			name = fmt.Sprintf("%s__%s__%016X", prefix, table, h.Sum64())
		}
		for _, i := range idx {
			cols[i].Key, cols[i].KeyKind = name, k.kind
			if k.kind == "PRIMARY KEY" {
				cols[i].NotNull = true
			}
		}
	}
}

// checkRows checks rows about to be written to t (by row id; an id of an
// existing row replaces it, as UPDATE does) against NOT NULL and the keys;
// verb is INSERT or UPDATE. Callers hold in.mu.
func checkRows(dbName string, t *Table, rows map[int64][]any, order []int64, verb string) error {
	for _, id := range order {
		for i, c := range t.Columns {
			if c.NotNull && rows[id][i] == nil {
				m := sqlErr(515, 16, fmt.Sprintf("Cannot insert the value NULL into column '%s', table '%s.dbo.%s'; column does not allow nulls. %s fails.", c.Name, dbName, t.Name, verb))
				m.State = 2
				return m
			}
		}
	}
	keys := map[string][]int{}
	var names []string
	for i, c := range t.Columns {
		if c.Key != "" {
			if _, ok := keys[c.Key]; !ok {
				names = append(names, c.Key)
			}
			keys[c.Key] = append(keys[c.Key], i)
		}
	}
	for _, name := range names {
		idx := keys[name]
		seen := map[string]bool{}
		for id, r := range t.Rows {
			if _, replaced := rows[id]; !replaced {
				seen[keyOf(r, idx)] = true
			}
		}
		for _, id := range order {
			k := keyOf(rows[id], idx)
			if seen[k] {
				return &tds.Message{Number: 2627, Class: 14, State: 1,
					Text: fmt.Sprintf("Violation of %s constraint '%s'. Cannot insert duplicate key in object 'dbo.%s'. The duplicate key value is (%s).",
						t.Columns[idx[0]].KeyKind, name, t.Name, keyText(rows[id], idx))}
			}
			seen[k] = true
		}
	}
	return nil
}

// keyOf is a row's key as compared under the default case-insensitive
// collation, trailing spaces ignored.
func keyOf(r []any, idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		v := r[i]
		if s, ok := v.(string); ok {
			v = strings.ToLower(strings.TrimRight(s, " "))
		}
		fmt.Fprintf(&b, "%T:%v\x00", v, v)
	}
	return b.String()
}

// keyText is the key as error 2627 shows it: values separated by ", ",
// NULL as <NULL>.
func keyText(r []any, idx []int) string {
	parts := make([]string, len(idx))
	for j, i := range idx {
		switch v := r[i].(type) {
		case nil:
			parts[j] = "<NULL>"
		case tds.Decimal:
			parts[j] = v.String()
		default:
			parts[j] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, ", ")
}
