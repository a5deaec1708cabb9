package sqlsim

import (
	"strings"
	"testing"
)

// TestJoinOnIntegerKeys: joins on an integer equality (the plugin's
// backupset JOIN backupmediafamily shape, which sqlsim answers through an
// index, join.go) return what SQL's join does: every matching pair,
// duplicates on both sides, NULL keys matching nothing, the rest of the ON
// clause applied, LEFT JOIN rows kept with NULLs, the key on either side
// of "=", and a text key compared as a number.
func TestJoinOnIntegerKeys(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE J; CREATE TABLE J.dbo.a (k int, ks nvarchar(5), n nvarchar(5)); CREATE TABLE J.dbo.b (k int, v nvarchar(5), w int)")
	exec(t, db, "INSERT INTO J.dbo.a VALUES (1, N'1', N'x'), (2, N'2', N'y'), (NULL, NULL, N'z'), (1, N'1', N'x2')")
	exec(t, db, "INSERT INTO J.dbo.b VALUES (1, N'one', 1), (1, N'uno', 2), (3, N'three', 3), (NULL, N'null', 4)")
	for _, c := range []struct{ on, want string }{
		{"JOIN J.dbo.b b ON b.k = a.k", "x-one x-uno x2-one x2-uno"},
		{"LEFT JOIN J.dbo.b b ON b.k = a.k AND b.w > 1", "x-uno x2-uno y- z-"},
		{"JOIN J.dbo.b b ON a.k = b.k AND b.v <> N'uno'", "x-one x2-one"},
		{"JOIN J.dbo.b b ON b.k = a.ks", "x-one x-uno x2-one x2-uno"},
		{"JOIN J.dbo.b b ON b.w = a.k + 2", "x-three x2-three y-null"},
	} {
		q := "SELECT a.n, b.v FROM J.dbo.a a " + c.on + " ORDER BY a.n, b.v"
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var got []string
		for rows.Next() {
			var n string
			var v *string
			if err := rows.Scan(&n, &v); err != nil {
				t.Fatal(err)
			}
			if v == nil {
				got = append(got, n+"-")
			} else {
				got = append(got, n+"-"+*v)
			}
		}
		rows.Close()
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s: %q, want %q", c.on, g, c.want)
		}
	}
}
