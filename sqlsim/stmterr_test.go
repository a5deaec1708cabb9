package sqlsim

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// conn1 is one connection of s with helpers: the session state (XACT_ABORT,
// transactions) lasts between its batches.
type conn1 struct {
	t   *testing.T
	c   *sql.Conn
	ctx context.Context
}

func oneConn(t *testing.T, s *sim) *conn1 {
	t.Helper()
	ctx := context.Background()
	c, err := s.db(t, "sa", "Sa-Passw0rd!").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn1{t: t, c: c, ctx: ctx}
}

func (c *conn1) exec(q string) error {
	_, err := c.c.ExecContext(c.ctx, q)
	return err
}

func (c *conn1) ints(q string) []int64 {
	c.t.Helper()
	rows, err := c.c.QueryContext(c.ctx, q)
	if err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return out
}

func eqInts(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const errSchema = "CREATE DATABASE E; CREATE TABLE E.dbo.t (id int PRIMARY KEY, name nvarchar(20) NOT NULL, note nvarchar(20) NULL); " +
	"CREATE TABLE E.dbo.log (n int)"

// TestStatementErrorsLetTheBatchGoOn follows Batches
// (learn.microsoft.com/previous-versions/sql/sql-server-2008-r2/ms175502(v=sql.105)):
// a constraint violation ends only its statement, which changes nothing,
// and the rest of the batch runs; SET XACT_ABORT's example
// (learn.microsoft.com/sql/t-sql/statements/set-xact-abort-transact-sql)
// commits the transaction around such an error; @@ERROR
// (learn.microsoft.com/sql/t-sql/functions/error-transact-sql) reads it
// in the next statement. The constraints are CREATE TABLE's
// (learn.microsoft.com/sql/t-sql/statements/create-table-transact-sql).
func TestStatementErrorsLetTheBatchGoOn(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema); err != nil {
		t.Fatal(err)
	}
	err := c.exec("BEGIN TRAN; INSERT INTO E.dbo.t VALUES (1, N'a', NULL); INSERT INTO E.dbo.t VALUES (1, N'b', NULL); " +
		"INSERT INTO E.dbo.log VALUES (@@ERROR); INSERT INTO E.dbo.t VALUES (2, N'c', NULL), (2, N'd', NULL); " +
		"INSERT INTO E.dbo.log VALUES (@@ERROR); INSERT INTO E.dbo.t VALUES (3, NULL, NULL); INSERT INTO E.dbo.log VALUES (@@ERROR); " +
		"UPDATE E.dbo.t SET name = NULL WHERE id = 1; INSERT INTO E.dbo.log VALUES (@@ERROR); INSERT INTO E.dbo.t VALUES (4, N'e', NULL); COMMIT")
	m := mssqlErr(err)
	if m == nil || m.Number != 2627 || m.Class != 14 || !strings.Contains(m.Message, "The duplicate key value is (1).") {
		t.Fatalf("first error %v, want 2627 severity 14 naming key (1)", err)
	}
	if got := c.ints("SELECT id FROM E.dbo.t ORDER BY id"); !eqInts(got, 1, 4) {
		t.Errorf("rows %v, want 1 and 4 (failed statements change nothing, the rest ran)", got)
	}
	if got := c.ints("SELECT n FROM E.dbo.log"); !eqInts(got, 2627, 2627, 515, 515) {
		t.Errorf("@@ERROR after each failed statement %v, want 2627 2627 515 515", got)
	}
	if got := c.ints("SELECT @@TRANCOUNT"); !eqInts(got, 0) {
		t.Errorf("@@TRANCOUNT %v: COMMIT at the batch's end should have run", got)
	}
	// A composite table-level key; an IDENTITY key is not checked.
	if err := c.exec("CREATE TABLE E.dbo.k (a int, b int, CONSTRAINT PK_k PRIMARY KEY CLUSTERED (a ASC, b)); " +
		"CREATE TABLE E.dbo.g (id int IDENTITY(1,1) PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	err = c.exec("INSERT INTO E.dbo.k VALUES (1, 1), (1, 2); INSERT INTO E.dbo.g (v) VALUES (1), (2); INSERT INTO E.dbo.k VALUES (1, 2)")
	if m := mssqlErr(err); m == nil || m.Number != 2627 || !strings.Contains(m.Message, "'PK_k'") || !strings.Contains(m.Message, "(1, 2)") {
		t.Errorf("composite key: %v, want 2627 on PK_k (1, 2)", err)
	}
	if got := c.ints("SELECT COUNT(*) FROM E.dbo.g"); !eqInts(got, 2) {
		t.Errorf("IDENTITY key rows %v, want 2", got)
	}
}

// TestArithmeticErrorsEndTheStatement follows SET ARITHABORT
// (learn.microsoft.com/sql/t-sql/statements/set-arithabort-transact-sql):
// with ANSI_WARNINGS ON, divide by zero and overflow end the query, not
// the batch (XACT_ABORT OFF).
func TestArithmeticErrorsEndTheStatement(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema); err != nil {
		t.Fatal(err)
	}
	err := c.exec("INSERT INTO E.dbo.log VALUES (1 / 0); INSERT INTO E.dbo.log VALUES (@@ERROR); " +
		"SELECT CAST(12345.6 AS decimal(4,1)); INSERT INTO E.dbo.log VALUES (@@ERROR)")
	if sqlNumber(err) != 8134 {
		t.Fatalf("first error %v, want 8134", err)
	}
	if got := c.ints("SELECT n FROM E.dbo.log"); !eqInts(got, 8134, 8115) {
		t.Errorf("log %v, want 8134 then 8115: the batch goes on after each", got)
	}
}

