package sqlsim

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lsnOfSet(t *testing.T, db *sql.DB, url, column string) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRow(`SELECT bs.`+column+` FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1`, url).Scan(&v); err != nil {
		t.Fatalf("%s of %s: %v", column, url, err)
	}
	return v.String
}

// TestRestoreRefusals: 3101 (database in use) and 3154 (backup of another
// database over an existing one without REPLACE).
func TestRestoreRefusals(t *testing.T) {
	s, db := setupBackups(t)
	exec(t, db, "CREATE DATABASE Other")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/sales.bak'")
	exec(t, db, "BACKUP DATABASE Other TO URL = N'"+container+"/other.bak'")
	exec(t, db, "USE master")

	// Another session sits in Sales: RESTORE ... WITH REPLACE cannot get
	// exclusive access.
	other := s.db(t, "sa", "Sa-Passw0rd!")
	other.SetMaxOpenConns(1)
	exec(t, other, "USE Sales")
	wantFailure(t, db, "RESTORE DATABASE Sales FROM URL = N'"+container+"/sales.bak' WITH REPLACE", []int32{3101, 3013}, "in use")
	other.Close()
	time.Sleep(50 * time.Millisecond) // the server sees the close

	// Other's backup over Sales without REPLACE: 3154; with REPLACE (and
	// MOVE onto Sales' own files) it is allowed.
	wantFailure(t, db, "RESTORE DATABASE Sales FROM URL = N'"+container+"/other.bak' WITH MOVE N'Other' TO N'/var/opt/mssql/data/Sales.mdf', MOVE N'Other_log' TO N'/var/opt/mssql/data/Sales_log.ldf'", []int32{3154, 3013}, "other than the existing 'Sales'")
	exec(t, db, "RESTORE DATABASE Sales FROM URL = N'"+container+"/other.bak' WITH REPLACE, MOVE N'Other' TO N'/var/opt/mssql/data/Sales.mdf', MOVE N'Other_log' TO N'/var/opt/mssql/data/Sales_log.ldf'")
	var state string
	db.QueryRow("SELECT state_desc FROM sys.databases WHERE name = 'Sales'").Scan(&state)
	if state != "ONLINE" {
		t.Fatalf("Sales is %s after RESTORE WITH REPLACE", state)
	}
}

// TestPooledConnectionReturnsToLoginDatabase: a reused connection starts
// in its login database again, so it does not hold the database it USEd.
func TestPooledConnectionReturnsToLoginDatabase(t *testing.T) {
	s, setup := setupBackups(t)
	setup.Close() // its idle connection sits in Sales
	db := s.db(t, "sa", "Sa-Passw0rd!")
	db.SetMaxOpenConns(1)
	exec(t, db, "USE Sales")
	var name string
	if err := db.QueryRow("SELECT DB_NAME()").Scan(&name); err != nil || name != "master" {
		t.Fatalf("DB_NAME() on a reused connection = %q %v, want master", name, err)
	}
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/f.bak'")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/tail.trn' WITH NORECOVERY")
	exec(t, db, "RESTORE DATABASE Sales FROM URL = N'"+container+"/f.bak' WITH REPLACE")
}

// TestRecoveryModels: BULK_LOGGED takes log backups; SIMPLE refuses them
// (4208) and breaks the chain, so back in FULL a log backup needs a full or
// a differential first (4214); the chain full + differential + log then
// restores.
func TestRecoveryModels(t *testing.T) {
	s, db := setupBackups(t)
	u := func(n string) string { return "URL = N'" + container + "/" + n + "'" }
	exec(t, db, "ALTER DATABASE Sales SET RECOVERY BULK_LOGGED")
	exec(t, db, "BACKUP DATABASE Sales TO "+u("f.bak"))
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
	exec(t, db, "BACKUP LOG Sales TO "+u("l1.trn"))
	var rm string
	db.QueryRow("SELECT recovery_model_desc FROM sys.databases WHERE name = 'Sales'").Scan(&rm)
	if rm != "BULK_LOGGED" {
		t.Fatalf("recovery_model_desc %s", rm)
	}
	exec(t, db, "ALTER DATABASE Sales SET RECOVERY SIMPLE")
	wantFailure(t, db, "BACKUP LOG Sales TO "+u("l2.trn"), []int32{4208, 3013}, "SIMPLE")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (2)")
	exec(t, db, "ALTER DATABASE Sales SET RECOVERY FULL")
	wantFailure(t, db, "BACKUP LOG Sales TO "+u("l2.trn"), []int32{4214, 3013}, "no current database backup")
	exec(t, db, "BACKUP DATABASE Sales TO "+u("d.bak")+" WITH DIFFERENTIAL")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (3)")
	exec(t, db, "BACKUP LOG Sales TO "+u("l2.trn"))
	exec(t, db, "USE master")
	mv := ", MOVE N'Sales' TO N'/d/r.mdf', MOVE N'Sales_log' TO N'/d/r.ldf'"
	exec(t, db, "RESTORE DATABASE R FROM "+u("f.bak")+" WITH NORECOVERY"+mv)
	exec(t, db, "RESTORE DATABASE R FROM "+u("d.bak")+" WITH NORECOVERY")
	exec(t, db, "RESTORE LOG R FROM "+u("l2.trn")+" WITH RECOVERY")
	if n := count(t, db, "SELECT COUNT(*) FROM R.dbo.orders"); n != 3 {
		t.Fatalf("R has %d rows, want 3", n)
	}
	_ = s
}

