package coordinator_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

const saPW = "Sa-Passw0rd!"

// stack is a coordinator over a temp catalog, the real vault and device,
// and one simulated instance.
type stack struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	env   *enginetest.Env
	sim   *sqlsim.Instance
	coord *coordinator.Coordinator
	sql   *sql.DB // sa's connection to the instance
}

func newStack(t *testing.T, logins ...sqlsim.Login) *stack {
	t.Helper()
	return newStackWith(t, nil, logins...)
}

// newStackWith lets a test change the coordinator's config.
func newStackWith(t *testing.T, mod func(*coordinator.Config), logins ...sqlsim.Login) *stack {
	t.Helper()
	env := enginetest.Start(t)
	cfg := env.SimConfig(saPW)
	cfg.Logins = logins
	return stackOn(t, env, cfg, mod)
}

// stackOn is a stack on env: a fresh catalog, an instance started with
// cfg, and a coordinator whose config mod changes (nil: none).
func stackOn(t *testing.T, env *enginetest.Env, cfg sqlsim.Config, mod func(*coordinator.Config)) *stack {
	t.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	sim := env.StartSim(cfg)
	coord := env.Coordinator(catalog, mod)
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &stack{t: t, ctx: ctx, db: catalog, env: env, sim: sim, coord: coord, sql: conn}
}

func (s *stack) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.sql.ExecContext(s.ctx, q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s *stack) register(user, pw string) db.Server {
	s.t.Helper()
	srv, job, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Name: "SQL01", Host: "127.0.0.1", Port: s.sim.Port(),
		Username: user, Password: pw})
	if err != nil {
		s.t.Fatal(err)
	}
	s.wait(job)
	return srv
}

