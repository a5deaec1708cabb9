package web

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestFlavourBackupAndPointInTimeRestore is issue 15's acceptance line: in
// each SQL Server flavour sqlsim plays (host OS, version, time zone) a
// user registers the instance over the API, protects a database (its first
// full), commits rows at known seconds, backs up the log twice, restores
// under a new name to a chosen second and finds exactly the rows committed
// by that second. As Linux the device's CA reaches the instance only
// through its own store directory, as the permission script places it.
// The refusal of 12.0 (SQL Server 2014) is TestRegisteringSQLServer2014IsRefused.
func TestFlavourBackupAndPointInTimeRestore(t *testing.T) {
	for _, tc := range []struct {
		host, version, zone string
	}{
		{sqlsim.HostWindows, "13.0.6300.2", ""},
		{sqlsim.HostWindows, "15.0.4355.3", ""},
		{sqlsim.HostWindows, "16.0.4145.4", ""},
		{sqlsim.HostLinux, "15.0.4355.3", ""},
		{sqlsim.HostLinux, "16.0.4145.4", ""},
		{sqlsim.HostWindows, "15.0.4355.3", "America/New_York"},
		{sqlsim.HostLinux, "16.0.4145.4", "Asia/Kolkata"},
	} {
		name := tc.host + "-" + tc.version
		if tc.zone != "" {
			name += "-" + strings.ReplaceAll(tc.zone, "/", "_")
		}
		t.Run(name, func(t *testing.T) { flavourRoundTrip(t, tc.host, tc.version, tc.zone) })
	}
}

func flavourRoundTrip(t *testing.T, host, version, zone string) {
	ts := newTestServer(t)
	// A few seconds ahead of the real clock, so that the coordinator never
	// finds the simulated backups older than its own "now".
	clock := enginetest.NewClock(time.Now().UTC().Truncate(time.Second).Add(time.Minute)) // set to the second each row commits: no test waits
	t0 := clock.Now()
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.HostOS, cfg.ProductVersion, cfg.TimeZone, cfg.Now = host, version, zone, clock.Now
	if host == sqlsim.HostLinux {
		// SQL Server on Linux ignores the OS store: the CA is a file in
		// its store directory, placed before it starts.
		cfg.TrustCA = nil
		store := filepath.Join(cfg.DataDir, "security", "ca-certificates")
		if err := os.MkdirAll(store, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(store, "sqlvault-device-ca.crt"), ts.env.Device.CACertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sim := ts.env.StartSim(cfg)
	if host == sqlsim.HostLinux && sim.CAStoreDir() != filepath.Join(cfg.DataDir, "security", "ca-certificates") {
		t.Fatalf("sqlsim reads its CAs from %q, not the directory the test wrote", sim.CAStoreDir())
	}
	sa := saDB(t, sim)
	var banner string
	if err := sa.QueryRowContext(context.Background(), "SELECT @@VERSION").Scan(&banner); err != nil {
		t.Fatal(err)
	}
	if wantOS := map[string]string{sqlsim.HostWindows: " on Windows", sqlsim.HostLinux: " on Linux"}[host]; !strings.Contains(banner, version) ||
		!strings.Contains(banner, wantOS) {
		t.Fatalf("@@VERSION = %q, want %s%s", banner, version, wantOS)
	}
	simExec(t, sa, "CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE orders (id int, amount int)",
		"INSERT INTO Sales.dbo.orders VALUES (1, 10)")
	admin := ts.client(t, db.RoleAdmin)

	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1",
		"port": sim.Port(), "username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	admin.mustComplete(reg.num("discovery_job_id"))
	if srv := admin.want(admin.do("GET", fmt.Sprintf("/api/v1/servers/%d", reg.num("id")), nil), 200); srv.str("version") != version {
		t.Fatalf("registered server's version = %q, want %q", srv.str("version"), version)
	}
	sales := find(t, admin.want(admin.do("GET", fmt.Sprintf("/api/v1/databases?server_id=%d", reg.num("id")), nil), 200).list("databases"), "name", "Sales")
	// Backups here are on demand: no log schedule, and the daily full 12
	// hours away, so no scheduled backup joins the ones the test counts.
	policy := goodPolicy("On demand")
	policy["full"] = map[string]any{"frequency": "daily", "time": fmt.Sprintf("%02d:00", (time.Now().UTC().Hour()+12)%24), "timezone": "UTC"}
	policy["log"] = map[string]any{"enabled": false}
	pol := admin.want(admin.do("POST", "/api/v1/policies", policy), 201)
	item := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": pol.num("id")}), 201)
	admin.mustComplete(item.num("job_id"))

	// Rows 2-4 commit at t0+1s..t0+3s, then a log backup; row 5 at t0+6s
	// and a second log backup.
	logBackup := func(at time.Time) {
		clock.Set(at)
		b := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", item.num("id")), map[string]any{"type": "log"}), 202)
		admin.mustComplete(b.num("job_id"))
	}
	for i := 2; i <= 4; i++ {
		clock.Set(t0.Add(time.Duration(i-1) * time.Second))
		simExec(t, sa, fmt.Sprintf("INSERT INTO Sales.dbo.orders VALUES (%d, %d)", i, 10*i))
	}
	logBackup(t0.Add(5 * time.Second))
	clock.Set(t0.Add(6 * time.Second))
	simExec(t, sa, "INSERT INTO Sales.dbo.orders VALUES (5, 50)")
	logBackup(t0.Add(8 * time.Second))

	pts := admin.want(admin.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", item.num("id")), nil), 200).list("recovery_points")
	if len(pts) != 3 {
		t.Fatalf("recovery points = %v, want the full and two logs", pts)
	}
	// The points carry the UTC instants of the backups, whatever the zone.
	if got := utcTime(t, pts[2].(map[string]any), "end_time"); !got.Equal(t0.Add(8 * time.Second)) {
		t.Fatalf("second log ends at %v, want %v", got, t0.Add(8*time.Second))
	}

	// To t0+2s: rows 1 (before the full), 2 and 3; row 4 committed a
	// second later. Read from the first log only.
	at := t0.Add(2 * time.Second)
	rs := admin.want(admin.do("POST", "/api/v1/restores", map[string]any{"item_id": item.num("id"),
		"point_in_time": at.Format(time.RFC3339), "target": map[string]any{"mode": "alternate", "database_name": "Sales_pit"}}), 202)
	admin.mustComplete(rs.num("job_id"))
	if got := orderIDs(t, sa, "Sales_pit"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("restore to %v (%s) holds rows %v, want [1 2 3]", at, zoneOr(zone), got)
	}
	// To t0+7s: through both logs, row 5 included.
	at = t0.Add(7 * time.Second)
	rs = admin.want(admin.do("POST", "/api/v1/restores", map[string]any{"item_id": item.num("id"),
		"point_in_time": at.Format(time.RFC3339), "target": map[string]any{"mode": "alternate", "database_name": "Sales_pit2"}}), 202)
	admin.mustComplete(rs.num("job_id"))
	if got := orderIDs(t, sa, "Sales_pit2"); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("restore to %v (%s) holds rows %v, want [1 2 3 4 5]", at, zoneOr(zone), got)
	}
}

func zoneOr(zone string) string {
	if zone == "" {
		return "UTC"
	}
	return zone
}

// orderIDs reads the ids of database's orders table, in order.
func orderIDs(t *testing.T, sa *sql.DB, database string) []int {
	t.Helper()
	rows, err := sa.QueryContext(context.Background(), "SELECT id FROM ["+database+"].dbo.orders ORDER BY id")
	if err != nil {
		t.Fatalf("reading %s: %v", database, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
