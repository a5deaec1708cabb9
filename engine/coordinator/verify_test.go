package coordinator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

func (s *stack) newestPoint(it db.Item) db.Point {
	s.t.Helper()
	points, err := s.db.ListPoints(s.ctx, it.ID)
	if err != nil || len(points) == 0 {
		s.t.Fatalf("points: %v, %v", points, err)
	}
	return points[len(points)-1]
}

func (s *stack) verification(it db.Item, pointID int64) db.Verification {
	s.t.Helper()
	vs, err := s.db.LatestVerifications(s.ctx, it.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	v, ok := vs[pointID]
	if !ok {
		s.t.Fatalf("point %d has no verification (%v)", pointID, vs)
	}
	return v
}

func (s *stack) databaseNames() string {
	s.t.Helper()
	return strings.Join(column[string](s.t, s.ctx, s.sql, "SELECT name FROM sys.databases"), " ")
}

// TestVerificationIsCleanWithTheSourceRowCounts: a full and a log are
// restored on the verification instance under a temporary name, CHECKDB
// finds nothing, each table holds the rows the source had when the backup
// ran, the copy is dropped, and the outcome is on both points.
func TestVerificationIsCleanWithTheSourceRowCounts(t *testing.T) {
	s, srv, it := protectedSales(t)
	s.exec("USE Sales; CREATE TABLE u (id int)")
	for i := 2; i <= 4; i++ {
		s.exec("INSERT INTO Sales.dbo.t VALUES (@p1, N'row')", i)
	}
	s.exec("INSERT INTO Sales.dbo.u VALUES (1)")
	s.backup(it, "full")
	full := s.newestPoint(it)
	s.exec("INSERT INTO Sales.dbo.t VALUES (5, N'in the log')")
	s.backup(it, "log")
	logPoint := s.newestPoint(it)

	id, err := s.coord.VerifyItem(s.ctx, it.ID, coordinator.VerifyRequest{ServerID: srv.ID})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(id)
	v := s.verification(it, logPoint.ID)
	if v.Status != db.VerifyClean || len(v.CheckDBMessages) != 0 || v.Level != "checkdb" {
		t.Fatalf("verification = %+v", v)
	}
	got := map[string]int64{}
	for _, tr := range v.Tables {
		if tr.SourceRows == nil || *tr.SourceRows != tr.Rows {
			t.Errorf("table %s: %d rows, source %v", tr.Name, tr.Rows, tr.SourceRows)
		}
		got[tr.Name] = tr.Rows
	}
	if got["t"] != 5 || got["u"] != 1 || v.Rows != 6 {
		t.Fatalf("row counts = %v, total %d; want t 5, u 1", got, v.Rows)
	}
	if fv := s.verification(it, full.ID); fv.Status != db.VerifyClean {
		t.Fatalf("the chain's full is not marked: %+v", fv)
	}
	if names := s.databaseNames(); strings.Contains(names, "sqlvault_verify") {
		t.Fatalf("verification copy left on the instance: %s", names)
	}
	if n := len(s.ids("Sales")); n != 5 {
		t.Fatalf("source holds %d rows after the verification", n)
	}
}

// TestDamagedPageFailsVerificationAndAlerts: a backup of a database with a
// damaged page restores, but CHECKDB on the copy reports 8928/8939: the
// job fails with UserErrorVerificationFailed, the point is marked failed
// with SQL Server's messages, an alert opens on the item; the cheaper
// RESTORE VERIFYONLY ... WITH CHECKSUM level fails with 3183.
func TestDamagedPageFailsVerificationAndAlerts(t *testing.T) {
	s, srv, it := protectedSales(t)
	s.sim.SetFault(sqlsim.Fault{CorruptPages: []string{"Sales"}})
	s.backup(it, "full")
	s.sim.SetFault(sqlsim.Fault{})
	p := s.newestPoint(it)

	id, err := s.coord.VerifyPoint(s.ctx, p.ID, coordinator.VerifyRequest{ServerID: srv.ID})
	if err != nil {
		t.Fatal(err)
	}
	j := s.wait(id)
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeVerificationFailed) {
		t.Fatalf("job = %s %s %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	v := s.verification(it, p.ID)
	msgs := strings.Join(v.CheckDBMessages, "\n")
	if v.Status != db.VerifyFailed || !strings.Contains(msgs, "Msg 8928") || !strings.Contains(msgs, "Msg 8939") {
		t.Fatalf("verification = %+v", v)
	}
	alerts, err := s.db.ListAlerts(s.ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range alerts {
		found = found || (a.Code == string(engine.CodeVerificationFailed) && a.ItemID != nil && *a.ItemID == it.ID && a.ResolvedAt == nil)
	}
	if !found {
		t.Fatalf("no open verification alert on the item: %+v", alerts)
	}
	if names := s.databaseNames(); strings.Contains(names, "sqlvault_verify") {
		t.Fatalf("damaged copy left on the instance: %s", names)
	}

	id, err = s.coord.VerifyPoint(s.ctx, p.ID, coordinator.VerifyRequest{ServerID: srv.ID, Level: "verifyonly"})
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(id); j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeBackupChecksum) {
		t.Fatalf("verifyonly job = %s %s %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if v := s.verification(it, p.ID); v.Level != "verifyonly" || v.Status != db.VerifyFailed {
		t.Fatalf("verifyonly verification = %+v", v)
	}
}

// TestPolicyVerifiesTheLatestFull: a policy with the verify option (after
// every full, on the instance) has the latest full and its chain verified
// once the instance is idle, and not again until a new full lands.
func TestPolicyVerifiesTheLatestFull(t *testing.T) {
	s, srv, it := protectedSales(t)
	pol, err := s.coord.Policy(s.ctx, *it.PolicyID)
	if err != nil {
		t.Fatal(err)
	}
	pol.Verify = &policy.Verify{Enabled: true, AfterFull: true, ServerID: srv.ID}
	if _, err := s.coord.UpdatePolicy(s.ctx, pol.ID, pol); err != nil {
		t.Fatal(err)
	}
	full := s.newestPoint(it)
	s.coord.QueueDueVerifications(s.ctx)
	jobs, err := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "verify", ItemID: it.ID})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("verify jobs after the first full = %v, %v", jobs, err)
	}
	s.mustComplete(jobs[0].ID)
	if v := s.verification(it, full.ID); v.Status != db.VerifyClean || v.Level != "checkdb" {
		t.Fatalf("verification = %+v", v)
	}
	s.coord.QueueDueVerifications(s.ctx)
	if again, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "verify", ItemID: it.ID}); len(again) != 1 {
		t.Fatalf("verified again without a new full: %d jobs", len(again))
	}
	s.backup(it, "full")
	s.coord.QueueDueVerifications(s.ctx)
	if after, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "verify", ItemID: it.ID}); len(after) != 2 {
		t.Fatalf("a new full was not verified: %d jobs", len(after))
	}
}