// TestOtherRuntimeErrorsEndTheBatch follows Batches (above): most runtime
// errors end the statement and the rest of the batch, e.g. a conversion
// error (245); an open transaction stays open (XACT_ABORT OFF).
func TestOtherRuntimeErrorsEndTheBatch(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema); err != nil {
		t.Fatal(err)
	}
	err := c.exec("BEGIN TRAN; INSERT INTO E.dbo.log VALUES (1); SELECT CAST('x' AS int); INSERT INTO E.dbo.log VALUES (2)")
	if sqlNumber(err) != 245 {
		t.Fatalf("error %v, want 245", err)
	}
	if got := c.ints("SELECT n FROM E.dbo.log"); !eqInts(got, 1) {
		t.Errorf("log %v, want only 1: the batch ended at the conversion error", got)
	}
	if got := c.ints("SELECT @@TRANCOUNT"); !eqInts(got, 1) {
		t.Errorf("@@TRANCOUNT %v, want 1", got)
	}
	c.exec("ROLLBACK")
}

// TestXactAbortEndsTheBatchAtAnyError follows SET XACT_ABORT (above): with
// it ON, the statement error of its example ends the batch and rolls the
// transaction back.
func TestXactAbortEndsTheBatchAtAnyError(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema); err != nil {
		t.Fatal(err)
	}
	err := c.exec("SET XACT_ABORT ON; BEGIN TRAN; INSERT INTO E.dbo.t VALUES (4, N'a', NULL); " +
		"INSERT INTO E.dbo.t VALUES (4, N'b', NULL); INSERT INTO E.dbo.t VALUES (6, N'c', NULL); COMMIT")
	if sqlNumber(err) != 2627 {
		t.Fatalf("error %v, want 2627", err)
	}
	if got := c.ints("SELECT COUNT(*) FROM E.dbo.t"); !eqInts(got, 0) {
		t.Errorf("%v rows, want 0: the transaction rolled back", got)
	}
	if got := c.ints("SELECT @@TRANCOUNT"); !eqInts(got, 0) {
		t.Errorf("@@TRANCOUNT %v, want 0", got)
	}
	err = c.exec("SELECT 1 / 0; INSERT INTO E.dbo.log VALUES (1)")
	if got := c.ints("SELECT COUNT(*) FROM E.dbo.log"); sqlNumber(err) != 8134 || !eqInts(got, 0) {
		t.Errorf("8134 under XACT_ABORT ON: %v, log %v (want the batch ended)", err, got)
	}
}