// TestCopyOnly: a copy-only full leaves the differential base alone and a
// copy-only log backup leaves the log chain alone.
func TestCopyOnly(t *testing.T) {
	_, db := setupBackups(t)
	u := func(n string) string { return "URL = N'" + container + "/" + n + "'" }
	exec(t, db, "BACKUP DATABASE Sales TO "+u("f.bak"))
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
	exec(t, db, "BACKUP DATABASE Sales TO "+u("c.bak")+" WITH COPY_ONLY")
	exec(t, db, "BACKUP DATABASE Sales TO "+u("d.bak")+" WITH DIFFERENTIAL")
	full := lsnOfSet(t, db, container+"/f.bak", "checkpoint_lsn")
	if got := lsnOfSet(t, db, container+"/d.bak", "differential_base_lsn"); got != full {
		t.Fatalf("differential base %s, want the full's checkpoint %s (not the copy-only's)", got, full)
	}
	if got := lsnOfSet(t, db, container+"/c.bak", "is_copy_only"); got != "true" && got != "1" {
		t.Fatalf("is_copy_only = %s", got)
	}
	exec(t, db, "BACKUP LOG Sales TO "+u("l1.trn"))
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (2)")
	exec(t, db, "BACKUP LOG Sales TO "+u("lc.trn")+" WITH COPY_ONLY")
	exec(t, db, "BACKUP LOG Sales TO "+u("l2.trn"))
	if a, b := lsnOfSet(t, db, container+"/l1.trn", "last_lsn"), lsnOfSet(t, db, container+"/l2.trn", "first_lsn"); a != b {
		t.Fatalf("l2 starts at %s, want l1's last LSN %s: the copy-only log backup moved the chain", b, a)
	}
	var typ string
	db.QueryRow("SELECT type FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1", container+"/d.bak").Scan(&typ)
	if typ != "I" {
		t.Fatalf("differential type %q, want I", typ)
	}
}

// TestFreeTDSQueriesCatalog: an independent TDS client (FreeTDS tsql)
// logs in to the simulated instance and reads the catalog, in plaintext
// and with TLS.
func TestFreeTDSQueriesCatalog(t *testing.T) {
	tsql, err := osexec.LookPath("tsql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tsql (Debian package freetds-bin) is required when CI is set")
		}
		t.Skip("tsql not installed: apt-get install -y freetds-bin")
	}
	for _, enc := range []string{"off", "require"} {
		t.Run(enc, func(t *testing.T) {
			s := startSimWith(t, "", func(c *Config) { c.TLS = true; c.MachineName = "SQLPROD01" })
			db := s.db(t, "sa", "Sa-Passw0rd!")
			exec(t, db, "CREATE DATABASE Sales")
			dir := t.TempDir()
			conf := filepath.Join(dir, "freetds.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("[sim]\n\thost = 127.0.0.1\n\tport = %d\n\ttds version = 7.4\n\tencryption = %s\n", s.Port(), enc)), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := osexec.CommandContext(ctx, tsql, "-S", "sim", "-U", "sa", "-P", "Sa-Passw0rd!")
			cmd.Env = append(os.Environ(), "FREETDSCONF="+conf, "HOME="+dir, "TDSDUMP=")
			cmd.Stdin = strings.NewReader("SELECT name, database_id, state_desc, recovery_model_desc FROM sys.databases ORDER BY database_id\ngo\n" +
				"SELECT SERVERPROPERTY('MachineName'), @@SERVERNAME, IS_SRVROLEMEMBER('sysadmin')\ngo\nexit\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("tsql: %v\n%s", err, out)
			}
			for _, want := range []string{"master\t1\tONLINE\tSIMPLE", "Sales\t5\tONLINE\tFULL", "(5 rows affected)", "SQLPROD01\tSQLPROD01\t1"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("tsql output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestCLI runs `sqlvault sqlsim` with its options.
func TestCLI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--sa-password", "Sa-Passw0rd!",
			"--machine-name", "SQLPROD02", "--instance-name", "SALES", "--login", "ops:Ops-Pw1:sysadmin", "--login", "viewer:View-Pw1",
			"--hosts", "vault.sqlvault.test=10.0.0.9", "--synthetic", "Big=64MiB", "--tls=false"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	f := strings.Fields(line)
	addr := f[len(f)-3]
	open := func(user, pw string) *sql.DB {
		db, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://%s:%s@%s?encrypt=disable", user, pw, addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	ops, viewer := open("ops", "Ops-Pw1"), open("viewer", "View-Pw1")
	var name, inst string
	var sa, va int
	var size int64
	if err := ops.QueryRow("SELECT @@SERVERNAME, CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)), IS_SRVROLEMEMBER('sysadmin')").Scan(&name, &inst, &sa); err != nil {
		t.Fatal(err)
	}
	viewer.QueryRow("SELECT IS_SRVROLEMEMBER('sysadmin')").Scan(&va)
	if err := ops.QueryRow("SELECT SUM(mf.size) FROM sys.master_files mf WHERE mf.database_id = DB_ID('Big') AND mf.type = 0").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if name != `SQLPROD02\SALES` || inst != "SALES" || sa != 1 || va != 0 || size != 64<<20/8192 {
		t.Fatalf("@@SERVERNAME %s, instance %s, sysadmin %d/%d, Big data pages %d", name, inst, sa, va, size)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSize("2GiB"); err != nil {
		t.Fatal(err)
	}
	if n, _ := ParseSize("2GiB"); n != 2<<30 {
		t.Fatalf("ParseSize(2GiB) = %d", n)
	}
}
