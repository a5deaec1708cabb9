package coordinator_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

const dbaPW = "Dba1-Passw0rd!"

// healStack is a stack on a fake clock with a DBA login of its own, Sales
// (FULL recovery) protected under an hourly policy with logs every minute
// (and differentials at half past when diff is set); its first full runs
// at 10:00:10.
func healStack(t *testing.T, diff bool, autoHeal bool) (*stack, *clock, policy.Policy, db.Item, *sql.DB) {
	s := newStack(t, sqlsim.Login{Name: "DBA1", Password: dbaPW, Sysadmin: true})
	clk := s.onClock(at(10, 0))
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	s.exec("INSERT INTO Sales.dbo.t VALUES (1, N'before the full')")
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Hourly", Full: policy.FullSchedule{Frequency: "hourly", Time: "00:00", Timezone: "UTC"},
		Differential: policy.DiffSchedule{Enabled: diff, Time: "00:30"}, Log: policy.LogSchedule{Enabled: true, EveryMinutes: 1},
		Retention: policy.Retention{DailyDays: 7, DifferentialDays: 7, LogDays: 2}, AutoHeal: &autoHeal})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(at(10, 0).Add(10 * time.Second))
	it, full, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	dba, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://DBA1:%s@127.0.0.1:%d?encrypt=disable", dbaPW, s.sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dba.Close() })
	return s, clk, p, it, dba
}

// slot moves the clock to hh:mm, fires the policy as its cron entry does,
// and returns the backup jobs that ran, as they ended.
func (s *stack) slot(clk *clock, p policy.Policy, it db.Item, hh, mm int) []db.Job {
	s.t.Helper()
	mark := s.lastJobID()
	clk.Set(at(hh, mm))
	s.coord.RunDue(s.ctx, p.ID)
	jobs, err := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: it.ID, Operation: "backup", Limit: 50})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []db.Job
	for i := len(jobs) - 1; i >= 0; i-- {
		if jobs[i].ID > mark {
			out = append(out, s.mustComplete(jobs[i].ID))
		}
	}
	return out
}

func kindsOf(jobs []db.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Kind)
	}
	return out
}

// stepText is every step of a job with its detail.
func stepText(j db.Job) string {
	var b strings.Builder
	for _, st := range j.Steps {
		fmt.Fprintf(&b, "%s: %s\n", st.Name, st.Detail)
	}
	return b.String()
}

func (s *stack) alertsOf(it db.Item, code engine.Code) []db.Alert {
	s.t.Helper()
	all, err := s.db.ListAlerts(s.ctx, 500)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []db.Alert
	for _, a := range all {
		if a.Code == string(code) && a.ItemID != nil && *a.ItemID == it.ID {
			out = append(out, a)
		}
	}
	return out
}

// TestHealAfterForeignLogBackup is the acceptance: a DBA's own
// BACKUP LOG ... TO DISK between two scheduled logs turns the next
// scheduled log into a full that says why; an alert names the foreign
// backup (time, file, login) and resolves when that full commits; logs go
// on, and a point-in-time restore to a second after the heal holds exactly
// that second's rows.
func TestHealAfterForeignLogBackup(t *testing.T) {
	s, clk, p, it, dba := healStack(t, false, true)
	s.insertAt(2)
	if got := kindsOf(s.slot(clk, p, it, 10, 1)); !slices.Equal(got, []string{"log"}) {
		t.Fatalf("10:01: %v", got)
	}
	trn := filepath.Join(t.TempDir(), "x.trn")
	if _, err := dba.ExecContext(s.ctx, "BACKUP LOG [Sales] TO DISK = N'"+trn+"'"); err != nil {
		t.Fatal(err)
	}
	s.insertAt(3)

	jobs := s.slot(clk, p, it, 10, 2)
	if len(jobs) != 1 || jobs[0].Kind != "full" {
		t.Fatalf("10:02, after the foreign log: %v", kindsOf(jobs))
	}
	text := stepText(jobs[0])
	for _, want := range []string{"log chain broken by a log backup taken outside sqlvault at ", " UTC to DISK = N'" + trn + "' by login DBA1", ": running a full"} {
		if !strings.Contains(text, want) {
			t.Errorf("the healing job's steps lack %q:\n%s", want, text)
		}
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	if last := points[len(points)-1]; last.Kind != "full" || last.JobID == nil || *last.JobID != jobs[0].ID {
		t.Errorf("newest point = %+v", last)
	}
	alerts := s.alertsOf(it, engine.CodeForeignBackup)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, trn) || !strings.Contains(alerts[0].Message, "DBA1") {
		t.Fatalf("foreign backup alerts = %+v", alerts)
	}
	if alerts[0].ResolvedAt == nil {
		t.Errorf("the alert is still open after the healing full committed: %+v", alerts[0])
	}
	gaps, _ := s.db.Gaps(s.ctx, it.ID)
	if len(gaps) != 1 || !gaps[0].Breaks || gaps[0].HealedAt == nil || !strings.Contains(gaps[0].Cause, "DBA1") {
		t.Errorf("gaps = %+v", gaps)
	}

	t4 := s.insertAt(4)
	s.insertAt(5)
	for mm := 3; mm <= 4; mm++ {
		if got := kindsOf(s.slot(clk, p, it, 10, mm)); !slices.Equal(got, []string{"log"}) {
			t.Fatalf("10:%02d, after the heal: %v", mm, got)
		}
	}
	if open := s.alertsOf(it, engine.CodeLogChainBroken); len(open) != 0 {
		t.Errorf("logs after the heal raised %+v", open)
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &t4,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_healed"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_healed"); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("restore to %v, after the heal, holds %v", t4, got)
	}
}

