package sqlsim

import (
	"database/sql"
	"fmt"
	"testing"
)

// TestErrorsTable raises the errors of sqlsim/README.md's error table that
// no other test raises, each by the statement its row names; numbers,
// severities and texts follow SQL Server's messages (the README row's
// source).
func TestErrorsTable(t *testing.T) {
	s, db := setupBackups(t)
	exec(t, db, "CREATE DATABASE E; CREATE TABLE E.dbo.t (a int); CREATE DATABASE Off")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/e-full.bak'")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/e-log.bak'")
	exec(t, db, "RESTORE DATABASE Rst FROM URL = N'"+container+"/e-full.bak' WITH NORECOVERY, MOVE 'Sales' TO '/var/opt/mssql/data/rst.mdf', MOVE 'Sales_log' TO '/var/opt/mssql/data/rst.ldf'")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/e-full2.bak'")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/e-diff.bak' WITH DIFFERENTIAL") // based on full2, not on Rst's full
	exec(t, db, "ALTER DATABASE Off SET OFFLINE")
	for _, c := range []struct {
		sql string
		n   int32
	}{
		{"SELECT 'abc", 105},
		{"INSERT INTO E.dbo.t (a) VALUES (1, 2)", 110},
		{"SELECT 1 /* open", 113},
		{"SELECT @nope", 137},
		{"SELECT a FROM E.dbo.t WHERE COUNT(*) > 1", 147},
		{"BACKUP DATABASE Sales TO URL = N'" + container + "/x.bak' WITH NOSUCHOPTION", 155},
		{"SELECT DATALENGTH(1, 2)", 174},
		{"SELECT NOSUCHFUNCTION(1)", 195},
		{"SELECT CAST('not a date' AS datetime2)", 241},
		{"USE Rst", 927},
		{"INSERT INTO Off.dbo.t VALUES (1)", 942},
		{"SELECT DATEDIFF(fortnight, GETDATE(), GETDATE())", 1023},
		{"CREATE TABLE E.dbo.t (a int)", 2714},
		{"RESTORE DATABASE master FROM URL = N'" + container + "/e-full.bak'", 3108},
		{"RESTORE LOG E FROM URL = N'" + container + "/e-log.bak'", 3117},
		{"BACKUP DATABASE tempdb TO URL = N'" + container + "/t.bak'", 3147},
		{"BACKUP DATABASE Off TO URL = N'" + container + "/o.bak'", 3148},
		{"RESTORE LOG Rst FROM URL = N'" + container + "/e-full.bak'", 3241},
		{"RESTORE DATABASE Rst FROM URL = N'" + container + "/e-diff.bak' WITH NORECOVERY", 3136},
		{"RESTORE LOG Rst FROM URL = N'" + container + "/e-log.bak' WITH STOPAT = '2000-01-01T00:00:00', NORECOVERY", 4335},
		{"RESTORE DATABASE Clash FROM URL = N'" + container + "/e-full.bak'", 3156}, // Sales's files, without MOVE
		{"BACKUP DATABASE Sales TO URL = N'" + container + "/m.bak' WITH MAXTRANSFERSIZE = 1000", 3268},
		{"SELECT x.name FROM sys.databases d", 4104},
		{"SELECT CAST('abc' AS decimal(5,2))", 8114},
		{"SELECT CAST(12345.6 AS decimal(3,1))", 8115},
		{"ALTER DATABASE NoSuchDb SET OFFLINE", 5011},
	} {
		if _, err := db.Exec(c.sql); !hasNumber(err, c.n) {
			t.Errorf("%s: %v, want %d", c.sql, err, c.n)
		}
	}
	login, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:Sa-Passw0rd!@%s?database=NoSuchDb&encrypt=disable", s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer login.Close()
	if err := login.Ping(); !hasNumber(err, 4060) {
		t.Errorf("login into a missing database: %v, want 4060", err)
	}
}
