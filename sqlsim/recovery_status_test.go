package sqlsim

import (
	"database/sql"
	"testing"
)

// TestLastLogBackupLSN: sys.database_recovery_status.last_log_backup_lsn is
// NULL while no log backup can be taken (a new FULL database before its
// first full, SIMPLE, FULL again after SIMPLE until a full), else where
// the next log backup starts.
func TestLastLogBackupLSN(t *testing.T) {
	_, db := setupBackups(t)
	next := func() sql.NullString {
		t.Helper()
		var v sql.NullString
		if err := db.QueryRow("SELECT last_log_backup_lsn FROM sys.database_recovery_status WHERE database_id = DB_ID('Sales')").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := next(); v.Valid {
		t.Errorf("before any full: %v", v.String)
	}
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/full.bak'")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/log.trn'")
	var last string
	db.QueryRow("SELECT TOP (1) CAST(last_lsn AS varchar(30)) FROM msdb.dbo.backupset WHERE type = 'L' ORDER BY backup_set_id DESC").Scan(&last)
	if v := next(); !v.Valid || v.String != last {
		t.Errorf("after a log backup ending at %s: %+v", last, v)
	}
	exec(t, db, "ALTER DATABASE Sales SET RECOVERY SIMPLE")
	exec(t, db, "ALTER DATABASE Sales SET RECOVERY FULL")
	if v := next(); v.Valid {
		t.Errorf("after SIMPLE and back: %v", v.String)
	}
	_, err := db.Exec("BACKUP LOG Sales TO URL = N'" + container + "/log2.trn'")
	if !hasNumber(err, 4214) {
		t.Errorf("log backup after SIMPLE and back: %v", err)
	}
}
