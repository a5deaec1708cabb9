package sqlsim

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackupToDisk is a DBA's own BACKUP ... TO DISK beside sqlvault's URL
// backups: msdb records the file (device_type 2) and the login, the log
// backup takes its LSNs out of the URL chain, and the file restores.
func TestBackupToDisk(t *testing.T) {
	s := startSimWith(t, "", func(c *Config) {
		c.Logins = append(c.Logins, Login{Name: "DBA1", Password: "Dba1-Passw0rd!", Sysadmin: true})
	})
	sa := s.db(t, "sa", "Sa-Passw0rd!")
	setupSales(t, sa, container, "sv=2020-10-02&sig=x")
	dba := s.db(t, "DBA1", "Dba1-Passw0rd!")
	dir := t.TempDir()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	insertAt(t, s, sa, 1, t0)
	backupAt(t, s, sa, t0.Add(time.Minute), "BACKUP DATABASE Sales TO URL = N'"+container+"/full.bak'")
	insertAt(t, s, sa, 2, t0.Add(2*time.Minute))
	trn := filepath.Join(dir, "x.trn")
	backupAt(t, s, dba, t0.Add(3*time.Minute), "BACKUP LOG [Sales] TO DISK = N'"+trn+"'")
	backupAt(t, s, sa, t0.Add(4*time.Minute), "BACKUP LOG Sales TO URL = N'"+container+"/log.trn'")

	var device, user string
	var devType int
	var first, last string
	err := sa.QueryRow(`SELECT mf.physical_device_name, mf.device_type, bs.user_name, CAST(bs.first_lsn AS varchar(30)), CAST(bs.last_lsn AS varchar(30))
		FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id
		WHERE bs.database_name = 'Sales' AND bs.type = 'L' ORDER BY bs.backup_set_id`).Scan(&device, &devType, &user, &first, &last)
	if err != nil {
		t.Fatal(err)
	}
	if device != trn || devType != 2 || user != "DBA1" {
		t.Errorf("the disk backup in msdb: device %q type %d by %q", device, devType, user)
	}
	if st, err := os.Stat(trn); err != nil || st.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	var urlFirst string
	sa.QueryRow(`SELECT TOP (1) CAST(first_lsn AS varchar(30)) FROM msdb.dbo.backupset WHERE database_name = 'Sales' AND type = 'L'
		ORDER BY backup_set_id DESC`).Scan(&urlFirst)
	if urlFirst != last || urlFirst == first {
		t.Errorf("the URL log starts at %s; the disk log held %s-%s", urlFirst, first, last)
	}

	// A full to disk restores from that file under another name.
	bak := filepath.Join(dir, "full.bak")
	backupAt(t, s, dba, t0.Add(5*time.Minute), "BACKUP DATABASE Sales TO DISK = N'"+bak+"' WITH COPY_ONLY")
	exec(t, sa, "RESTORE DATABASE Sales_copy FROM DISK = N'"+bak+"' WITH MOVE N'Sales' TO N'/var/opt/mssql/data/Sales_copy.mdf', MOVE N'Sales_log' TO N'/var/opt/mssql/data/Sales_copy_log.ldf'")
	if n := count(t, sa, "SELECT count(*) FROM Sales_copy.dbo.orders"); n != 2 {
		t.Errorf("restored copy holds %d rows, want 2", n)
	}
	// msdb records the restore: where to, by whom, of which backup set.
	var dest, by, typ, from string
	err = sa.QueryRow(`SELECT rh.destination_database_name, rh.user_name, rh.restore_type, mf.physical_device_name
		FROM msdb.dbo.restorehistory rh JOIN msdb.dbo.backupset bs ON bs.backup_set_id = rh.backup_set_id
		JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id`).Scan(&dest, &by, &typ, &from)
	if err != nil || dest != "Sales_copy" || by != "sa" || typ != "D" || from != bak {
		t.Errorf("restore history: %q %q %q %q, %v", dest, by, typ, from, err)
	}

	// A folder that does not exist fails as SQL Server does; so does a
	// statement mixing a file and a URL.
	_, err = dba.Exec("BACKUP LOG Sales TO DISK = N'" + filepath.Join(dir, "missing", "y.trn") + "'")
	if !hasNumber(err, 3201) || !hasNumber(err, 3013) {
		t.Errorf("backup to a missing folder: %v", err)
	}
	_, err = dba.Exec("BACKUP LOG Sales TO DISK = N'" + filepath.Join(dir, "z.trn") + "', URL = N'" + container + "/z.trn'")
	if !hasNumber(err, 3201) {
		t.Errorf("backup to a file and a URL: %v", err)
	}
}