// TestHealAfterForeignFull: a full taken outside sqlvault (not copy-only)
// moves the differential base, so the next scheduled differential runs as
// a full naming it; the log of the same slot runs after it as a log.
func TestHealAfterForeignFull(t *testing.T) {
	s, clk, p, it, dba := healStack(t, true, true)
	bak := filepath.Join(t.TempDir(), "dba full.bak")
	if _, err := dba.ExecContext(s.ctx, "BACKUP DATABASE [Sales] TO DISK = N'"+strings.ReplaceAll(bak, "'", "''")+"'"); err != nil {
		t.Fatal(err)
	}
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'after the foreign full')")
	jobs := s.slot(clk, p, it, 10, 30)
	if got := kindsOf(jobs); !slices.Equal(got, []string{"full", "log"}) {
		t.Fatalf("10:30, after the foreign full: %v", got)
	}
	text := stepText(jobs[0])
	if !strings.Contains(text, "differential base moved by a full backup taken outside sqlvault at ") ||
		!strings.Contains(text, "DISK = N'"+bak+"' by login DBA1: running a full") {
		t.Errorf("the healing job's steps:\n%s", text)
	}
	if a := s.alertsOf(it, engine.CodeForeignBackup); len(a) != 1 || a[0].ResolvedAt == nil {
		t.Errorf("foreign backup alerts = %+v", a)
	}
	// The healing full is the base: a differential after it is one, with
	// no alert, and restores.
	s.exec("INSERT INTO Sales.dbo.t VALUES (3, N'after the heal')")
	s.backup(it, "differential")
	if a := s.alertsOf(it, engine.CodeDiffBaseNotInVault); len(a) != 0 {
		t.Errorf("a differential on the healing full raised %+v", a)
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	newest := points[len(points)-1]
	if newest.Kind != "differential" {
		t.Fatalf("newest point = %+v", newest)
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: newest.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_after"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_after"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("restore of the differential holds %v", got)
	}
}

// TestForeignLogWithAutoHealOff: the policy turns auto-heal off, so the
// next scheduled log runs as a log; the gap is found when it lands, an
// alert says the chain is broken (naming the foreign backup) and stays
// open through further logs; a restore across the gap is refused as
// broken; a full clears the alert and heals the gap.
func TestForeignLogWithAutoHealOff(t *testing.T) {
	s, clk, p, it, dba := healStack(t, false, false)
	s.slot(clk, p, it, 10, 1)
	trn := filepath.Join(t.TempDir(), "y.trn")
	if _, err := dba.ExecContext(s.ctx, "BACKUP LOG [Sales] TO DISK = N'"+trn+"'"); err != nil {
		t.Fatal(err)
	}
	t2 := s.insertAt(2)
	if got := kindsOf(s.slot(clk, p, it, 10, 2)); !slices.Equal(got, []string{"log"}) {
		t.Fatalf("10:02 without auto-heal: %v", got)
	}
	s.slot(clk, p, it, 10, 3)
	alerts := s.alertsOf(it, engine.CodeLogChainBroken)
	if len(alerts) != 1 || alerts[0].ResolvedAt != nil || !strings.Contains(alerts[0].Message, trn) || !strings.Contains(alerts[0].Message, "DBA1") {
		t.Fatalf("chain alerts = %+v", alerts)
	}
	gaps, _ := s.db.Gaps(s.ctx, it.ID)
	if len(gaps) != 1 || !gaps[0].Breaks || gaps[0].PointID == nil || gaps[0].HealedAt != nil {
		t.Fatalf("gaps = %+v", gaps)
	}
	_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &t2,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_gap"}})
	if engine.CodeOf(err) != engine.CodeLogChainBroken {
		t.Errorf("restore across the gap: %v", err)
	}
	s.backup(it, "full")
	if a := s.alertsOf(it, engine.CodeLogChainBroken); a[0].ResolvedAt == nil {
		t.Errorf("the chain alert is open after a full: %+v", a)
	}
	if gaps, _ := s.db.Gaps(s.ctx, it.ID); gaps[0].HealedAt == nil {
		t.Errorf("the gap is open after a full: %+v", gaps)
	}
}

