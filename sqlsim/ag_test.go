package sqlsim

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

const agContainer = "https://backup.sqlvault.test/ag"

// agSims starts replicas SQL1..SQLn on one blob store and one clock.
type agSims struct {
	in    []*sim
	db    []*sql.DB
	clock *clock
	blobs *memBlobs
}

func startAG(t *testing.T, n int) *agSims {
	t.Helper()
	a := &agSims{clock: &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}, blobs: newMemBlobs()}
	for i := 1; i <= n; i++ {
		s := startSimWith(t, "", func(c *Config) {
			c.MachineName, c.Blobs, c.Now = fmt.Sprintf("SQL%d", i), a.blobs, a.clock.Now
		})
		db := s.db(t, "sa", "Sa-Passw0rd!")
		db.SetMaxOpenConns(1) // USE lasts for the connection
		exec(t, db, "CREATE CREDENTIAL ["+agContainer+"] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2020-10-02&sig=x'")
		a.in, a.db = append(a.in, s), append(a.db, db)
	}
	return a
}

// groupSales makes Sales on SQL1 with a full backup, then the group of
// all replicas with SQL1 primary and Sales joined.
func (a *agSims) groupSales(t *testing.T, pref string) *Group {
	t.Helper()
	exec(t, a.db[0], "CREATE DATABASE Sales")
	exec(t, a.db[0], "CREATE TABLE Sales.dbo.orders (id int, at datetime2)")
	exec(t, a.db[0], "BACKUP DATABASE Sales TO URL = N'"+agContainer+"/full.bak'")
	var ins []*Instance
	for _, s := range a.in {
		ins = append(ins, s.Instance)
	}
	g, err := NewGroup("ag1", "ag1-listener:1433", pref, ins...)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AddDatabase(context.Background(), "Sales"); err != nil {
		t.Fatal(err)
	}
	return g
}

func preferredOn(t *testing.T, a *agSims) []int {
	t.Helper()
	var out []int
	for _, db := range a.db {
		out = append(out, count(t, db, "SELECT CAST(sys.fn_hadr_backup_is_preferred_replica(N'Sales') AS int)"))
	}
	return out
}

func wantPreferred(t *testing.T, a *agSims, what string, want ...int) {
	t.Helper()
	if got := preferredOn(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: fn_hadr_backup_is_preferred_replica on SQL1..SQL%d = %v, want %v", what, len(a.db), got, want)
	}
}

