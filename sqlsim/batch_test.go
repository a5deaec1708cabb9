package sqlsim

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
)

// TestBatchWithSyntaxErrorRunsNothing: SQL Server compiles a batch before
// running it, so a syntax error in its third line runs none of its
// statements and is reported at that line
// (learn.microsoft.com/sql/t-sql/language-elements/batches).
func TestBatchWithSyntaxErrorRunsNothing(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE B; CREATE TABLE B.dbo.t (id int)")
	_, err := db.Exec("INSERT INTO B.dbo.t VALUES (1)\nINSERT INTO B.dbo.t VALUES (2)\nSELEC 1")
	var e mssql.Error
	if !errors.As(err, &e) || e.Number != 102 || e.LineNo != 3 {
		t.Fatalf("err = %v (%+v), want 102 at line 3", err, e)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM B.dbo.t"); n != 0 {
		t.Fatalf("%d rows inserted by a batch that did not compile", n)
	}
	// A runtime error stops the batch where it happens, after what ran.
	_, err = db.Exec("INSERT INTO B.dbo.t VALUES (1)\nINSERT INTO B.dbo.nope VALUES (2)")
	if !errors.As(err, &e) || e.Number != 208 || e.LineNo != 2 {
		t.Fatalf("err = %v (%+v), want 208 at line 2", err, e)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM B.dbo.t"); n != 1 {
		t.Fatalf("%d rows, want the 1 inserted before the runtime error", n)
	}
}

