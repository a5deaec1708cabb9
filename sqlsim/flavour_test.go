package sqlsim

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProductVersions: each version sqlsim plays answers SERVERPROPERTY
// and @@VERSION as that release, and SQL Server 2014 (12.0) cannot back up
// to or restore from a URL with a SAS credential.
func TestProductVersions(t *testing.T) {
	for _, c := range []struct{ version, major, year string }{
		{"", "16", "2022"}, // the default
		{"12.0.6024.0", "12", "2014"},
		{"13.0.6300.2", "13", "2016"},
		{"15.0.4355.3", "15", "2019"},
		{"16.0.4145.4", "16", "2022"},
	} {
		s := startSimWith(t, "", func(cfg *Config) { cfg.ProductVersion = c.version })
		db := s.db(t, "sa", "Sa-Passw0rd!")
		var ver, major, banner string
		if err := db.QueryRow("SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductMajorVersion'), @@VERSION").
			Scan(&ver, &major, &banner); err != nil {
			t.Fatal(err)
		}
		want := c.version
		if want == "" {
			want = DefaultProductVersion
		}
		if ver != want || major != c.major || !strings.HasPrefix(banner, "Microsoft SQL Server "+c.year+" (") ||
			!strings.Contains(banner, " - "+want+" (X64)") {
			t.Errorf("%q: ProductVersion %q, major %q, @@VERSION %q", c.version, ver, major, banner)
		}

		setupSales(t, db, container, "sv=2020-10-02&sig=x")
		_, err := db.Exec("BACKUP DATABASE Sales TO URL = N'" + container + "/v.bak'")
		if c.major == "12" {
			if !hasNumber(err, 3201) || !hasNumber(err, 3013) {
				t.Errorf("12.0 BACKUP TO URL with a SAS credential: %v, want 3201 and 3013", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: BACKUP TO URL: %v", c.version, err)
		}
	}
}

func TestFlavourRefusesWhatItCannotPlay(t *testing.T) {
	for _, cfg := range []Config{{ProductVersion: "11.0.7001.0"}, {ProductVersion: "16.0"}, {ProductVersion: "16.0.x.4"},
		{TimeZone: "Mars/Olympus"}, {TimeZone: "Europe/Vaduz"}, {ProductVersion: "13.0.6300.2", HostOS: HostLinux}} {
		if _, err := newFlavour(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestRestoreBlockSize: RESTORE of a compressed URL backup without the
// block size it was written with fails with 3284 (state 5) and the text of
// Microsoft's troubleshooting page, then 3013; with BLOCKSIZE = 65536 it
// succeeds. Uncompressed backups and HEADERONLY/FILELISTONLY/VERIFYONLY
// are not refused.
func TestRestoreBlockSize(t *testing.T) {
	s, db := setupBackups(t)
	insertAt(t, s, db, 1, s.clock.Now())
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/c.bak' WITH COMPRESSION, BLOCKSIZE = 65536")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/u.bak' WITH NO_COMPRESSION")
	move := func(name string) string {
		return "MOVE N'Sales' TO N'/d/" + name + ".mdf', MOVE N'Sales_log' TO N'/d/" + name + ".ldf'"
	}
	_, err := db.Exec("RESTORE DATABASE C1 FROM URL = N'" + container + "/c.bak' WITH " + move("c1"))
	want := "Filemark on device '" + container + "/c.bak' is not aligned. Reissue the Restore statement with the same block size used to create the backupset: '65536' looks like a possible value."
	var found bool
	for _, e := range mssqlErr(err).All {
		found = found || (e.Number == 3284 && e.State == 5 && e.Class == 16 && e.Message == want)
	}
	if !found || !hasNumber(err, 3013) {
		t.Fatalf("compressed restore without BLOCKSIZE: %v, want 3284 state 5 %q and 3013", err, want)
	}
	if _, err := db.Exec("RESTORE DATABASE C1 FROM URL = N'" + container + "/c.bak' WITH BLOCKSIZE = 512, " + move("c1")); !hasNumber(err, 3284) {
		t.Fatalf("compressed restore with BLOCKSIZE = 512: %v, want 3284", err)
	}
	exec(t, db, "RESTORE DATABASE C1 FROM URL = N'"+container+"/c.bak' WITH BLOCKSIZE = 65536, "+move("c1"))
	exec(t, db, "RESTORE DATABASE U1 FROM URL = N'"+container+"/u.bak' WITH "+move("u1"))
	for _, q := range []string{"HEADERONLY", "FILELISTONLY", "VERIFYONLY"} {
		if _, err := db.Exec("RESTORE " + q + " FROM URL = N'" + container + "/c.bak'"); err != nil {
			t.Errorf("RESTORE %s of the compressed backup: %v", q, err)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM C1.dbo.orders"); n != 1 {
		t.Fatalf("C1 has %d rows, want 1", n)
	}
}

// TestTimeZone: in Europe/Berlin across the spring change (2026-03-29
// 01:00 UTC), GETDATE is local and GETUTCDATE UTC, SYSDATETIMEOFFSET and
// AT TIME ZONE carry the offset in force, msdb's dates are local with
// time_zone in 15-minute intervals of the backup's start, and STOPAT is
// read as local time.
func TestTimeZone(t *testing.T) {
	s := startSimWith(t, "", func(cfg *Config) { cfg.TimeZone = "Europe/Berlin" })
	db := s.db(t, "sa", "Sa-Passw0rd!")
	setupSales(t, db, container, "sv=2020-10-02&sig=x")
	change := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)

	s.clock.Set(change.Add(-10 * time.Minute))
	var local, utc time.Time
	var offset, zoneOffset int
	var zone string
	if err := db.QueryRow(`SELECT GETDATE(), GETUTCDATE(), DATEPART(TZOFFSET, SYSDATETIMEOFFSET()), CURRENT_TIMEZONE_ID(),
		DATEPART(TZOFFSET, CAST('2026-03-29T01:00:00Z' AS datetimeoffset(0)) AT TIME ZONE CURRENT_TIMEZONE_ID())`).
		Scan(&local, &utc, &offset, &zone, &zoneOffset); err != nil {
		t.Fatal(err)
	}
	if local.Hour() != 1 || local.Minute() != 50 || utc.Hour() != 0 || offset != 60 || zone != "W. Europe Standard Time" || zoneOffset != 120 {
		t.Fatalf("GETDATE %v, GETUTCDATE %v, SYSDATETIMEOFFSET offset %d, zone %q, offset at the change %d", local, utc, offset, zone, zoneOffset)
	}

	backupAt(t, s, db, change.Add(-5*time.Minute), "BACKUP DATABASE Sales TO URL = N'"+container+"/f.bak'")
	insertAt(t, s, db, 1, change.Add(-2*time.Second))
	insertAt(t, s, db, 2, change.Add(-time.Second))
	insertAt(t, s, db, 3, change)
	insertAt(t, s, db, 4, change.Add(time.Second))
	backupAt(t, s, db, change.Add(10*time.Minute), "BACKUP LOG Sales TO URL = N'"+container+"/l.trn'")

	rows, err := db.Query(`SELECT bs.backup_start_date, bs.time_zone FROM msdb.dbo.backupset bs ORDER BY bs.backup_set_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var start time.Time
		var tz int
		rows.Scan(&start, &tz)
		got = append(got, start.Format("15:04")+" "+strconv.Itoa(tz))
	}
	rows.Close()
	if strings.Join(got, ", ") != "01:55 4, 03:10 8" {
		t.Fatalf("backupset local start and time_zone = %v, want 01:55 4 (CET), 03:10 8 (CEST)", got)
	}

	// Local 01:59:59 is 00:59:59 UTC: rows 1 and 2, not those after the change.
	exec(t, db, "RESTORE DATABASE P FROM URL = N'"+container+"/f.bak' WITH NORECOVERY, MOVE N'Sales' TO N'/d/p.mdf', MOVE N'Sales_log' TO N'/d/p.ldf'")
	exec(t, db, "RESTORE LOG P FROM URL = N'"+container+"/l.trn' WITH RECOVERY, STOPAT = N'2026-03-29T01:59:59'")
	if n := count(t, db, "SELECT COUNT(*) FROM P.dbo.orders"); n != 2 {
		t.Fatalf("rows at local 01:59:59 = %d, want 2", n)
	}
}

// TestFlavourFlags: `sqlvault sqlsim --product-version --time-zone` plays
// that version in that zone; values it cannot play stop it at start.
func TestFlavourFlags(t *testing.T) {
	for _, bad := range [][]string{{"--product-version", "11.0.7001.0"}, {"--time-zone", "Nowhere/City"}} {
		if err := Main(context.Background(), append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--sa-password", "x"}, bad...), io.Discard); err == nil {
			t.Errorf("Main accepted %v", bad)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--sa-password", "Sa-Passw0rd!", "--tls=false",
			"--product-version", "15.0.4355.3", "--time-zone", "America/New_York"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	f := strings.Fields(line)
	db, err := sql.Open("sqlserver", "sqlserver://sa:Sa-Passw0rd!@"+f[len(f)-3]+"?encrypt=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ver string
	var offset int
	if err := db.QueryRow("SELECT SERVERPROPERTY('ProductVersion'), DATEDIFF(MINUTE, GETUTCDATE(), GETDATE())").Scan(&ver, &offset); err != nil {
		t.Fatal(err)
	}
	_, want := time.Now().In(mustZone(t, "America/New_York")).Zone()
	if ver != "15.0.4355.3" || offset != want/60 {
		t.Fatalf("ProductVersion %q, local minus UTC %d min, want 15.0.4355.3 and %d", ver, offset, want/60)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