// TestHealAfterRestoreOverOriginal: a restore over the database (here
// sqlvault's own, to the first full) starts a new recovery fork, so the
// next scheduled log runs as a full that says so; the logs after it
// restore to the second.
func TestHealAfterRestoreOverOriginal(t *testing.T) {
	s, clk, p, it, _ := healStack(t, false, true)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'before the restore')")
	s.slot(clk, p, it, 10, 1)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	jobs := s.slot(clk, p, it, 10, 2)
	if len(jobs) != 1 || jobs[0].Kind != "full" {
		t.Fatalf("10:02, after the restore: %v", kindsOf(jobs))
	}
	// msdb's restore history names the restore: sa, from the vault's full.
	text := stepText(jobs[0])
	for _, want := range []string{"a restore over the database at ", " by login sa from URL = N'https://" + s.env.DeviceName, " started a new recovery fork"} {
		if !strings.Contains(text, want) {
			t.Errorf("the healing job's steps lack %q:\n%s", want, text)
		}
	}
	t3 := s.insertAt(3)
	s.insertAt(4)
	if got := kindsOf(s.slot(clk, p, it, 10, 3)); !slices.Equal(got, []string{"log"}) {
		t.Fatalf("10:03: %v", got)
	}
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &t3,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_fork"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_fork"); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("restore to %v, on the new fork, holds %v", t3, got)
	}
}

// TestHealAfterRecoveryModelChange: SIMPLE and back to FULL ends the log
// chain (no log backup can be taken until a full), so the next scheduled
// log runs as a full instead of failing, and logs follow it.
func TestHealAfterRecoveryModelChange(t *testing.T) {
	s, clk, p, it, _ := healStack(t, false, true)
	s.slot(clk, p, it, 10, 1)
	s.exec("ALTER DATABASE Sales SET RECOVERY SIMPLE")
	s.exec("ALTER DATABASE Sales SET RECOVERY FULL")
	jobs := s.slot(clk, p, it, 10, 2)
	if len(jobs) != 1 || jobs[0].Kind != "full" || !strings.Contains(stepText(jobs[0]), "no log chain to continue") {
		t.Fatalf("10:02, after the switch: %v", kindsOf(jobs))
	}
	if got := kindsOf(s.slot(clk, p, it, 10, 3)); !slices.Equal(got, []string{"log"}) {
		t.Fatalf("10:03: %v", got)
	}
}

// TestCopyOnlyBackupsElsewhereKeepTheChain: what the foreign backup alert
// recommends, a DBA's backups WITH COPY_ONLY, neither breaks the log chain
// nor moves the differential base: the next scheduled backups run as
// scheduled, with no alert.
func TestCopyOnlyBackupsElsewhereKeepTheChain(t *testing.T) {
	s, clk, p, it, dba := healStack(t, true, true)
	s.slot(clk, p, it, 10, 1)
	dir := t.TempDir()
	for _, q := range []string{"BACKUP LOG [Sales] TO DISK = N'" + filepath.Join(dir, "c.trn") + "' WITH COPY_ONLY",
		"BACKUP DATABASE [Sales] TO DISK = N'" + filepath.Join(dir, "c.bak") + "' WITH COPY_ONLY"} {
		if _, err := dba.ExecContext(s.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := kindsOf(s.slot(clk, p, it, 10, 2)); !slices.Equal(got, []string{"log"}) {
		t.Errorf("10:02: %v", got)
	}
	if got := kindsOf(s.slot(clk, p, it, 10, 30)); !slices.Equal(got, []string{"differential", "log"}) {
		t.Errorf("10:30: %v", got)
	}
	for _, code := range []engine.Code{engine.CodeForeignBackup, engine.CodeLogChainBroken, engine.CodeDiffBaseNotInVault} {
		if a := s.alertsOf(it, code); len(a) != 0 {
			t.Errorf("%s alerts: %+v", code, a)
		}
	}
}