// TestAGViews: the catalog views and DMVs of a group as its replicas
// answer them, and the same database_guid on every replica.
func TestAGViews(t *testing.T) {
	a := startAG(t, 3)
	g := a.groupSales(t, "secondary")
	for i, db := range a.db {
		if n := count(t, db, "SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int)"); n != 1 {
			t.Errorf("SQL%d IsHadrEnabled = %d", i+1, n)
		}
		var name, pref string
		var code int
		if err := db.QueryRow("SELECT name, automated_backup_preference, automated_backup_preference_desc FROM sys.availability_groups").Scan(&name, &code, &pref); err != nil || name != "ag1" || code != 2 || pref != "SECONDARY" {
			t.Errorf("SQL%d sys.availability_groups: %s %d %s %v", i+1, name, code, pref, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM sys.availability_replicas WHERE backup_priority = 50"); n != 3 {
			t.Errorf("SQL%d sys.availability_replicas: %d replicas of priority 50, want 3", i+1, n)
		}
		var dns string
		var port int
		if err := db.QueryRow("SELECT dns_name, port FROM sys.availability_group_listeners").Scan(&dns, &port); err != nil || dns != "ag1-listener" || port != 1433 {
			t.Errorf("SQL%d listener %s:%d %v", i+1, dns, port, err)
		}
	}
	// The primary sees every replica; a secondary only itself.
	if n := count(t, a.db[0], "SELECT COUNT(*) FROM sys.dm_hadr_availability_replica_states"); n != 3 {
		t.Errorf("primary sees %d replica states, want 3", n)
	}
	var role, conn, health string
	err := a.db[1].QueryRow(`SELECT s.role_desc, s.connected_state_desc, s.synchronization_health_desc FROM sys.dm_hadr_availability_replica_states s
		JOIN sys.availability_replicas r ON r.replica_id = s.replica_id WHERE s.is_local = 1`).Scan(&role, &conn, &health)
	if err != nil || role != "SECONDARY" || conn != "CONNECTED" || health != "HEALTHY" {
		t.Errorf("SQL2 local state %s %s %s %v", role, conn, health, err)
	}
	if n := count(t, a.db[1], "SELECT COUNT(*) FROM sys.dm_hadr_availability_replica_states"); n != 1 {
		t.Errorf("secondary sees %d replica states, want 1", n)
	}
	// Same database_guid, same group_database_id, the local replica_id.
	var guids, gdbs []string
	for i, db := range a.db {
		var guid, gdb, rid, state string
		var primary bool
		err := db.QueryRow(`SELECT CAST(rs.database_guid AS nvarchar(36)), CAST(d.group_database_id AS nvarchar(36)), CAST(d.replica_id AS nvarchar(36)),
			h.synchronization_state_desc, h.is_primary_replica
			FROM sys.databases d JOIN sys.database_recovery_status rs ON rs.database_id = d.database_id
			JOIN sys.dm_hadr_database_replica_states h ON h.database_id = d.database_id
			WHERE d.name = N'Sales' AND h.is_local = 1`).Scan(&guid, &gdb, &rid, &state, &primary)
		if err != nil {
			t.Fatalf("SQL%d: %v", i+1, err)
		}
		if !equalFold(rid, g.ReplicaID(a.in[i].Instance)) || state != "SYNCHRONIZED" || primary != (i == 0) {
			t.Errorf("SQL%d Sales: replica_id %s (want %s), %s, primary %v", i+1, rid, g.ReplicaID(a.in[i].Instance), state, primary)
		}
		guids, gdbs = append(guids, guid), append(gdbs, gdb)
	}
	if guids[0] != guids[1] || guids[0] != guids[2] || gdbs[0] != gdbs[1] || gdbs[0] != gdbs[2] {
		t.Errorf("database_guid %v, group_database_id %v differ across replicas", guids, gdbs)
	}
	if n := count(t, a.db[0], "SELECT COUNT(*) FROM sys.availability_databases_cluster WHERE database_name = N'Sales'"); n != 1 {
		t.Errorf("availability_databases_cluster has %d rows for Sales", n)
	}
	// Rows written on the primary are on the secondaries with the same LSNs.
	exec(t, a.db[0], "INSERT INTO Sales.dbo.orders (id, at) VALUES (1, SYSDATETIME())")
	if n := count(t, a.db[2], "SELECT COUNT(*) FROM Sales.dbo.orders"); n != 1 {
		t.Errorf("SQL3 holds %d orders, want 1", n)
	}
	lsn := func(db *sql.DB) string {
		var s string
		db.QueryRow("SELECT CAST(last_hardened_lsn AS nvarchar(40)) FROM sys.dm_hadr_database_replica_states WHERE is_local = 1").Scan(&s)
		return s
	}
	if l0, l2 := lsn(a.db[0]), lsn(a.db[2]); l0 == "" || l0 != l2 {
		t.Errorf("last_hardened_lsn primary %q, SQL3 %q", l0, l2)
	}
}

func equalFold(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// TestAGBackupPreference: fn_hadr_backup_is_preferred_replica follows the
// preference, the priorities (0 never; ties by name) and the connected
// replicas, as ALTER AVAILABILITY GROUP changes them.
func TestAGBackupPreference(t *testing.T) {
	a := startAG(t, 3)
	g := a.groupSales(t, "secondary")
	wantPreferred(t, a, "secondary, equal priorities", 0, 1, 0)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] MODIFY REPLICA ON N'SQL3' WITH (BACKUP_PRIORITY = 60)")
	wantPreferred(t, a, "secondary, SQL3 at 60", 0, 0, 1)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] SET (AUTOMATED_BACKUP_PREFERENCE = PRIMARY)")
	wantPreferred(t, a, "primary", 1, 0, 0)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] SET (AUTOMATED_BACKUP_PREFERENCE = NONE)")
	wantPreferred(t, a, "none, SQL3 highest", 0, 0, 1)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] MODIFY REPLICA ON N'SQL3' WITH (BACKUP_PRIORITY = 0)")
	wantPreferred(t, a, "none, SQL3 never, SQL1 and SQL2 tie", 1, 0, 0)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] SET (AUTOMATED_BACKUP_PREFERENCE = SECONDARY_ONLY)")
	wantPreferred(t, a, "secondary_only, SQL3 never", 0, 1, 0)
	if err := g.Kill(a.in[1].Instance); err != nil {
		t.Fatal(err)
	}
	wantPreferred(t, a, "secondary_only, SQL2 down, SQL3 never", 0, 0, 0)
	var conn, health string
	var role sql.NullString
	err := a.db[0].QueryRow(`SELECT s.role_desc, s.connected_state_desc, s.synchronization_health_desc FROM sys.dm_hadr_availability_replica_states s
		JOIN sys.availability_replicas r ON r.replica_id = s.replica_id WHERE r.replica_server_name = N'SQL2'`).Scan(&role, &conn, &health)
	if err != nil || role.Valid || conn != "DISCONNECTED" || health != "NOT_HEALTHY" {
		t.Errorf("SQL2 from the primary: %v %s %s %v", role, conn, health, err)
	}
	if err := a.db[1].QueryRow("SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1").Scan(&role); err != nil || role.String != "RESOLVING" {
		t.Errorf("SQL2 sees itself %v %v", role, err)
	}
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] SET (AUTOMATED_BACKUP_PREFERENCE = SECONDARY)")
	wantPreferred(t, a, "secondary, the primary the only candidate online", 1, 0, 0)
	if err := g.Revive(a.in[1].Instance); err != nil {
		t.Fatal(err)
	}
	wantPreferred(t, a, "secondary, SQL2 back", 0, 1, 0)
	if n := count(t, a.db[0], "SELECT CAST(sys.fn_hadr_backup_is_preferred_replica(N'master') AS int)"); n != 1 {
		t.Errorf("a database in no group: %d, want 1", n)
	}
}

