package mssql_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestBackupHistoryNamesEveryBackup reads msdb after backups by two logins
// to files: each set comes newest first with its type, LSNs, device, time
// and login, and NextLogLSN is where the newest log ended.
func TestBackupHistoryNamesEveryBackup(t *testing.T) {
	ctx := context.Background()
	in, err := sqlsim.Start(ctx, sqlsim.Config{SAPassword: "Sa-Passw0rd!", DataDir: t.TempDir(),
		Logins: []sqlsim.Login{{Name: "DBA1", Password: "Dba1-Passw0rd!", Sysadmin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	sa, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	dba, err := mssql.Connect(ctx, enginetest.Target(in, "DBA1", "Dba1-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close()
	dir := t.TempDir()
	full, trn1, trn2 := filepath.Join(dir, "full.bak"), filepath.Join(dir, "a.trn"), filepath.Join(dir, "b 'q'.trn")
	for _, step := range []struct {
		c *mssql.Conn
		q string
	}{
		{sa, "CREATE DATABASE Sales"},
		{sa, "USE Sales; CREATE TABLE t (id int)"},
		{sa, "BACKUP DATABASE Sales TO DISK = " + mssql.QuoteString(full)},
		{sa, "INSERT INTO Sales.dbo.t VALUES (1)"},
		{dba, "BACKUP LOG Sales TO DISK = " + mssql.QuoteString(trn1)},
		{sa, "BACKUP LOG Sales TO DISK = " + mssql.QuoteString(trn2) + " WITH COPY_ONLY"},
	} {
		if _, err := step.c.DB().ExecContext(ctx, step.q); err != nil {
			t.Fatalf("%s: %v", step.q, err)
		}
	}
	sets, err := sa.BackupHistory(ctx, "Sales")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 3 {
		t.Fatalf("history = %+v", sets)
	}
	copyLog, log, fl := sets[0], sets[1], sets[2]
	if fl.Type != "D" || fl.CopyOnly || fl.CheckpointLSN == "" || fl.UserName != "sa" || fl.Devices[0] != (mssql.Device{Name: full, Type: 2}) {
		t.Errorf("full = %+v", fl)
	}
	if log.Type != "L" || log.CopyOnly || log.UserName != "DBA1" || log.Devices[0].String() != "DISK = N'"+trn1+"'" ||
		log.Finish.IsZero() || log.Finish.Before(fl.Finish) || log.FirstLSN == log.LastLSN {
		t.Errorf("log = %+v", log)
	}
	if copyLog.Type != "L" || !copyLog.CopyOnly || copyLog.Devices[0].String() != "DISK = N'"+filepath.Join(dir, "b ''q''.trn")+"'" {
		t.Errorf("copy-only log = %+v", copyLog)
	}
	// A copy-only log leaves the chain where the DBA's log ended.
	next, ok, err := sa.NextLogLSN(ctx, "Sales")
	if err != nil || !ok || next != log.LastLSN {
		t.Errorf("next log LSN = %q %v %v, want %s", next, ok, err, log.LastLSN)
	}
	// A restore over the database is in msdb with its login and source.
	if _, err := dba.DB().ExecContext(ctx, "RESTORE DATABASE Sales FROM DISK = "+mssql.QuoteString(full)+" WITH REPLACE"); err != nil {
		t.Fatal(err)
	}
	restores, err := sa.Restores(ctx, "Sales")
	if err != nil || len(restores) != 1 {
		t.Fatalf("restores = %+v, %v", restores, err)
	}
	if r := restores[0]; r.UserName != "DBA1" || r.Type != "D" || r.BackupSetID != fl.ID || r.Date.Before(log.Finish) {
		t.Errorf("restore = %+v (full set %d)", r, fl.ID)
	}
	if _, ok, err := sa.NextLogLSN(ctx, "NoSuchDB"); ok || err != nil {
		t.Errorf("next log LSN of a missing database: %v %v", ok, err)
	}
}