// TestTransactionsRollBack: T-SQL BEGIN TRAN nests in @@TRANCOUNT and
// ROLLBACK undoes every change since; database/sql's BeginTx (TDS
// transaction manager requests, [MS-TDS] 2.2.6.9) rolls back and commits
// the same way; a connection closed inside a transaction rolls it back
// (learn.microsoft.com/sql/t-sql/language-elements/rollback-transaction-transact-sql).
func TestTransactionsRollBack(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE T; CREATE TABLE T.dbo.t (id int, v nvarchar(10))")
	exec(t, db, "INSERT INTO T.dbo.t VALUES (1, 'kept')")
	ctx := context.Background()
	one, err := db.Conn(ctx) // one session: a pooled reuse resets the connection (RESETCONNECTION), which rolls back
	if err != nil {
		t.Fatal(err)
	}
	q := func(stmt string) (n int, err error) {
		err = one.QueryRowContext(ctx, stmt).Scan(&n)
		return
	}
	if n, err := q("BEGIN TRAN; BEGIN TRANSACTION; SELECT @@TRANCOUNT"); n != 2 || err != nil {
		t.Fatalf("@@TRANCOUNT = %d (%v) after two BEGIN TRAN", n, err)
	}
	if _, err := one.ExecContext(ctx, "INSERT INTO T.dbo.t VALUES (2, 'gone'); UPDATE T.dbo.t SET v = 'changed' WHERE id = 1; CREATE TABLE T.dbo.u (id int)"); err != nil {
		t.Fatal(err)
	}
	if n, err := q("SELECT COUNT(*) FROM T.dbo.t"); n != 2 || err != nil {
		t.Fatalf("inside the transaction: %d rows (%v)", n, err)
	}
	if n, err := q("ROLLBACK; SELECT @@TRANCOUNT"); n != 0 || err != nil {
		t.Fatalf("@@TRANCOUNT = %d (%v) after ROLLBACK", n, err)
	}
	if _, err := one.ExecContext(ctx, "COMMIT"); sqlNumber(err) != 3902 {
		t.Fatalf("COMMIT without BEGIN: %v", err)
	}
	one.Close()
	if n := count(t, db, "SELECT COUNT(*) FROM T.dbo.t WHERE v = 'kept'"); n != 1 || count(t, db, "SELECT COUNT(*) FROM T.dbo.t") != 1 {
		t.Fatal("ROLLBACK did not restore the table")
	}
	if _, err := db.Exec("SELECT * FROM T.dbo.u"); sqlNumber(err) != 208 {
		t.Fatalf("the table created in the rolled back transaction: %v", err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO T.dbo.t VALUES (3, 'tm')"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("BACKUP DATABASE T TO URL = 'https://x.blob.core.windows.net/c/t.bak'"); err == nil || !strings.Contains(err.Error(), "(3021)") {
		t.Fatalf("BACKUP inside a transaction: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM T.dbo.t"); n != 1 {
		t.Fatalf("%d rows after a transaction manager rollback", n)
	}
	tx, _ = db.BeginTx(ctx, nil)
	tx.Exec("INSERT INTO T.dbo.t VALUES (4, 'tm')")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	conn, _ := db.Conn(ctx)
	conn.ExecContext(ctx, "BEGIN TRAN; INSERT INTO T.dbo.t VALUES (5, 'open')")
	conn.Close()
	s.Close()
	db2 := startSim(t, dir).db(t, "sa", "Sa-Passw0rd!")
	if n := count(t, db2, "SELECT COUNT(*) FROM T.dbo.t"); n != 2 {
		t.Fatalf("%d rows after a restart, want the first and the committed one", n)
	}
}

// TestStatementsClientsUse: DECLARE/SET, THROW, DATALENGTH,
// SESSIONPROPERTY and a USE inside sp_executesql, as SQL Server answers
// them. Sources: learn.microsoft.com/sql/t-sql/language-elements/declare-local-variable-transact-sql,
// .../throw-transact-sql, .../functions/datalength-transact-sql,
// .../functions/sessionproperty-transact-sql,
// .../system-stored-procedures/sp-executesql-transact-sql (database
// context lasts until the call returns).
func TestStatementsClientsUse(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	db.SetMaxOpenConns(1)
	var v string
	var n, dl, ansi int
	if err := db.QueryRow("DECLARE @a decimal(10,3) = 1.5, @b int; SET @b = 7; SELECT CAST(@a AS nvarchar(20)), @b, DATALENGTH(N'abc'), CAST(SESSIONPROPERTY('ANSI_NULLS') AS int)").Scan(&v, &n, &dl, &ansi); err != nil {
		t.Fatal(err)
	}
	if v != "1.500" || n != 7 || dl != 6 || ansi != 1 {
		t.Fatalf("DECLARE/SET/DATALENGTH/SESSIONPROPERTY = %q %d %d %d", v, n, dl, ansi)
	}
	_, err := db.Exec("SELECT 1;\nTHROW 51000, 'custom failure', 2")
	var e mssql.Error
	if !errors.As(err, &e) || e.Number != 51000 || e.Class != 16 || e.State != 2 || e.Message != "custom failure" || e.LineNo != 2 {
		t.Fatalf("THROW: %v (%+v)", err, e)
	}
	if _, err := db.Exec("THROW 100, 'low', 1"); sqlNumber(err) != 35100 {
		t.Fatalf("THROW below 50000: %v", err)
	}
	exec(t, db, "CREATE DATABASE Other")
	var inside, after string
	if err := db.QueryRow("USE Other; SELECT DB_NAME() WHERE 1 = @p1", 1).Scan(&inside); err != nil || inside != "Other" {
		t.Fatalf("inside sp_executesql: %q %v", inside, err)
	}
	if err := db.QueryRow("SELECT DB_NAME()").Scan(&after); err != nil || after != "master" {
		t.Fatalf("after sp_executesql the session is in %q (%v), want master", after, err)
	}
}

// TestFailedSaveIsAnError: a change whose state cannot be written answers
// an error, is logged and is undone; the next change that can be saved is.
func TestFailedSaveIsAnError(t *testing.T) {
	dir := t.TempDir()
	var logged strings.Builder
	s := startSimWith(t, dir, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE F; CREATE TABLE F.dbo.t (id int)")
	block := filepath.Join(dir, "sqlsim-state.gob.tmp")
	if err := os.Mkdir(block, 0o700); err != nil { // the temporary file cannot be written
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO F.dbo.t VALUES (1)"); err == nil || !strings.Contains(err.Error(), "not durable") {
		t.Fatalf("insert with an unwritable state: %v", err)
	}
	if !strings.Contains(logged.String(), "state not saved") {
		t.Fatalf("log: %s", logged.String())
	}
	if n := count(t, db, "SELECT COUNT(*) FROM F.dbo.t"); n != 0 {
		t.Fatalf("%d rows: the change that was not saved is still there", n)
	}
	os.Remove(block)
	exec(t, db, "INSERT INTO F.dbo.t VALUES (2)")
	s.Close()
	db2 := startSim(t, dir).db(t, "sa", "Sa-Passw0rd!")
	if n := count(t, db2, "SELECT id FROM F.dbo.t"); n != 2 {
		t.Fatalf("after a restart the table holds %d, want the saved row 2 only", n)
	}
}

// TestLSNsCompareExactly: numeric(25,0) LSNs that differ in their last
// digit compare as different (a float would round them together).
func TestLSNsCompareExactly(t *testing.T) {
	db := startSim(t, "").db(t, "sa", "Sa-Passw0rd!")
	if n := count(t, db, "SELECT COUNT(*) WHERE 37000000000000100001 < 37000000000000100002 AND CAST('37000000000000100001' AS numeric(25,0)) = 37000000000000100001"); n != 1 {
		t.Fatal("25-digit values compared inexactly")
	}
}

// TestSavepoints: SAVE TRAN marks a point; ROLLBACK TRAN name goes back
// to the latest of that name with @@TRANCOUNT unchanged, the savepoint
// staying and later ones released; names are case sensitive; only the
// outermost transaction's name rolls back all; 628 without a transaction,
// 6401 for an unknown name
// (learn.microsoft.com/sql/t-sql/language-elements/save-transaction-transact-sql,
// .../rollback-transaction-transact-sql).
func TestSavepoints(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE S; CREATE TABLE S.dbo.t (id int); CREATE DATABASE S2; CREATE TABLE S2.dbo.u (id int)")
	ctx := context.Background()
	one, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	run := func(stmt string) error { _, err := one.ExecContext(ctx, stmt); return err }
	num := func(stmt string) int {
		t.Helper()
		var n int
		if err := one.QueryRowContext(ctx, stmt).Scan(&n); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		return n
	}
	wantErr := func(stmt string, number int32) {
		t.Helper()
		var e mssql.Error
		if err := run(stmt); !errors.As(err, &e) || e.Number != number {
			t.Errorf("%s: %v, want error %d", stmt, err, number)
		}
	}
	wantErr("SAVE TRAN nothing", 628)
	if err := run("BEGIN TRAN Outer1; INSERT INTO S.dbo.t VALUES (1); SAVE TRAN sp; INSERT INTO S.dbo.t VALUES (2); " +
		"INSERT INTO S2.dbo.u VALUES (1); SAVE TRANSACTION later; DELETE FROM S.dbo.t; ROLLBACK TRAN sp"); err != nil {
		t.Fatal(err)
	}
	if n, c, u := num("SELECT @@TRANCOUNT"), num("SELECT COUNT(*) FROM S.dbo.t"), num("SELECT COUNT(*) FROM S2.dbo.u"); n != 1 || c != 1 || u != 0 {
		t.Fatalf("after ROLLBACK TRAN sp: @@TRANCOUNT %d, %d rows in t (want 1), %d in u (want 0)", n, c, u)
	}
	wantErr("ROLLBACK TRAN later", 6401) // released by the rollback to sp
	wantErr("ROLLBACK TRAN SP", 6401)    // case sensitive
	if err := run("INSERT INTO S.dbo.t VALUES (3); ROLLBACK TRANSACTION sp; COMMIT"); err != nil {
		t.Fatal(err)
	}
	if n, c := num("SELECT @@TRANCOUNT"), num("SELECT COUNT(*) FROM S.dbo.t"); n != 0 || c != 1 {
		t.Fatalf("after the second rollback to sp and COMMIT: @@TRANCOUNT %d, %d rows (want 0, 1)", n, c)
	}
	wantErr("BEGIN TRAN a; INSERT INTO S.dbo.t VALUES (4); BEGIN TRAN b; ROLLBACK TRAN b", 6401) // only the outermost name
	if err := run("ROLLBACK TRAN a"); err != nil {
		t.Fatal(err)
	}
	if n, c := num("SELECT @@TRANCOUNT"), num("SELECT COUNT(*) FROM S.dbo.t"); n != 0 || c != 1 {
		t.Fatalf("after ROLLBACK TRAN a: @@TRANCOUNT %d, %d rows (want 0, 1)", n, c)
	}
}

// TestTryCatch: an error of severity 11-19 in a TRY block sends nothing
// and runs the CATCH block, where ERROR_NUMBER(), ERROR_SEVERITY(),
// ERROR_STATE(), ERROR_LINE(), ERROR_MESSAGE() and XACT_STATE() describe
// it; THROW alone rethrows it; a compile error anywhere in the construct
// runs none of the batch (learn.microsoft.com/sql/t-sql/language-elements/try-catch-transact-sql,
// .../throw-transact-sql, .../functions/xact-state-transact-sql).
func TestTryCatch(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE C; CREATE TABLE C.dbo.t (id int)")
	var n, sev, state, line, xact int
	var msg string
	err := db.QueryRow("BEGIN TRY\n  INSERT INTO C.dbo.t VALUES (10)\n  SELECT 1/0 AS boom\n  INSERT INTO C.dbo.t VALUES (11)\nEND TRY\n"+
		"BEGIN CATCH\n  SELECT ERROR_NUMBER(), ERROR_SEVERITY(), ERROR_STATE(), ERROR_LINE(), ERROR_MESSAGE(), XACT_STATE()\nEND CATCH").
		Scan(&n, &sev, &state, &line, &msg, &xact)
	if err != nil || n != 8134 || sev != 16 || state != 1 || line != 3 || msg != "Divide by zero error encountered." || xact != 0 {
		t.Fatalf("caught: %v %d %d %d %d %q %d, want 8134 16 1 3 'Divide by zero error encountered.' 0", err, n, sev, state, line, msg, xact)
	}
	if c := count(t, db, "SELECT COUNT(*) FROM C.dbo.t"); c != 1 {
		t.Fatalf("%d rows, want the one inserted before the error", c)
	}
	err = db.QueryRow("BEGIN TRY RAISERROR('bad %d', 16, 5, 7) END TRY BEGIN CATCH SELECT ERROR_NUMBER(), ERROR_MESSAGE(), ERROR_STATE() END CATCH").Scan(&n, &msg, &state)
	if err != nil || n != 50000 || msg != "bad 7" || state != 5 {
		t.Fatalf("RAISERROR caught: %v %d %q %d", err, n, msg, state)
	}
	err = db.QueryRow("BEGIN TRAN; BEGIN TRY SELECT 1/0 END TRY BEGIN CATCH SELECT XACT_STATE() END CATCH; ROLLBACK").Scan(&xact)
	if err != nil || xact != 1 {
		t.Fatalf("XACT_STATE in a transaction: %v %d, want 1", err, xact)
	}
	var e mssql.Error
	if _, err := db.Exec("BEGIN TRY SELECT * FROM C.dbo.nope END TRY BEGIN CATCH THROW END CATCH"); !errors.As(err, &e) || e.Number != 208 {
		t.Fatalf("THROW in CATCH: %v, want the caught 208 again", err)
	}
	if v := count(t, db, "SELECT COUNT(*) FROM C.dbo.t WHERE ERROR_NUMBER() IS NULL"); v != 1 {
		t.Fatalf("ERROR_NUMBER() outside CATCH is not NULL")
	}
	for _, batch := range []string{
		"INSERT INTO C.dbo.t VALUES (20)\nBEGIN TRY\nSELEC 1\nEND TRY BEGIN CATCH SELECT 1 END CATCH",
		"INSERT INTO C.dbo.t VALUES (20)\nBEGIN TRY SELECT 1 END TRY\nSELECT 2\nBEGIN CATCH SELECT 3 END CATCH",
		"INSERT INTO C.dbo.t VALUES (20)\nBEGIN TRY SELECT 1 END TRY",
		"INSERT INTO C.dbo.t VALUES (20)\nBEGIN TRY END TRY BEGIN CATCH SELECT 1 END CATCH",
		"INSERT INTO C.dbo.t VALUES (20)\nTHROW",
		"CREATE TABLE C.dbo.u (a int)\nBEGIN TRY SELECT 1/0 END TRY BEGIN CATCH SELEC 2 END CATCH", // compiled on the copy
	} {
		_, err := db.Exec(batch)
		if !errors.As(err, &e) || e.Class != 15 {
			t.Errorf("%q: %v, want a compile error", batch, err)
		}
	}
	if c := count(t, db, "SELECT COUNT(*) FROM C.dbo.t WHERE id = 20"); c != 0 {
		t.Errorf("a batch that did not compile inserted %d rows", c)
	}
	if _, err := db.Exec("SELECT * FROM C.dbo.u"); !errors.As(err, &e) || e.Number != 208 {
		t.Errorf("a batch that did not compile created its table: %v", err)
	}
}

// TestXactAbort: with SET XACT_ABORT ON a runtime error rolls the whole
// transaction back; in a TRY block it leaves it uncommittable
// (XACT_STATE -1, COMMIT 3930) and the batch's end rolls it back (3998);
// RAISERROR does not honour it; OFF leaves the transaction open
// (learn.microsoft.com/sql/t-sql/statements/set-xact-abort-transact-sql,
// .../language-elements/try-catch-transact-sql).
func TestXactAbort(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE A; CREATE TABLE A.dbo.t (id int)")
	ctx := context.Background()
	one, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	num := func(q string) int {
		t.Helper()
		var n int
		if err := one.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	errNumber := func(err error) int32 {
		var e mssql.Error
		if errors.As(err, &e) {
			return e.Number
		}
		return 0
	}
	if _, err := one.ExecContext(ctx, "SET XACT_ABORT ON"); err != nil {
		t.Fatal(err)
	}
	_, err = one.ExecContext(ctx, "BEGIN TRAN; INSERT INTO A.dbo.t VALUES (1); SELECT * FROM A.dbo.nope; INSERT INTO A.dbo.t VALUES (2)")
	if errNumber(err) != 208 || num("SELECT @@TRANCOUNT") != 0 || num("SELECT COUNT(*) FROM A.dbo.t") != 0 {
		t.Fatalf("runtime error under XACT_ABORT ON: %v, @@TRANCOUNT %d, %d rows (want 208, 0, 0)", err, num("SELECT @@TRANCOUNT"), num("SELECT COUNT(*) FROM A.dbo.t"))
	}
	rows, err := one.QueryContext(ctx, "BEGIN TRAN; INSERT INTO A.dbo.t VALUES (3); BEGIN TRY SELECT 1/0 END TRY BEGIN CATCH SELECT XACT_STATE() END CATCH")
	if err != nil {
		t.Fatal(err)
	}
	state := 0
	for rows.Next() {
		rows.Scan(&state)
	}
	if errNumber(rows.Err()) != 3998 || state != -1 || num("SELECT @@TRANCOUNT") != 0 || num("SELECT COUNT(*) FROM A.dbo.t") != 0 {
		t.Fatalf("error in TRY under XACT_ABORT ON: XACT_STATE %d, end of batch %v (want -1, 3998, rolled back)", state, rows.Err())
	}
	rows.Close()
	_, err = one.ExecContext(ctx, "BEGIN TRAN; BEGIN TRY SELECT 1/0 END TRY BEGIN CATCH COMMIT END CATCH")
	if errNumber(err) != 3930 || num("SELECT @@TRANCOUNT") != 0 {
		t.Fatalf("COMMIT of an uncommittable transaction: %v, @@TRANCOUNT %d (want 3930, 0)", err, num("SELECT @@TRANCOUNT"))
	}
	_, err = one.ExecContext(ctx, "BEGIN TRAN; SAVE TRAN sp; BEGIN TRY SELECT 1/0 END TRY BEGIN CATCH ROLLBACK TRAN sp END CATCH")
	if errNumber(err) != 3931 || num("SELECT @@TRANCOUNT") != 0 {
		t.Fatalf("ROLLBACK TRAN savepoint of an uncommittable transaction: %v, @@TRANCOUNT %d (want 3931, 0)", err, num("SELECT @@TRANCOUNT"))
	}
	if n := num("BEGIN TRAN; BEGIN TRY RAISERROR('x', 16, 1) END TRY BEGIN CATCH SELECT XACT_STATE() END CATCH; ROLLBACK"); n != 1 {
		t.Fatalf("RAISERROR in TRY under XACT_ABORT ON: XACT_STATE %d, want 1", n)
	}
	if _, err := one.ExecContext(ctx, "SET XACT_ABORT OFF"); err != nil {
		t.Fatal(err)
	}
	_, err = one.ExecContext(ctx, "BEGIN TRAN; INSERT INTO A.dbo.t VALUES (4); SELECT * FROM A.dbo.nope")
	if errNumber(err) != 208 || num("SELECT @@TRANCOUNT") != 1 || num("SELECT COUNT(*) FROM A.dbo.t") != 1 {
		t.Fatalf("runtime error under XACT_ABORT OFF: %v, the transaction should stay open with its row", err)
	}
	if _, err := one.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