// TestUnverifiedItemRaisesOverdueAlert: an item whose policy asks for a
// daily verification and that none has verified for longer than a day
// past that opens UserErrorVerificationOverdue; a database over the
// policy's size limit is not verified.
func TestUnverifiedItemRaisesOverdueAlert(t *testing.T) {
	clock := enginetest.NewClock(time.Now())
	s := newStackWith(t, func(cfg *coordinator.Config) { cfg.Now = clock.Now })
	s.exec("CREATE DATABASE Sales")
	srv := s.register("sa", saPW)
	pol := s.policy()
	pol.Verify = &policy.Verify{Enabled: true, EveryDays: 1, ServerID: srv.ID, MaxBytes: 1}
	if _, err := s.coord.UpdatePolicy(s.ctx, pol.ID, pol); err != nil {
		t.Fatal(err)
	}
	it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	overdue := func() bool {
		alerts, _ := s.db.ListAlerts(s.ctx, 50)
		for _, a := range alerts {
			if a.Code == string(engine.CodeVerificationOverdue) && a.ItemID != nil && *a.ItemID == it.ID && a.ResolvedAt == nil {
				return true
			}
		}
		return false
	}
	s.coord.QueueDueVerifications(s.ctx)
	if overdue() {
		t.Fatal("overdue alert right after the first full")
	}
	clock.Set(time.Now().Add(50 * time.Hour))
	s.coord.QueueDueVerifications(s.ctx)
	if !overdue() {
		t.Fatal("no overdue alert two days after the full")
	}
	if jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "verify", ItemID: it.ID}); len(jobs) != 0 {
		t.Fatalf("a database over the size limit was verified: %d jobs", len(jobs))
	}
}
