package sqlsim

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// lastValue runs a batch on one session and returns the first column of
// the last row of its last result set.
func lastValue(t *testing.T, conn *sql.Conn, batch string) any {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), batch)
	if err != nil {
		t.Fatalf("%s: %v", batch, err)
	}
	defer rows.Close()
	var v any
	for {
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", batch, err)
	}
	return v
}

func oneSession(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background()) // one session: @@ROWCOUNT and @@ERROR are the session's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestIfElse follows IF...ELSE
// (learn.microsoft.com/sql/t-sql/language-elements/if-else-transact-sql):
// the statement or BEGIN ... END block after the condition runs when it
// is TRUE, the ELSE part when it is FALSE or NULL, an ELSE belongs to the
// nearest IF; the forms tools send (IF OBJECT_ID(...) IS NULL, IF [NOT]
// EXISTS (SELECT ...), a scalar subquery) work; both parts are compiled
// before the batch runs (.../batches), so a syntax error or an undeclared
// variable in the part not taken runs nothing; a condition that is not
// one is 4145, an empty block 102.
func TestIfElse(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	conn := oneSession(t, db)
	exec(t, db, "CREATE DATABASE I")
	for _, c := range []struct{ batch, want string }{
		{"IF 1 = 2 SELECT 'then' ELSE SELECT 'else'", "else"},
		{"IF NULL = 1 SELECT 'then' ELSE SELECT 'else'", "else"},
		{"IF 1 = 1 IF 1 = 2 SELECT 'inner then' ELSE SELECT 'inner else'", "inner else"},
		{"IF 1 = 2 IF 1 = 1 SELECT 'a' ELSE SELECT 'b' ELSE SELECT 'outer else'", "outer else"},
		{"DECLARE @n int = 3\nIF @n > 2\nBEGIN\n  SET @n = @n * 10\n  SELECT @n\nEND\nELSE\n  SELECT 0", "30"},
		{"IF NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = N'I') SELECT 'missing' ELSE SELECT 'there'", "there"},
		{"IF EXISTS (SELECT 1 FROM sys.databases WHERE name = N'Nope') SELECT 'there' ELSE SELECT 'missing'", "missing"},
	} {
		if got := lastValue(t, conn, c.batch); got != c.want && !(c.want == "30" && got == int64(30)) {
			t.Errorf("%q = %v, want %s", c.batch, got, c.want)
		}
	}

	// Run twice: the second time the table exists and CREATE is skipped.
	create := "IF OBJECT_ID(N'I.dbo.t', N'U') IS NULL CREATE TABLE I.dbo.t (id int)"
	exec(t, db, create)
	exec(t, db, create)
	if got := lastValue(t, conn, "SELECT OBJECT_ID(N'I.dbo.t', N'U') - (SELECT object_id FROM I.sys.tables WHERE name = N't')"); got != int64(0) {
		t.Errorf("OBJECT_ID - sys.tables.object_id = %v", got)
	}
	exec(t, db, "IF (SELECT COUNT(*) FROM I.dbo.t) = 0 BEGIN INSERT INTO I.dbo.t VALUES (1); INSERT INTO I.dbo.t VALUES (2) END ELSE INSERT INTO I.dbo.t VALUES (99)")
	// BEGIN TRAN is one statement, not a block.
	if got := lastValue(t, conn, "IF (SELECT COUNT(*) FROM I.dbo.t) = 0 INSERT INTO I.dbo.t VALUES (98) ELSE BEGIN TRAN\nSELECT @@TRANCOUNT"); got != int64(1) {
		t.Errorf("@@TRANCOUNT after ELSE BEGIN TRAN = %v, want 1", got)
	}
	lastValue(t, conn, "ROLLBACK")
	if n := count(t, db, "SELECT COUNT(*) FROM I.dbo.t"); n != 2 {
		t.Errorf("%d rows, want the 2 the taken block inserted", n)
	}

	for _, c := range []struct {
		batch string
		n     int32
	}{
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 = 2\nBEGIN\n  SELEC 1\nEND", 102},
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 = 2 SELECT @undeclared", 137},
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 SELECT 1", 4145},
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 = 1 BEGIN END", 102},
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 = 1 BEGIN SELECT 1", 102},
		{"INSERT INTO I.dbo.t VALUES (7)\nIF 1 = 1", 102},
		{"IF (SELECT id FROM I.dbo.t) > 0 SELECT 1", 512},
		{"IF (SELECT id, id FROM I.dbo.t) > 0 SELECT 1", 116},
	} {
		if _, err := db.Exec(c.batch); sqlNumber(err) != c.n {
			t.Errorf("%q: %v, want %d", c.batch, err, c.n)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM I.dbo.t"); n != 2 {
		t.Errorf("%d rows: a batch that did not compile ran", n)
	}
}

// TestRowCountAndError: @@ROWCOUNT is the rows the last statement
// read or changed, 1 after SET @variable, kept by EXECUTE, 0 after USE,
// PRINT, BEGIN TRAN and COMMIT
// (learn.microsoft.com/sql/t-sql/functions/rowcount-transact-sql, whose
// example is UPDATE ... IF @@ROWCOUNT = 0); @@ERROR is the last
// statement's error number and 0 once a statement succeeds
// (.../functions/error-transact-sql); the first statement of a CATCH
// block sees the error caught, and IF resets it, so the IF's own part
// reads 0 (learn.microsoft.com/previous-versions/sql/sql-server-2008-r2/ms190193(v=sql.105)).
func TestRowCountAndError(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	conn := oneSession(t, db)
	exec(t, db, "CREATE DATABASE R; CREATE TABLE R.dbo.t (id int, v int)")
	for _, c := range []struct {
		batch string
		want  int64
	}{
		{"INSERT INTO R.dbo.t VALUES (1, 0), (2, 0), (3, 0)\nSELECT @@ROWCOUNT", 3},
		{"UPDATE R.dbo.t SET v = 1 WHERE id > 1\nSELECT @@ROWCOUNT", 2},
		{"DELETE FROM R.dbo.t WHERE id = 99\nIF @@ROWCOUNT = 0 SELECT -1 ELSE SELECT 1", -1},
		{"SELECT id FROM R.dbo.t\nSELECT @@ROWCOUNT", 3},
		{"SELECT id FROM R.dbo.t WHERE v = 1\nEXEC sp_addsrvrolemember 'sa', 'sysadmin'\nSELECT @@ROWCOUNT", 2},
		{"SELECT id FROM R.dbo.t\nDECLARE @x int\nSET @x = 5\nSELECT @@ROWCOUNT", 1},
		{"SELECT id FROM R.dbo.t\nUSE R\nSELECT @@ROWCOUNT", 0},
		{"SELECT id FROM R.dbo.t\nPRINT 'p'\nSELECT @@ROWCOUNT", 0},
		{"SELECT id FROM R.dbo.t\nBEGIN TRAN\nSELECT @@ROWCOUNT", 0},
		{"SELECT id FROM R.dbo.t\nCOMMIT\nSELECT @@ROWCOUNT", 0},
		{"IF 1 = 1 UPDATE R.dbo.t SET v = 2\nSELECT @@ROWCOUNT", 3}, // set by the statement inside the IF
		{"BEGIN TRY\n  SELECT 1 / 0\nEND TRY\nBEGIN CATCH\n  SELECT @@ERROR\nEND CATCH", 8134},
		{"BEGIN TRY\n  SELECT 1 / 0\nEND TRY\nBEGIN CATCH\n  PRINT 'caught'\n  SELECT @@ERROR\nEND CATCH", 0},
		{"BEGIN TRY\n  SELECT 1 / 0\nEND TRY\nBEGIN CATCH\n  IF @@ERROR = 8134 SELECT @@ERROR ELSE SELECT -1\nEND CATCH", 0},
	} {
		if got := lastValue(t, conn, c.batch); got != c.want {
			t.Errorf("%q: %v, want %d", c.batch, got, c.want)
		}
	}
	// The session keeps @@ERROR from one batch to the next.
	if _, err := conn.ExecContext(context.Background(), "SELECT 1 / 0"); sqlNumber(err) != 8134 {
		t.Fatalf("SELECT 1 / 0: %v", err)
	}
	if got := lastValue(t, conn, "SELECT @@ERROR"); got != int64(8134) {
		t.Errorf("@@ERROR after a failed batch = %v, want 8134", got)
	}
	if got := lastValue(t, conn, "SELECT @@ERROR"); got != int64(0) {
		t.Errorf("@@ERROR after a SELECT that succeeded = %v, want 0", got)
	}
}

// TestIfRowCountErrorThroughFreeTDS drives the same through FreeTDS tsql,
// which shows every result and message of a batch: RAISERROR of severity
// 16 does not end the batch and @@ERROR then reads 50000 (the number of a
// RAISERROR with a text: .../language-elements/raiserror-transact-sql);
// the @@ROWCOUNT page's own example prints its warning.
func TestIfRowCountErrorThroughFreeTDS(t *testing.T) {
	s := startSim(t, "")
	out := tsql(t, s, "7.4", "off", "CREATE DATABASE F\ngo\nCREATE TABLE F.dbo.t (id int)\ngo\n"+
		"INSERT INTO F.dbo.t VALUES (1), (2)\nSELECT @@ROWCOUNT AS rc\ngo\n"+
		"UPDATE F.dbo.t SET id = 3 WHERE id = 9\nIF @@ROWCOUNT = 0\n  PRINT 'Warning: No rows were updated'\ngo\n"+
		"RAISERROR('boom', 16, 1)\nSELECT @@ERROR AS err\nSELECT @@ERROR AS cleared\ngo\n"+
		"IF OBJECT_ID('F.dbo.t') IS NOT NULL\nBEGIN\n  SELECT 'exists' AS o\nEND\nELSE\n  SELECT 'missing' AS o")
	for _, want := range []string{"rc\n2\n", "Warning: No rows were updated", "boom", "err\n50000\n", "cleared\n0\n", "o\nexists\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("tsql output lacks %q:\n%s", want, out)
		}
	}
}