// TestStatementErrorsInTryAndBlocks follows TRY...CATCH
// (learn.microsoft.com/sql/t-sql/language-elements/try-catch-transact-sql):
// in a TRY block even a statement-ending error passes control to CATCH;
// in BEGIN ... END (learn.microsoft.com/sql/t-sql/language-elements/begin-end-transact-sql)
// the block's next statement runs.
func TestStatementErrorsInTryAndBlocks(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema + "; INSERT INTO E.dbo.t VALUES (1, N'a', NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := c.exec("BEGIN TRY INSERT INTO E.dbo.t VALUES (1, N'b', NULL); INSERT INTO E.dbo.log VALUES (1) END TRY " +
		"BEGIN CATCH INSERT INTO E.dbo.log VALUES (ERROR_NUMBER()) END CATCH"); err != nil {
		t.Fatalf("a caught error sends nothing: %v", err)
	}
	err := c.exec("IF 1 = 1 BEGIN INSERT INTO E.dbo.t VALUES (1, N'c', NULL); INSERT INTO E.dbo.log VALUES (@@ERROR) END")
	if sqlNumber(err) != 2627 {
		t.Fatalf("error %v, want 2627", err)
	}
	if got := c.ints("SELECT n FROM E.dbo.log"); !eqInts(got, 2627, 2627) {
		t.Errorf("log %v, want 2627 from CATCH, then 2627 from the block", got)
	}
}

// TestFatalErrorClosesTheConnection follows RAISERROR
// (learn.microsoft.com/sql/t-sql/language-elements/raiserror-transact-sql):
// severity 20 to 25 is fatal, the connection is terminated after the
// client receives the message, and nothing after it runs; the open
// transaction goes with the connection.
func TestFatalErrorClosesTheConnection(t *testing.T) {
	s := startSim(t, "")
	c := oneConn(t, s)
	if err := c.exec(errSchema); err != nil {
		t.Fatal(err)
	}
	// Severity 19 ends the batch only (Database Engine error severities,
	// learn.microsoft.com/sql/relational-databases/errors-events/database-engine-error-severities).
	err := c.exec("RAISERROR('nineteen', 19, 1) WITH LOG; INSERT INTO E.dbo.log VALUES (19)")
	if m := mssqlErr(err); m == nil || m.Class != 19 {
		t.Fatalf("error %v, want severity 19", err)
	}
	if got := c.ints("SELECT COUNT(*) FROM E.dbo.log"); !eqInts(got, 0) {
		t.Fatalf("log %v after severity 19, want empty: the batch ended, the connection stays", got)
	}
	err = c.exec("BEGIN TRAN; INSERT INTO E.dbo.log VALUES (1); RAISERROR('fatal', 20, 1) WITH LOG; INSERT INTO E.dbo.log VALUES (2)")
	if m := mssqlErr(err); m == nil || m.Number != 50000 || m.Class != 20 || m.Message != "fatal" {
		t.Fatalf("error %v, want 50000 severity 20 'fatal'", err)
	}
	if err := c.exec("SELECT 1"); err == nil {
		t.Error("the connection still answers after a severity 20 error")
	}
	other := oneConn(t, s)
	if got := other.ints("SELECT COUNT(*) FROM E.dbo.log"); !eqInts(got, 0) {
		t.Errorf("log has %v rows, want 0: the transaction ended with the connection", got)
	}
}

// TestStatementErrorThroughFreeTDS shows through FreeTDS tsql, which
// prints every message and result of a batch, that after a duplicate key
// (Batches, above) the batch goes on: 2627, "The statement has been
// terminated.", then the later SELECTs with @@ERROR; and that a
// conversion error ends the batch (the SELECT after it never answers).
func TestStatementErrorThroughFreeTDS(t *testing.T) {
	s := startSim(t, "")
	out := tsql(t, s, "7.4", "off", "CREATE DATABASE F\ngo\nCREATE TABLE F.dbo.t (id int PRIMARY KEY)\ngo\n"+
		"INSERT INTO F.dbo.t VALUES (1)\nINSERT INTO F.dbo.t VALUES (1)\nSELECT @@ERROR AS err\nSELECT COUNT(*) AS n FROM F.dbo.t\ngo\n"+
		"SELECT CAST('x' AS int) AS bad\nSELECT 'after' AS never\ngo\n")
	for _, want := range []string{"Msg 2627", "Violation of PRIMARY KEY constraint", "The statement has been terminated.", "err\n2627\n", "n\n1\n", "Msg 245"} {
		if !strings.Contains(out, want) {
			t.Errorf("tsql output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never") {
		t.Errorf("the statement after a conversion error ran:\n%s", out)
	}
}