// TestAGSecondaryBackupTypes: a secondary takes copy-only fulls and
// regular log backups and refuses the rest with 3059.
func TestAGSecondaryBackupTypes(t *testing.T) {
	a := startAG(t, 2)
	g := a.groupSales(t, "secondary")
	sec := a.db[1]
	for _, q := range []string{
		"BACKUP DATABASE Sales TO URL = N'" + agContainer + "/s-full.bak'",
		"BACKUP DATABASE Sales TO URL = N'" + agContainer + "/s-diff.bak' WITH DIFFERENTIAL",
		"BACKUP LOG Sales TO URL = N'" + agContainer + "/s-copylog.trn' WITH COPY_ONLY",
	} {
		wantFailure(t, sec, q, []int32{3059, 3013}, "secondary replica")
	}
	exec(t, sec, "BACKUP DATABASE Sales TO URL = N'"+agContainer+"/s-copy.bak' WITH COPY_ONLY")
	exec(t, sec, "BACKUP LOG Sales TO URL = N'"+agContainer+"/s-log.trn'")
	if n := count(t, sec, "SELECT COUNT(*) FROM msdb.dbo.backupset WHERE database_name = N'Sales'"); n != 2 {
		t.Errorf("SQL2 msdb has %d backups of Sales, want 2", n)
	}
	// Cut off from the primary, a secondary takes no backup.
	if err := g.Kill(a.in[1].Instance); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, sec, "BACKUP LOG Sales TO URL = N'"+agContainer+"/s-log2.trn'", []int32{50000, 3013}, "connected to the primary")
	// The primary still takes a differential on the base its full set.
	exec(t, a.db[0], "BACKUP DATABASE Sales TO URL = N'"+agContainer+"/p-diff.bak' WITH DIFFERENTIAL")
}

