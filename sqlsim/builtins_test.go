package sqlsim

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
)

// TestBuiltins: the statements and functions of sqlsim/README.md that no
// other test reaches, each as its page documents it (links in the
// README's Statements and Functions tables).
func TestBuiltins(t *testing.T) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	var isnull, lenv, tryCast, conv int
	var coalesce, upper, lower, ltrim, rtrim, quoted string
	err := db.QueryRow("SELECT ISNULL(NULL, 5), COALESCE(NULL, NULL, 'x'), UPPER('ab'), LOWER('AB'), LEN('ab  '), LTRIM('  a'), RTRIM('a  '), QUOTENAME('a]b'), TRY_CAST('12' AS int), CONVERT(int, '7')").
		Scan(&isnull, &coalesce, &upper, &lower, &lenv, &ltrim, &rtrim, &quoted, &tryCast, &conv)
	if err != nil || isnull != 5 || coalesce != "x" || upper != "AB" || lower != "ab" || lenv != 2 || ltrim != "a" || rtrim != "a" || quoted != "[a]]b]" || tryCast != 12 || conv != 7 {
		t.Errorf("string functions: %v %d %q %q %q %d %q %q %q %d %d", err, isnull, coalesce, upper, lower, lenv, ltrim, rtrim, quoted, tryCast, conv)
	}
	var spid, dbid int
	var service, login, dbname, added string
	err = db.QueryRow("SELECT @@SPID, @@SERVICENAME, SUSER_SNAME(), DB_NAME(), DB_ID('master'), CONVERT(nvarchar(30), DATEADD(minute, 5, CAST('2026-05-01 12:00:00' AS datetime2)), 121)").
		Scan(&spid, &service, &login, &dbname, &dbid, &added)
	if err != nil || spid != 52 || service != "MSSQLSERVER" || login != "sa" || dbname != "master" || dbid != 1 || added[:19] != "2026-05-01 12:05:00" {
		t.Errorf("session functions: %v %d %q %q %q %d %q", err, spid, service, login, dbname, dbid, added)
	}
	var g1, g2 string
	if err := db.QueryRow("SELECT CAST(NEWID() AS nvarchar(36)), CAST(NEWID() AS nvarchar(36))").Scan(&g1, &g2); err != nil || g1 == g2 || len(g1) != 36 {
		t.Errorf("NEWID: %v %q %q", err, g1, g2)
	}
	wantErr := func(q string, n int32) {
		t.Helper()
		var e mssql.Error
		if _, err := db.Exec(q); !errors.As(err, &e) || e.Number != n {
			t.Errorf("%s: %v, want %d", q, err, n)
		}
	}
	exec(t, db, "CREATE LOGIN l1 WITH PASSWORD = 'Pw-12345'")
	wantErr("CREATE LOGIN l1 WITH PASSWORD = 'Pw-12345'", 15025)
	exec(t, db, "DROP LOGIN l1")
	wantErr("DROP LOGIN l1", 15151)
	exec(t, db, "CREATE DATABASE X; CREATE TABLE X.dbo.a (k int); CREATE TABLE X.dbo.b (k int, v nvarchar(10)); CREATE TABLE X.dbo.gone (k int)")
	exec(t, db, "INSERT INTO X.dbo.a VALUES (1), (2); INSERT INTO X.dbo.b VALUES (1, N'one')")
	exec(t, db, "DROP TABLE X.dbo.gone")
	wantErr("SELECT * FROM X.dbo.gone", 208)
	rows, err := db.Query("SELECT a.k, b.v FROM X.dbo.a a LEFT JOIN X.dbo.b b ON b.k = a.k ORDER BY a.k")
	if err != nil {
		t.Fatal(err)
	}
	var joined []string
	for rows.Next() {
		var k int
		var v sql.NullString
		rows.Scan(&k, &v)
		joined = append(joined, v.String)
	}
	rows.Close()
	if len(joined) != 2 || joined[0] != "one" || joined[1] != "" {
		t.Errorf("LEFT JOIN: %q", joined)
	}
	exec(t, db, "ALTER DATABASE X SET COMPATIBILITY_LEVEL = 150")
	exec(t, db, "ALTER DATABASE X SET OFFLINE")
	var state string
	var level int
	if err := db.QueryRow("SELECT state_desc, compatibility_level FROM sys.databases WHERE name = 'X'").Scan(&state, &level); err != nil || state != "OFFLINE" || level != 150 {
		t.Errorf("after SET OFFLINE and COMPATIBILITY_LEVEL: %v %s %d", err, state, level)
	}
	exec(t, db, "ALTER DATABASE X SET ONLINE")
	url := "https://acct.blob.core.windows.net/c"
	exec(t, db, "CREATE CREDENTIAL ["+url+"] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=x'")
	exec(t, db, "DROP CREDENTIAL ["+url+"]")
	if n := count(t, db, "SELECT COUNT(*) FROM sys.credentials"); n != 0 {
		t.Errorf("%d credentials after DROP CREDENTIAL", n)
	}
	exec(t, db, "CHECKPOINT; WAITFOR DELAY '00:00:00.010'; SET NOCOUNT ON")
	exec(t, db, "UPDATE X.dbo.b SET v = N'uno' WHERE k = 1; DELETE FROM X.dbo.a WHERE k = 2")
	if n := count(t, db, "SELECT COUNT(*) FROM X.dbo.b WHERE v = N'uno'") + 10*count(t, db, "SELECT COUNT(*) FROM X.dbo.a"); n != 11 {
		t.Errorf("UPDATE and DELETE: %d (want 1 updated row, 1 left)", n)
	}
	exec(t, db, "CREATE LOGIN l2 WITH PASSWORD = 'Pw-12345'; EXEC sp_addsrvrolemember 'l2', 'sysadmin'")
	if n := count(t, db, "SELECT IS_SRVROLEMEMBER('sysadmin', 'l2')"); n != 1 {
		t.Errorf("sp_addsrvrolemember: IS_SRVROLEMEMBER %d", n)
	}
	// sys.server_principals (also sys.sql_logins) and sys.server_role_members
	// show the login and its membership of sysadmin (principal_id 3).
	if n := count(t, db, "SELECT COUNT(*) FROM sys.server_role_members m JOIN sys.server_principals p ON p.principal_id = m.member_principal_id WHERE p.name = 'l2' AND p.type = 'S' AND m.role_principal_id = 3"); n != 1 {
		t.Errorf("sys.server_role_members: %d rows for l2 in sysadmin", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM sys.sql_logins WHERE name = 'l2'"); n != 1 {
		t.Errorf("sys.sql_logins: %d rows for l2", n)
	}
	exec(t, db, "EXEC sp_dropsrvrolemember 'l2', 'sysadmin'")
	if n := count(t, db, "SELECT IS_SRVROLEMEMBER('sysadmin', 'l2')"); n != 0 {
		t.Errorf("sp_dropsrvrolemember: IS_SRVROLEMEMBER %d", n)
	}
	wantErr("EXEC sp_addsrvrolemember 'l2', 'dbcreator'", 15412)
	wantErr("DROP DATABASE Nope", 3701)
	wantErr("DROP DATABASE master", 3708)
	other, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(context.Background(), "USE X"); err != nil {
		t.Fatal(err)
	}
	wantErr("DROP DATABASE X", 3702)
	if _, err := other.ExecContext(context.Background(), "USE master"); err != nil { // leave X on this session, whichever pooled connection runs the DROP
		t.Fatal(err)
	}
	other.Close()
	exec(t, db, "DROP DATABASE X")
	// A login outside sysadmin: 262, 15247 and (RESTORE) 3110, then 3013
	// (learn.microsoft.com/sql/t-sql/statements/backup-transact-sql#permissions,
	// .../restore-statements-transact-sql#permissions).
	rd := s.db(t, "reader", "Reader-Pw1")
	for q, n := range map[string]int32{
		"CREATE DATABASE Nope2": 262,
		"BACKUP DATABASE master TO URL = N'https://acct.blob.core.windows.net/c/m.bak'":                                       262,
		"RESTORE DATABASE Nope3 FROM URL = N'https://acct.blob.core.windows.net/c/m.bak'":                                     3110,
		"CREATE LOGIN l3 WITH PASSWORD = 'Pw-12345'":                                                                          15247,
		"CREATE CREDENTIAL [https://acct.blob.core.windows.net/c] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=x'": 15247,
		"ALTER SERVER ROLE sysadmin ADD MEMBER [reader]":                                                                      15247,
	} {
		if _, err := rd.Exec(q); !hasNumber(err, n) {
			t.Errorf("as reader, %s: %v, want %d", q, err, n)
		}
	}
}

