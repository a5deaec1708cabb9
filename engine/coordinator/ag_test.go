package coordinator_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// agStack is a coordinator and a simulated availability group: replicas
// SQLAG1 (the first primary), SQLAG2, ... holding database Sales (table
// t), none registered yet.
type agStack struct {
	*stack
	sims  []*sqlsim.Instance
	conns []*sql.DB
	group *sqlsim.Group
}

func newAGStack(t *testing.T, pref string, n int) *agStack {
	t.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	env := enginetest.Start(t)
	a := &agStack{}
	for i := range n {
		cfg := env.SimConfig(saPW)
		cfg.MachineName = fmt.Sprintf("SQLAG%d", i+1)
		sim := env.StartSim(cfg)
		conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, sim.Port()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		a.sims, a.conns = append(a.sims, sim), append(a.conns, conn)
	}
	a.stack = &stack{t: t, ctx: ctx, db: catalog, env: env, sim: a.sims[0], coord: env.Coordinator(catalog, nil), sql: a.conns[0]}
	a.exec("CREATE DATABASE Sales")
	a.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	a.exec("INSERT INTO Sales.dbo.t VALUES (1, N'before the full')")
	g, err := sqlsim.NewGroup("SalesAG", "localhost:1433", pref, a.sims...) // dns_name localhost: ag_listener_test.go connects by it
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || strings.Contains(err.Error(), "not yet implemented")) {
		t.Skip("sqlsim simulates no availability groups yet:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AddDatabase(ctx, "Sales"); err != nil {
		t.Fatal(err)
	}
	a.group = g
	return a
}

// registerReplica registers replica i under its machine name.
func (a *agStack) registerReplica(i int) db.Server {
	a.t.Helper()
	srv, job, err := a.coord.RegisterServer(a.ctx, coordinator.ServerInput{Name: fmt.Sprintf("SQLAG%d", i+1), Host: "127.0.0.1",
		Port: a.sims[i].Port(), Username: "sa", Password: saPW})
	if err != nil {
		a.t.Fatal(err)
	}
	a.mustComplete(job)
	return srv
}

// protectAll registers every replica and protects Sales from the last one.
func (a *agStack) protectAll() db.Item {
	a.t.Helper()
	var last db.Server
	for i := range a.sims {
		last = a.registerReplica(i)
	}
	it, job, err := a.coord.Protect(a.ctx, a.database(last.ID, "Sales").ID, a.policy().ID)
	if err != nil {
		a.t.Fatal(err)
	}
	if j := a.mustComplete(job); j.Replica != "SQLAG1" {
		a.t.Errorf("the first full ran on %q, want the primary SQLAG1", j.Replica)
	}
	// Restores name whole seconds: later points end in a later one.
	time.Sleep(1100 * time.Millisecond)
	return it
}