// TestAGLogChainAcrossFailover: log backups on the primary, then on a
// secondary, then after a failover on both form one chain (each first_lsn
// the previous last_lsn) that restores to a point in time elsewhere.
func TestAGLogChainAcrossFailover(t *testing.T) {
	a := startAG(t, 3)
	a.groupSales(t, "secondary")
	t0 := a.clock.Now()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	insert := func(db *sql.DB, id, min int) {
		a.clock.Set(at(min))
		exec(t, db, "INSERT INTO Sales.dbo.orders (id, at) VALUES (@p1, @p2)", id, at(min))
	}
	type link struct {
		db   *sql.DB
		name string
	}
	var chain []link
	logBackup := func(i int, name string, min int) {
		a.clock.Set(at(min))
		exec(t, a.db[i], "BACKUP LOG Sales TO URL = N'"+agContainer+"/"+name+"'")
		chain = append(chain, link{a.db[i], name})
	}
	insert(a.db[0], 1, 1)
	logBackup(0, "l1.trn", 2) // primary
	insert(a.db[0], 2, 3)
	logBackup(1, "l2.trn", 4) // secondary SQL2
	exec(t, a.db[1], "ALTER AVAILABILITY GROUP [ag1] FAILOVER")
	insert(a.db[1], 3, 5) // on the new primary
	insert(a.db[1], 4, 7)
	logBackup(0, "l3.trn", 8) // SQL1, now a secondary
	insert(a.db[1], 5, 9)
	logBackup(1, "l4.trn", 10) // the new primary
	var prevLast string
	for i, l := range chain {
		var first, last string
		err := l.db.QueryRow(`SELECT CAST(b.first_lsn AS nvarchar(30)), CAST(b.last_lsn AS nvarchar(30)) FROM msdb.dbo.backupset b
			JOIN msdb.dbo.backupmediafamily m ON m.media_set_id = b.media_set_id WHERE m.physical_device_name = @p1`, agContainer+"/"+l.name).Scan(&first, &last)
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		if i > 0 && first != prevLast {
			t.Errorf("%s starts at %s, the previous log backup ended at %s: the chain breaks", l.name, first, prevLast)
		}
		prevLast = last
	}
	// Restore elsewhere to 8m30s: rows 1-4, not row 5.
	other := startAG(t, 1)
	r := other.db[0]
	a.blobs.mu.Lock()
	for k, v := range a.blobs.blobs {
		other.blobs.blobs[k] = v
	}
	a.blobs.mu.Unlock()
	exec(t, r, "RESTORE DATABASE Sales FROM URL = N'"+agContainer+"/full.bak' WITH NORECOVERY")
	stop := at(8).Add(30 * time.Second).Format("2006-01-02T15:04:05")
	for i, l := range chain {
		opt := "NORECOVERY"
		if i == len(chain)-1 {
			opt = "RECOVERY, STOPAT = N'" + stop + "'"
		}
		exec(t, r, "RESTORE LOG Sales FROM URL = N'"+agContainer+"/"+l.name+"' WITH "+opt)
	}
	if n := count(t, r, "SELECT COUNT(*) FROM Sales.dbo.orders"); n != 4 {
		t.Errorf("restored to %s: %d orders, want 4", stop, n)
	}
}

// TestAGRestoreRefused: RESTORE over a group database is 3104 on the
// primary and on a secondary; SET HADR OFF is for secondaries (35240 on
// the primary); out of the group the database restores.
func TestAGRestoreRefused(t *testing.T) {
	a := startAG(t, 2)
	a.groupSales(t, "primary")
	q := "RESTORE DATABASE Sales FROM URL = N'" + agContainer + "/full.bak' WITH REPLACE"
	wantFailure(t, a.db[0], q, []int32{3104, 3013}, "availability group")
	wantFailure(t, a.db[1], q, []int32{3104, 3013}, "availability group")
	wantFailure(t, a.db[0], "ALTER DATABASE [Sales] SET HADR OFF", []int32{35240}, "primary replica")
	wantFailure(t, a.db[1], "DROP DATABASE [Sales]", []int32{3752}, "availability group")
	exec(t, a.db[1], "ALTER DATABASE [Sales] SET HADR OFF")
	exec(t, a.db[1], q)
	exec(t, a.db[0], "ALTER AVAILABILITY GROUP [ag1] REMOVE DATABASE [Sales]")
	exec(t, a.db[0], q)
}