// TestBackupOptionsAccepted: BACKUP's NAME and DESCRIPTION land in
// msdb.dbo.backupset; the media and buffer options and NO_TRUNCATE are
// accepted; RESTORE ... WITH RECOVERY of a database already online is
// 3153 (learn.microsoft.com/sql/t-sql/statements/backup-transact-sql,
// .../restore-statements-transact-sql).
func TestBackupOptionsAccepted(t *testing.T) {
	_, db := setupBackups(t)
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/named.bak' WITH NAME = 'nightly', DESCRIPTION = 'full of Sales', "+
		"MEDIANAME = 'm', MEDIADESCRIPTION = 'md', BUFFERCOUNT = 4, RETAINDAYS = 7, FORMAT, INIT, SKIP, REWIND, NOUNLOAD, CHECKSUM")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/log.bak' WITH NO_TRUNCATE")
	var name, desc string
	err := db.QueryRow("SELECT bs.name, bs.description FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1",
		container+"/named.bak").Scan(&name, &desc)
	if err != nil || name != "nightly" || desc != "full of Sales" {
		t.Errorf("backupset name %q, description %q (%v)", name, desc, err)
	}
	if _, err := db.Exec("RESTORE DATABASE Sales WITH RECOVERY"); !hasNumber(err, 3153) {
		t.Errorf("RESTORE WITH RECOVERY of an online database: %v, want 3153", err)
	}
	exec(t, db, "RESTORE DATABASE Sales2 FROM URL = N'"+container+"/named.bak' WITH MOVE 'Sales' TO '/var/opt/mssql/data/s2.mdf', "+
		"MOVE 'Sales_log' TO '/var/opt/mssql/data/s2.ldf', FILE = 1, CHECKSUM, BUFFERCOUNT = 4, MAXTRANSFERSIZE = 1048576")
	if n := count(t, db, "SELECT COUNT(*) FROM sys.databases WHERE name = 'Sales2' AND state_desc = 'ONLINE'"); n != 1 {
		t.Errorf("Sales2 not restored online")
	}
}