// backupOn commits a row on the primary (so a log has something to
// carry), runs an on-demand backup and returns its job.
func (a *agStack) backupOn(it db.Item, kind string) db.Job {
	a.t.Helper()
	a.write()
	id, err := a.coord.BackupNow(a.ctx, it.ID, kind, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.mustComplete(id)
}

// write inserts a row on the group's primary.
func (a *agStack) write() {
	a.t.Helper()
	for i, s := range a.sims {
		if s == a.group.Primary() {
			if _, err := a.conns[i].ExecContext(a.ctx, "INSERT INTO Sales.dbo.t VALUES (100, N'more')"); err != nil {
				a.t.Fatal(err)
			}
		}
	}
}

func stepDetail(j db.Job, name string) string {
	for _, s := range j.Steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}

// TestAGDiscoveryShowsTheGroupAndOneItem: registering one replica shows
// the group, both replicas with their roles and the one missing a
// registration; a group database is one item, whichever replica's row
// protects it.
func TestAGDiscoveryShowsTheGroupAndOneItem(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	first := a.registerReplica(1)
	groups, err := a.coord.AvailabilityGroups(a.ctx)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups = %+v, %v", groups, err)
	}
	g := groups[0]
	roles := map[string]string{}
	for _, r := range g.Replicas {
		roles[r.Name] = r.Role
	}
	// A secondary knows its own role only (sys.dm_hadr_availability_replica_states
	// answers local rows there); the primary's shows once it is registered.
	if g.Name != "SalesAG" || g.Preference != "secondary" || len(g.Replicas) != 2 || roles["SQLAG2"] != "SECONDARY" {
		t.Errorf("group = %+v", g)
	}
	if len(g.Missing) != 1 || !strings.HasPrefix(g.Missing[0], "SQLAG1") {
		t.Errorf("missing registrations = %v, want SQLAG1", g.Missing)
	}
	primary := a.registerReplica(0)
	groups, _ = a.coord.AvailabilityGroups(a.ctx)
	if len(groups[0].Missing) != 0 || len(groups[0].Databases) != 1 || groups[0].Replicas[0].Role == "" {
		t.Errorf("after registering both: %+v", groups[0])
	}
	pol := a.policy()
	it, job, err := a.coord.Protect(a.ctx, a.database(first.ID, "Sales").ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j := a.mustComplete(job); j.Replica != "SQLAG1" {
		t.Errorf("the full ran on %q, want the primary", j.Replica)
	}
	_, _, err = a.coord.Protect(a.ctx, a.database(primary.ID, "Sales").ID, pol.ID)
	if engine.CodeOf(err) != engine.CodeDatabaseAlreadyProtd {
		t.Errorf("protecting the group database again from the primary: %v", err)
	}
	if d := a.database(primary.ID, "Sales"); d.ItemID == nil || *d.ItemID != it.ID {
		t.Errorf("the primary's row shows item %v, want %d", d.ItemID, it.ID)
	}
}

// TestAGPreferenceChoosesWhereLogsRun: under each preference full and
// differential backups run on the primary and logs where the preference
// and priorities say; a full asked on a secondary never happens.
func TestAGPreferenceChoosesWhereLogsRun(t *testing.T) {
	a := newAGStack(t, "primary", 2)
	it := a.protectAll()
	for _, c := range []struct {
		pref    string
		prio1   int
		wantLog string
	}{{"primary", 50, "SQLAG1"}, {"secondary", 50, "SQLAG2"}, {"secondary_only", 50, "SQLAG2"}, {"none", 90, "SQLAG1"}, {"none", 10, "SQLAG2"}} {
		if err := a.group.SetPreference(c.pref); err != nil {
			t.Fatal(err)
		}
		a.group.SetPriority(a.sims[0], c.prio1)
		a.mustComplete(mustRediscover(a, 0))
		if j := a.backupOn(it, mssql.KindLog); j.Replica != c.wantLog {
			t.Errorf("%s (SQLAG1 priority %d): log ran on %q, want %s (%s)", c.pref, c.prio1, j.Replica, c.wantLog, stepDetail(j, "Choose replica"))
		}
		if j := a.backupOn(it, mssql.KindDifferential); j.Replica != "SQLAG1" {
			t.Errorf("%s: differential ran on %q, want the primary", c.pref, j.Replica)
		}
	}
	a.backupOn(it, mssql.KindLog)
	if n := a.chainLen(it); n != 3 {
		t.Errorf("the newest log restores through %d backups, want the full, the newest differential and the log", n)
	}
}

func mustRediscover(a *agStack, i int) int64 {
	a.t.Helper()
	srv, err := a.db.ServerByInstanceKey(a.ctx, fmt.Sprintf(`SQLAG%d\MSSQLSERVER`, i+1))
	if err != nil {
		a.t.Fatal(err)
	}
	id, err := a.coord.Rediscover(a.ctx, srv.ID)
	if err != nil {
		a.t.Fatal(err)
	}
	return id
}

// TestAGReplicaDownHandsOver: the preferred secondary cut off from the
// group, the next replica by priority takes the log and the job says why.
func TestAGReplicaDownHandsOver(t *testing.T) {
	a := newAGStack(t, "secondary", 3)
	a.group.SetPriority(a.sims[1], 80)
	a.group.SetPriority(a.sims[2], 40)
	it := a.protectAll()
	if j := a.backupOn(it, mssql.KindLog); j.Replica != "SQLAG2" {
		t.Fatalf("log ran on %q, want SQLAG2 by priority", j.Replica)
	}
	if err := a.group.Kill(a.sims[1]); err != nil {
		t.Fatal(err)
	}
	j := a.backupOn(it, mssql.KindLog)
	if why := stepDetail(j, "Choose replica"); j.Replica != "SQLAG3" || !strings.Contains(why, "SQLAG2") {
		t.Errorf("with SQLAG2 cut off the log ran on %q (%s), want SQLAG3 saying why", j.Replica, why)
	}
	if n := a.chainLen(it); n != 3 {
		t.Errorf("the newest log restores through %d backups, want the full and both logs", n)
	}
}

// chainLen is how many backups a restore to the item's newest point
// applies: every log since the full when the chain holds.
func (a *agStack) chainLen(it db.Item) int {
	a.t.Helper()
	points, err := a.db.ListPoints(a.ctx, it.ID)
	if err != nil || len(points) == 0 {
		a.t.Fatalf("points: %v", err)
	}
	plan, err := a.coord.Plan(a.ctx, it.ID, points[len(points)-1].ID, nil)
	if err != nil {
		for _, p := range points {
			a.t.Logf("%s %v..%v %s..%s", p.Kind, p.StartTime, p.EndTime, p.FirstLSN, p.LastLSN)
		}
		a.t.Fatalf("plan to the newest point: %v", err)
	}
	return len(plan.Steps)
}

// TestAGSecondaryRefusesDifferential: SQL Server takes no differential
// on a secondary replica; the plugin reports the refusal with a code.
func TestAGSecondaryRefusesDifferential(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	a.protectAll()
	conn, err := mssql.Connect(a.ctx, enginetest.Target(a.sims[1], "sa", saPW))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sas, revoke := a.env.Device.Hold(a.ctx, "ag-diff", vdi.GrantBackup)
	defer revoke()
	if err := conn.EnsureCredential(a.ctx, a.env.Device.ContainerURL("ag-diff"), sas); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Backup(a.ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindDifferential,
		URLs: []string{a.env.Device.BlobURL("ag-diff", "x.bak")}}, func(int) {})
	if err == nil || engine.CodeOf(err) == engine.CodeInternal {
		t.Errorf("differential on a secondary: %v, want a coded refusal", err)
	}
}

