package sqlsim

import (
	"strings"
	"testing"
)

// TestCorrelatedSubqueries follows Subqueries
// (learn.microsoft.com/sql/relational-databases/performance/subqueries,
// "Correlated subqueries": the inner query depends on the outer query
// for its values and runs once for each row the outer query considers;
// an unqualified column name resolves to the subquery's own FROM table
// first) and EXISTS (learn.microsoft.com/sql/t-sql/language-elements/exists-transact-sql):
// in WHERE, in the select list as a value, and in UPDATE and DELETE.
func TestCorrelatedSubqueries(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec("CREATE DATABASE Q; USE Q; CREATE TABLE a (x int, v int); CREATE TABLE b (x int, w int); " +
		"INSERT INTO a VALUES (1, 10), (2, 20), (3, 30); INSERT INTO b VALUES (1, 100), (1, 101), (3, 300)"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		q    string
		want []int64
	}{
		{"SELECT a.x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.x = a.x) ORDER BY a.x", []int64{1, 3}},
		{"SELECT x FROM a WHERE NOT EXISTS (SELECT * FROM b WHERE b.x = a.x)", []int64{2}},
		{"SELECT (SELECT COUNT(*) FROM b WHERE b.x = a.x) FROM a ORDER BY a.x", []int64{2, 0, 1}},
		{"SELECT ISNULL((SELECT MAX(w) FROM b WHERE b.x = a.x), -1) FROM a ORDER BY a.x", []int64{101, -1, 300}},
		{"SELECT x FROM a WHERE (SELECT b.w FROM b WHERE b.x = a.x AND b.w > 200) = 300", []int64{3}},
		// x without a qualifier is b's own column inside the subquery.
		{"SELECT COUNT(*) FROM a WHERE EXISTS (SELECT 1 FROM b WHERE x = 3)", []int64{3}},
		// An outer column the subquery's table lacks: v is a's.
		{"SELECT a.x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.w = v * 10) ORDER BY a.x", []int64{1, 3}},
		// Two levels: the innermost query sees both outer rows.
		{"SELECT a.x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.x = a.x AND EXISTS (SELECT 1 WHERE b.w = a.v * 10 + 1))", []int64{1}},
		{"SELECT a.x FROM a JOIN b ON b.x = a.x WHERE b.w = (SELECT MIN(w) FROM b b2 WHERE b2.x = a.x) ORDER BY a.x", []int64{1, 3}},
	}
	for _, tc := range cases {
		if got := c.ints(tc.q); !eqInts(got, tc.want...) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	// IN (SELECT ...) (learn.microsoft.com/sql/t-sql/language-elements/in-transact-sql):
	// a NULL among the values makes a non-matching IN and every NOT IN
	// UNKNOWN, so no row.
	c.exec("CREATE TABLE n (x int); INSERT INTO n VALUES (1), (NULL)")
	for _, tc := range []struct {
		q    string
		want []int64
	}{
		{"SELECT x FROM a WHERE x IN (SELECT x FROM b) ORDER BY x", []int64{1, 3}},
		{"SELECT x FROM a WHERE x NOT IN (SELECT x FROM b)", []int64{2}},
		{"SELECT x FROM a WHERE v IN (SELECT w / 10 FROM b WHERE b.x = a.x) ORDER BY x", []int64{1, 3}},
		{"SELECT x FROM a WHERE x NOT IN (SELECT x FROM n)", nil},
		{"SELECT x FROM a WHERE x IN (SELECT x FROM n)", []int64{1}},
		{"SELECT x FROM a WHERE x NOT IN (1, NULL)", nil},
	} {
		if got := c.ints(tc.q); !eqInts(got, tc.want...) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	if err := c.exec("UPDATE a SET v = 0 WHERE EXISTS (SELECT 1 FROM b WHERE b.x = a.x); DELETE FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.x = b.x AND a.v = 0 AND b.w > 100)"); err != nil {
		t.Fatal(err)
	}
	if got := c.ints("SELECT v FROM a ORDER BY x"); !eqInts(got, 0, 20, 0) {
		t.Errorf("UPDATE ... WHERE EXISTS: v %v, want 0 20 0", got)
	}
	if got := c.ints("SELECT w FROM b ORDER BY w"); !eqInts(got, 101, 300) {
		t.Errorf("DELETE ... WHERE NOT EXISTS: w %v, want 101 300", got)
	}
	c.exec("INSERT INTO b VALUES (3, 301)")
	_, err := c.c.QueryContext(c.ctx, "SELECT (SELECT w FROM b WHERE b.x = a.x) FROM a")
	if err == nil {
		rows, _ := c.c.QueryContext(c.ctx, "SELECT (SELECT w FROM b WHERE b.x = a.x) FROM a")
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if sqlNumber(err) != 512 {
		t.Errorf("a correlated value subquery with two rows for one outer row: %v, want 512", err)
	}
	_, err = c.c.ExecContext(c.ctx, "SELECT x FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.x = nope.x)")
	if sqlNumber(err) != 4104 || !strings.Contains(err.Error(), "nope.x") {
		t.Errorf("unknown outer alias: %v, want 4104", err)
	}
}
