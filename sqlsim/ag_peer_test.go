package sqlsim

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	plugin "github.com/sqlvault/sqlvault/engine/mssql"
)

// agChildEnv carries a child's sqlsim arguments (\x1f between them).
const agChildEnv = "SQLSIM_AG_CHILD"

// TestAGChildProcess is sqlsim's Main in a child process of
// TestAGReplicasInSeparateProcesses (the test binary re-executed).
func TestAGChildProcess(t *testing.T) {
	args := os.Getenv(agChildEnv)
	if args == "" {
		t.Skip("runs only as a child of TestAGReplicasInSeparateProcesses")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the parent holds stdin open: its end, even a crash, ends the child
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if err := Main(ctx, strings.Split(args, "\x1f"), os.Stdout); err != nil {
		fmt.Println("sqlsim child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// agProc is a replica in its own process.
type agProc struct {
	cmd       *osexec.Cmd
	stdin     io.WriteCloser // held open while the child should live
	tds, peer string
	db        *sql.DB
}

const agSecret = "peer-secret-for-tests"

// startAGProc runs `sqlsim` as machine name in dir, as a replica of ag1.
func startAGProc(t *testing.T, name, dir string, extra ...string) *agProc {
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--data", dir, "--sa-password", "Sa-Passw0rd!", "--tls=false",
		"--machine-name", name, "--ag", "ag1", "--ag-listen", "127.0.0.1:0", "--ag-secret", agSecret,
		"--ag-health-timeout", "3s", "--ag-listener", "ag1-listener:1433"}, extra...)
	cmd := osexec.Command(os.Args[0], "-test.run=^TestAGChildProcess$")
	cmd.Env = append(os.Environ(), agChildEnv+"="+strings.Join(args, "\x1f"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agProc{cmd: cmd, stdin: stdin}
	t.Cleanup(p.kill)
	guard := time.AfterFunc(time.Minute, p.kill) // a child that never says it listens
	defer guard.Stop()
	sc := bufio.NewScanner(out)
	for p.tds == "" && sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " peer endpoint "); ok {
			p.peer = rest
		}
		if _, rest, ok := strings.Cut(line, " listening on "); ok {
			p.tds, _, _ = strings.Cut(rest, " ")
		}
		if strings.HasPrefix(line, "sqlsim child:") {
			t.Fatalf("%s: %s", name, line)
		}
	}
	if p.tds == "" || p.peer == "" {
		t.Fatalf("%s did not start (tds %q, peer %q)", name, p.tds, p.peer)
	}
	go io.Copy(io.Discard, out)
	if p.db, err = openDB(p.tds); err != nil {
		t.Fatal(err)
	}
	p.db.SetMaxOpenConns(1)
	t.Cleanup(func() { p.db.Close() })
	return p
}

// kill is SIGKILL: the process gets no chance to tell its peers.
func (p *agProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

func localRole(t *testing.T, db *sql.DB) string {
	t.Helper()
	var role sql.NullString
	if err := db.QueryRow("SELECT role_desc FROM sys.dm_hadr_availability_replica_states WHERE is_local = 1").Scan(&role); err != nil {
		t.Fatal(err)
	}
	return role.String
}

// waitRole polls until db's replica has role (a condition, not a time).
func waitRole(t *testing.T, db *sql.DB, who, role string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for got := localRole(t, db); got != role; got = localRole(t, db) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", who, got, role)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scanString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

const (
	salesGUID    = "SELECT CAST(rs.database_guid AS nvarchar(36)) FROM sys.databases d JOIN sys.database_recovery_status rs ON rs.database_id = d.database_id WHERE d.name = N'Sales'"
	salesLastLog = "SELECT CAST(rs.last_log_backup_lsn AS nvarchar(30)) FROM sys.databases d JOIN sys.database_recovery_status rs ON rs.database_id = d.database_id WHERE d.name = N'Sales'"
	salesLSN     = "SELECT CAST(last_hardened_lsn AS nvarchar(30)) FROM sys.dm_hadr_database_replica_states WHERE is_local = 1"
	salesOrders  = "SELECT COUNT(*) FROM Sales.dbo.orders"
)

// TestAGReplicasInSeparateProcesses: two replicas of ag1 as separate OS
// processes. A secondary started later catches up (same database_guid,
// rows, LSNs); a log backup on it moves the chain on both; it refuses a
// full without COPY_ONLY; FAILOVER on it swaps the roles in both
// processes; SIGKILL of the primary makes the other the primary; a
// restarted replica rejoins as a secondary.
func TestAGReplicasInSeparateProcesses(t *testing.T) {
	files := t.TempDir()
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startAGProc(t, "SQL1", dirA, "--ag-role", "primary")
	for _, q := range []string{"CREATE DATABASE Sales", "CREATE TABLE Sales.dbo.orders (id int)",
		"BACKUP DATABASE Sales TO DISK = N'" + filepath.Join(files, "full.bak") + "'",
		"ALTER AVAILABILITY GROUP [ag1] ADD DATABASE [Sales]",
		"INSERT INTO Sales.dbo.orders (id) VALUES (1)", "INSERT INTO Sales.dbo.orders (id) VALUES (2)"} {
		exec(t, a.db, q)
	}
	b := startAGProc(t, "SQL2", dirB, "--ag-role", "secondary", "--ag-priority", "60", "--ag-peer", a.peer)
	if ga, gb := scanString(t, a.db, salesGUID), scanString(t, b.db, salesGUID); ga == "" || ga != gb {
		t.Fatalf("database_guid of Sales: SQL1 %q, SQL2 %q", ga, gb)
	}
	if n := count(t, b.db, salesOrders); n != 2 {
		t.Fatalf("SQL2 holds %d orders, want 2", n)
	}
	if localRole(t, a.db) != "PRIMARY" || localRole(t, b.db) != "SECONDARY" {
		t.Fatalf("roles: SQL1 %s, SQL2 %s", localRole(t, a.db), localRole(t, b.db))
	}
	pluginSeesTwoProcesses(t, a, b)
	if n := count(t, a.db, "SELECT COUNT(*) FROM sys.dm_hadr_database_replica_states WHERE is_local = 0 AND synchronization_state_desc = N'SYNCHRONIZED'"); n != 1 {
		t.Errorf("the primary shows %d synchronized remote copies of Sales, want 1 (SQL2 fetched the last change)", n)
	}

	// A log backup on the secondary: the chain's end is the same on both.
	before := scanString(t, a.db, salesLastLog)
	exec(t, b.db, "BACKUP LOG Sales TO DISK = N'"+filepath.Join(files, "log1.trn")+"'")
	la, lb := scanString(t, a.db, salesLastLog), scanString(t, b.db, salesLastLog)
	if la == "" || la == before || la != lb {
		t.Errorf("last_log_backup_lsn before %q; after the secondary's log backup SQL1 %q, SQL2 %q", before, la, lb)
	}
	exec(t, a.db, "INSERT INTO Sales.dbo.orders (id) VALUES (3)")
	if n := count(t, b.db, salesOrders); n != 3 {
		t.Errorf("SQL2 holds %d orders after a third, want 3", n)
	}
	if pa, pb := scanString(t, a.db, salesLSN), scanString(t, b.db, salesLSN); pa == "" || pa != pb {
		t.Errorf("last_hardened_lsn SQL1 %q, SQL2 %q", pa, pb)
	}
	// The next log backup, on the primary, starts where the secondary's ended.
	exec(t, a.db, "BACKUP LOG Sales TO DISK = N'"+filepath.Join(files, "log2.trn")+"'")
	end1 := scanString(t, b.db, "SELECT CAST(last_lsn AS nvarchar(30)) FROM msdb.dbo.backupset WHERE database_name = N'Sales' AND type = 'L'")
	start2 := scanString(t, a.db, "SELECT CAST(first_lsn AS nvarchar(30)) FROM msdb.dbo.backupset WHERE database_name = N'Sales' AND type = 'L'")
	if end1 == "" || start2 != end1 {
		t.Errorf("SQL2's log backup ends at %q, SQL1's next starts at %q: one chain wants them equal", end1, start2)
	}
	wantFailure(t, b.db, "BACKUP DATABASE Sales TO DISK = N'"+filepath.Join(files, "s-full.bak")+"'", []int32{3059, 3013}, "secondary replica")
	exec(t, b.db, "BACKUP DATABASE Sales TO DISK = N'"+filepath.Join(files, "s-copy.bak")+"' WITH COPY_ONLY")
	wantFailure(t, b.db, "RESTORE DATABASE Sales FROM DISK = N'"+filepath.Join(files, "full.bak")+"' WITH REPLACE", []int32{3104, 3013}, "availability group")

	// FAILOVER on the secondary: both processes agree.
	exec(t, b.db, "ALTER AVAILABILITY GROUP [ag1] FAILOVER")
	waitRole(t, b.db, "SQL2 after FAILOVER", "PRIMARY")
	waitRole(t, a.db, "SQL1 after FAILOVER", "SECONDARY")
	// The primary sees both replicas' roles; a secondary only its own row.
	if n := count(t, b.db, "SELECT COUNT(*) FROM sys.dm_hadr_availability_replica_states s JOIN sys.availability_replicas r ON r.replica_id = s.replica_id WHERE (r.replica_server_name = N'SQL2' AND s.role_desc = N'PRIMARY' AND s.is_local = 1) OR (r.replica_server_name = N'SQL1' AND s.role_desc = N'SECONDARY' AND s.is_local = 0)"); n != 2 {
		t.Errorf("the new primary's replica states: %d of the 2 expected rows", n)
	}
	if n := count(t, a.db, "SELECT COUNT(*) FROM sys.dm_hadr_availability_replica_states"); n != 1 {
		t.Errorf("the secondary shows %d replica states, want its own only", n)
	}
	exec(t, b.db, "INSERT INTO Sales.dbo.orders (id) VALUES (4)")
	if n := count(t, a.db, salesOrders); n != 4 {
		t.Errorf("SQL1, now a secondary, holds %d orders, want 4", n)
	}

	// SIGKILL of the primary: the secondary takes over after the timeout.
	b.kill()
	waitRole(t, a.db, "SQL1 after SQL2 was killed", "PRIMARY")
	exec(t, a.db, "INSERT INTO Sales.dbo.orders (id) VALUES (5)")
	exec(t, a.db, "BACKUP DATABASE Sales TO DISK = N'"+filepath.Join(files, "p-full.bak")+"'")

	// SQL2 restarts from its state file believing it is the primary; the
	// newer account of SQL1 makes it a secondary, and it catches up.
	b = startAGProc(t, "SQL2", dirB, "--ag-role", "secondary", "--ag-peer", a.peer)
	waitRole(t, b.db, "SQL2 restarted", "SECONDARY")
	if n := count(t, b.db, salesOrders); n != 5 {
		t.Errorf("SQL2 restarted holds %d orders, want 5", n)
	}
}

// pluginSeesTwoProcesses: the product's discovery (engine/mssql over
// go-mssqldb) reads one group with both replicas and their roles.
func pluginSeesTwoProcesses(t *testing.T, a, b *agProc) {
	t.Helper()
	ctx := context.Background()
	conn := func(p *agProc) *plugin.Conn {
		_, port, _ := net.SplitHostPort(p.tds)
		n, _ := strconv.Atoi(port)
		c, err := plugin.Connect(ctx, plugin.Target{Host: "127.0.0.1", Port: n, User: "sa", Password: "Sa-Passw0rd!", Encrypt: "disable"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	primary, secondary := conn(a), conn(b)
	groups, err := primary.AvailabilityGroups(ctx)
	if err != nil || len(groups) != 1 || len(groups[0].Replicas) != 2 || len(groups[0].Databases) != 1 {
		t.Fatalf("the primary's groups: %+v %v", groups, err)
	}
	for _, r := range groups[0].Replicas {
		want := map[string]string{"SQL1": "PRIMARY", "SQL2": "SECONDARY"}[r.ServerName]
		if r.Role != want || !r.Connected {
			t.Errorf("replica %+v, want role %s, connected", r, want)
		}
	}
	sg, err := secondary.AvailabilityGroups(ctx)
	if err != nil || len(sg) != 1 || sg[0].GroupID != groups[0].GroupID || len(sg[0].Databases) != 1 ||
		sg[0].Databases[0].GroupDatabaseID != groups[0].Databases[0].GroupDatabaseID {
		t.Errorf("the secondary's groups %+v %v, the primary's %+v", sg, err, groups)
	}
	if p, err := secondary.ProbeReplica(ctx, "Sales"); err != nil || p.Role != "SECONDARY" || !p.Connected || !p.Preferred {
		t.Errorf("probe of SQL2 (priority 60, preference secondary): %+v %v", p, err)
	}
}

// TestAGPeerRefusesStrangers: the peer endpoint answers only callers
// holding the group's secret, so nobody else can feed it log records or
// take its roles.
func TestAGPeerRefusesStrangers(t *testing.T) {
	s := startSimWith(t, "", func(c *Config) { c.MachineName = "SQL1" })
	g, err := JoinGroup(s.Instance, "ag1", PeerConfig{Listen: "127.0.0.1:0", Secret: agSecret, Primary: true, Priority: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	for _, secret := range []string{"", "wrong-secret"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+g.PeerAddr()+"/ag/exchange",
			strings.NewReader(`{"Group":"ag1","From":"EVIL","Version":99,"Primary":"EVIL","Replicas":[{"Name":"EVIL"}]}`))
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("secret %q: %s, want 401", secret, resp.Status)
		}
	}
	if g.Primary() != s.Instance || g.ReplicaID(s.Instance) == "" {
		t.Errorf("after a stranger's account the primary is %v", g.Primary())
	}
	if _, err := JoinGroup(startSimWith(t, "", nil).Instance, "ag1", PeerConfig{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("JoinGroup without a secret: no error")
	}
	err = Main(context.Background(), []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--sa-password", "Sa-Passw0rd!",
		"--ag", "ag1", "--ag-listen", "127.0.0.1:0", "--ag-secret="}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--ag-secret") {
		t.Errorf("sqlsim --ag without a secret: %v, want an error naming --ag-secret", err)
	}
}

// TestAGGroupPersists: an instance's state file keeps its group; the
// group formed again after a restart has its databases and priorities
// without AddDatabase.
func TestAGGroupPersists(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	a := startSimWith(t, dir1, func(c *Config) { c.MachineName = "SQL1" })
	b := startSimWith(t, dir2, func(c *Config) { c.MachineName = "SQL2" })
	db := a.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE Sales")
	g, err := NewGroup("ag1", "", "secondary", a.Instance, b.Instance)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AddDatabase(context.Background(), "Sales"); err != nil {
		t.Fatal(err)
	}
	exec(t, db, "ALTER AVAILABILITY GROUP [ag1] MODIFY REPLICA ON N'SQL2' WITH (BACKUP_PRIORITY = 70)")
	db.Close()
	a.Close()
	b.Close()
	a = startSimWith(t, dir1, func(c *Config) { c.MachineName = "SQL1" })
	b = startSimWith(t, dir2, func(c *Config) { c.MachineName = "SQL2" })
	if _, err := NewGroup("ag1", "", "secondary", a.Instance, b.Instance); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*sim{a, b} {
		db := s.db(t, "sa", "Sa-Passw0rd!")
		if n := count(t, db, "SELECT COUNT(*) FROM sys.availability_databases_cluster WHERE database_name = N'Sales'"); n != 1 {
			t.Errorf("SQL%d after a restart: Sales in the group %d times, want 1", i+1, n)
		}
		if n := count(t, db, "SELECT backup_priority FROM sys.availability_replicas WHERE replica_server_name = N'SQL2'"); n != 70 {
			t.Errorf("SQL%d after a restart: SQL2's priority %d, want 70", i+1, n)
		}
	}
}