// wait polls a job until it ends, with a deadline.
func (s *stack) wait(id int64) db.Job {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		j, err := s.db.JobByID(s.ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		if j.Status != db.JobQueued && j.Status != db.JobInProgress {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := s.db.JobByID(s.ctx, id)
	s.t.Fatalf("job %d did not finish: %+v", id, j)
	return db.Job{}
}

func (s *stack) mustComplete(id int64) db.Job {
	s.t.Helper()
	j := s.wait(id)
	if j.Status != db.JobCompleted {
		s.t.Fatalf("job %d (%s %s) %s: %s %s", id, j.Operation, j.Kind, j.Status, j.ErrorCode, j.ErrorMessage)
	}
	return j
}

func (s *stack) database(serverID int64, name string) db.Database {
	s.t.Helper()
	dbs, err := s.db.ListDatabases(s.ctx, serverID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, d := range dbs {
		if d.Name == name {
			return d
		}
	}
	s.t.Fatalf("database %q not discovered (%d databases)", name, len(dbs))
	return db.Database{}
}

func (s *stack) policy() policy.Policy {
	s.t.Helper()
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 30, LogDays: 15}})
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// msdbLSNs reads msdb's record of the newest backup of kind for a database.
func (s *stack) msdbLSNs(database, typ string) (first, last string) {
	s.t.Helper()
	err := s.sql.QueryRowContext(s.ctx, `SELECT TOP (1) CAST(first_lsn AS varchar(30)), CAST(last_lsn AS varchar(30))
		FROM msdb.dbo.backupset WHERE database_name = @p1 AND type = @p2 ORDER BY backup_set_id DESC`, database, typ).Scan(&first, &last)
	if err != nil {
		s.t.Fatal(err)
	}
	return first, last
}

// TestBackupKindsOfAnAwkwardName protects a database whose name needs
// quoting and runs a full (on protection), a differential and a log
// backup; each point's LSNs in the catalog match msdb's.
func TestBackupKindsOfAnAwkwardName(t *testing.T) {
	s := newStack(t)
	name := "Sales ]'DB"
	s.exec("CREATE DATABASE [Sales ]]'DB]")
	s.exec("USE [Sales ]]'DB]; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
	srv := s.register("sa", saPW)
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.Status != db.StatusHealthy || got.Version == "" {
		t.Fatalf("server after discovery = %+v", got)
	}
	d := s.database(srv.ID, name)
	it, full, err := s.coord.Protect(s.ctx, d.ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	diff, err := s.coord.BackupNow(s.ctx, it.ID, "differential", 7)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(diff)
	s.exec("INSERT INTO [Sales ]]'DB].dbo.t VALUES (3)")
	lg, err := s.coord.BackupNow(s.ctx, it.ID, "log", 0)
	if err != nil {
		t.Fatal(err)
	}
	j := s.mustComplete(lg)
	if j.BytesTransferred == 0 || len(j.Steps) < 4 {
		t.Errorf("log job = %+v", j)
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	if len(points) != 3 {
		t.Fatalf("points = %+v", points)
	}
	for _, p := range points {
		typ := map[string]string{"full": "D", "differential": "I", "log": "L"}[p.Kind]
		first, last := s.msdbLSNs(name, typ)
		if p.FirstLSN != first || p.LastLSN != last {
			t.Errorf("%s point LSNs %s-%s, msdb %s-%s", p.Kind, p.FirstLSN, p.LastLSN, first, last)
		}
		if p.ExpiresAt == nil || p.SizeBytes == 0 {
			t.Errorf("%s point = %+v", p.Kind, p)
		}
	}
	if points[0].StoredBytes <= 0 || points[0].StoredBytes >= points[0].SizeBytes {
		t.Errorf("full stored %d new bytes of %d", points[0].StoredBytes, points[0].SizeBytes)
	}
	if points[1].RetainUntil == nil || points[1].ExpiresAt.Sub(points[1].EndTime) != 7*24*time.Hour {
		t.Errorf("on-demand differential kept until %v, expires %v", points[1].RetainUntil, points[1].ExpiresAt)
	}
	// The credential of each job is dropped when it ends.
	var creds int
	s.sql.QueryRowContext(s.ctx, "SELECT count(*) FROM sys.credentials").Scan(&creds)
	if creds != 0 {
		t.Errorf("%d credentials left on the instance", creds)
	}
}

// TestNoSysadminThenScript registers a login without sysadmin: the
// server shows the code, backups are refused; the script's T-SQL grants
// the role and a rediscovery makes the server healthy.
func TestNoSysadminThenScript(t *testing.T) {
	s := newStack(t, sqlsim.Login{Name: "backup_svc", Password: "Svc-Passw0rd1"})
	srv, job, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Host: "127.0.0.1", Port: s.sim.Port(),
		Username: "backup_svc", Password: "Svc-Passw0rd1"})
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(job); j.ErrorCode != string(engine.CodeNoSysadmin) {
		t.Fatalf("discovery = %s %s", j.Status, j.ErrorCode)
	}
	got, _ := s.db.ServerByID(s.ctx, srv.ID)
	if got.StatusCode != string(engine.CodeNoSysadmin) {
		t.Fatalf("server status = %+v", got)
	}
	script, err := s.coord.PermissionScript(s.ctx, srv.ID, "", false)
	if err != nil || !strings.Contains(script, "backup_svc") || !strings.Contains(script, "MSSQLSERVER") {
		t.Fatalf("script: %v\n%s", err, script)
	}
	// The scripts run this T-SQL through sqlcmd as an administrator;
	// twice is harmless.
	linux, _ := s.coord.PermissionScript(s.ctx, srv.ID, "", true)
	grant := mssql.GrantSQL("backup_svc")
	if !strings.Contains(linux, strings.ReplaceAll(grant, "'", `'\''`)) {
		t.Fatalf("linux script lacks %s:\n%s", grant, linux)
	}
	s.exec(grant)
	s.exec(grant)
	job, _ = s.coord.Rediscover(s.ctx, srv.ID)
	s.mustComplete(job)
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.Status != db.StatusHealthy || got.StatusCode != "" {
		t.Fatalf("server after grant = %+v", got)
	}
}

// TestRegisterErrors names the field at fault for each failure.
func TestRegisterErrors(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct {
		in    coordinator.ServerInput
		code  engine.Code
		field string
	}{
		{coordinator.ServerInput{Host: "127.0.0.1", Port: s.sim.Port(), Username: "sa", Password: "wrong"}, engine.CodeSQLLoginFailed, "password"},
		{coordinator.ServerInput{Host: "127.0.0.1", Port: 1, Username: "sa", Password: "x"}, engine.CodeInstanceUnreachable, "host"},
		{coordinator.ServerInput{Host: "", Username: "sa", Password: "x"}, engine.CodeInvalidRequest, "host"},
		{coordinator.ServerInput{Host: "h", Username: "sa", Password: "x", Encrypt: "maybe"}, engine.CodeInvalidRequest, "encrypt"},
	} {
		_, _, err := s.coord.RegisterServer(s.ctx, tc.in)
		if engine.CodeOf(err) != tc.code || coordinator.FieldOf(err) != tc.field {
			t.Errorf("%+v: %v (field %q)", tc.in, err, coordinator.FieldOf(err))
		}
	}
	if list, _ := s.db.ListServers(s.ctx); len(list) != 0 {
		t.Errorf("failed registrations left %d servers", len(list))
	}
}

// TestConnectionCutFailsWithoutPoint cuts the connection halfway through
// a backup: the job fails with a code and no recovery point appears.
func TestConnectionCutFailsWithoutPoint(t *testing.T) {
	s := newStack(t)
	if err := s.sim.CreateSyntheticDatabase(s.ctx, "Big", 64<<20); err != nil {
		t.Fatal(err)
	}
	srv := s.register("sa", saPW)
	d := s.database(srv.ID, "Big")
	s.sim.SetFault(sqlsim.Fault{CutAtPercent: 50})
	it, full, err := s.coord.Protect(s.ctx, d.ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	j := s.wait(full)
	if j.Status != db.JobFailed || j.ErrorCode == "" || j.ErrorCode == string(engine.CodeInternal) {
		t.Fatalf("cut backup = %s %s %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if points, _ := s.db.ListPoints(s.ctx, it.ID); len(points) != 0 {
		t.Fatalf("a failed backup left points %+v", points)
	}
	if ms, _ := s.env.Vault.List(s.ctx, ""); len(ms) != 0 {
		t.Errorf("a failed backup left %d committed blobs in the vault", len(ms))
	}
	alerts, _ := s.db.ListAlerts(s.ctx, 10)
	if len(alerts) == 0 || alerts[0].ItemID == nil || *alerts[0].ItemID != it.ID {
		t.Errorf("alerts = %+v", alerts)
	}
	// Once the fault clears, the retry succeeds and resolves the alert.
	s.sim.SetFault(sqlsim.Fault{})
	again, err := s.coord.BackupNow(s.ctx, it.ID, "full", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(again)
	alerts, _ = s.db.ListAlerts(s.ctx, 10)
	if alerts[0].ResolvedAt == nil {
		t.Errorf("alert not resolved after success: %+v", alerts[0])
	}
}

// TestRemoveServer is refused while a database is protected or keeps
// backups, and then unregisters the server with its catalog rows.
func TestRemoveServer(t *testing.T) {
	s, srv, it := protectedSales(t)
	if err := s.coord.RemoveServer(s.ctx, srv.ID); engine.CodeOf(err) != engine.CodeConflict {
		t.Fatalf("remove with a protected database: %v", err)
	}
	s.coord.StopProtection(s.ctx, it.ID, false)
	if err := s.coord.RemoveServer(s.ctx, srv.ID); engine.CodeOf(err) != engine.CodeConflict {
		t.Fatalf("remove with kept backups: %v", err)
	}
	if err := s.coord.StopProtection(s.ctx, it.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.coord.RemoveServer(s.ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.db.ListServers(s.ctx); len(list) != 0 {
		t.Errorf("servers after remove: %+v", list)
	}
	if ms, _ := s.env.Vault.List(s.ctx, ""); len(ms) != 0 {
		t.Errorf("%d blobs left in the vault", len(ms))
	}
}

// TestChangePolicy moves an item to another policy; a stopped item must be
// resumed instead.
func TestChangePolicy(t *testing.T) {
	s, _, it := protectedSales(t)
	weekly, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Weekly", Full: policy.FullSchedule{Frequency: "weekly", Days: []string{"sunday"}, Time: "01:00", Timezone: "Europe/Berlin"},
		Retention: policy.Retention{DailyDays: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.coord.ChangePolicy(s.ctx, it.ID, weekly.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.db.ItemByID(s.ctx, it.ID); got.PolicyID == nil || *got.PolicyID != weekly.ID {
		t.Fatalf("item policy = %v", got.PolicyID)
	}
	if err := s.coord.ChangePolicy(s.ctx, it.ID, 999); coordinator.FieldOf(err) != "policy_id" {
		t.Errorf("unknown policy: %v", err)
	}
	s.coord.StopProtection(s.ctx, it.ID, false)
	if err := s.coord.ChangePolicy(s.ctx, it.ID, weekly.ID); engine.CodeOf(err) != engine.CodeProtectionStopped {
		t.Errorf("stopped item: %v", err)
	}
}