// TestAGFailoverKeepsTheChain: log backups before and after a failover,
// taken on different replicas, are one chain; a point-in-time restore to
// a second between two logs from different replicas holds exactly that
// second's rows.
func TestAGFailoverKeepsTheChain(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	it := a.protectAll()
	insert := func(id int) time.Time {
		p := a.group.Primary()
		for i, s := range a.sims {
			if s == p {
				if _, err := a.conns[i].ExecContext(a.ctx, "INSERT INTO Sales.dbo.t VALUES (@p1, N'row')", id); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(1100 * time.Millisecond)
		at := time.Now().UTC().Truncate(time.Second)
		time.Sleep(1100 * time.Millisecond)
		return at
	}
	insert(2)
	before := a.backupOn(it, mssql.KindLog) // on SQLAG2, the secondary
	if err := a.group.Failover(a.sims[1]); err != nil {
		t.Fatal(err)
	}
	t3 := insert(3) // on SQLAG2, now primary
	insert(4)
	after := a.backupOn(it, mssql.KindLog) // on SQLAG1, now the secondary
	if before.Replica == after.Replica {
		t.Errorf("both logs ran on %s; the failover should move the log to the other secondary", before.Replica)
	}
	ranges, err := a.coord.LogRanges(a.ctx, it.ID)
	if err != nil || len(ranges) != 1 {
		t.Fatalf("ranges across the failover = %+v, %v; want one", ranges, err)
	}
	job, err := a.coord.Restore(a.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &t3,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_t3"}})
	if err != nil {
		t.Fatal(err)
	}
	j := a.mustComplete(job)
	target := a.conns[0]
	if j.ServerID != nil {
		for i := range a.sims {
			if s, _ := a.db.ServerByID(a.ctx, *j.ServerID); s.Name == fmt.Sprintf("SQLAG%d", i+1) {
				target = a.conns[i]
			}
		}
	}
	got := column[int](t, a.ctx, target, "SELECT id FROM Sales_t3.dbo.t ORDER BY id")
	// Row 100 went in before the first log, row 4 after t3.
	if !slices.Equal(got, []int{1, 2, 3, 100}) {
		t.Errorf("restore to %v holds %v, want [1 2 3 100]", t3, got)
	}
	// Over the original only once the user confirms leaving the group.
	_, err = a.coord.Restore(a.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &t3,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}})
	if engine.CodeOf(err) != engine.CodeAGRestoreOverGroup || !strings.Contains(engine.MessageOf(err), "ALTER") {
		t.Errorf("restore over the group database without confirming: %v", err)
	}
}

// TestAGFailoverMidSchedule: scheduled log backups go on through a
// failover, each on the replica the preference picks at its slot, as one
// chain.
func TestAGFailoverMidSchedule(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	a.coord.Stop()
	clk := enginetest.NewClock(at(9, 59))
	a.coord = a.newCoordinator(clk)
	it := a.protectAll()
	var replicas []string
	slot := func(tm time.Time) {
		t.Helper()
		mark := a.lastJobID()
		a.write()
		clk.Set(tm)
		a.coord.RunDue(a.ctx, *it.PolicyID)
		jobs, _ := a.db.ListJobs(a.ctx, db.JobFilter{ItemID: it.ID, Operation: "backup", Limit: 10})
		for _, j := range jobs {
			if j.ID > mark {
				j = a.mustComplete(j.ID)
				if j.Kind != mssql.KindLog {
					t.Errorf("at %s: a %s backup, want only the log", tm.Format("15:04"), j.Kind)
				}
				replicas = append(replicas, j.Replica)
			}
		}
	}
	slot(at(10, 15))
	if err := a.group.Failover(a.sims[1]); err != nil {
		t.Fatal(err)
	}
	a.mustComplete(mustRediscover(a, 1))
	slot(at(10, 30))
	if !slices.Equal(replicas, []string{"SQLAG2", "SQLAG1"}) {
		t.Errorf("scheduled logs ran on %v, want SQLAG2 (secondary) then SQLAG1 (secondary after the failover)", replicas)
	}
	if n := a.chainLen(it); n != 3 {
		t.Errorf("the newest log restores through %d backups, want the full and both logs", n)
	}
}
