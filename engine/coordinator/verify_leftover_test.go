package coordinator_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestInterruptedVerificationCopyIsDroppedAtTheNextVerification: the
// server stopped while a verification ran, leaving its copy
// sqlvault_verify_<item>_<job> on the instance. After the restart the
// retried verification drops that copy, and says so in its steps and the
// audit log; it leaves every database it did not make: a name of our
// pattern whose job is not in the catalog, is not a verification, is of
// another item, or asked to keep its copy, and names that only resemble
// the pattern.
func TestInterruptedVerificationCopyIsDroppedAtTheNextVerification(t *testing.T) {
	s, srv, it := protectedSales(t)
	s.backup(it, "full")
	point := s.newestPoint(it)
	s.coord.Stop() // the catalog and instance as a killed serve left them

	verifyJob := func(keep bool) db.Job {
		t.Helper()
		j, err := s.db.CreateJob(s.ctx, db.NewJob{Operation: "verify", Kind: "checkdb", ItemID: it.ID, ServerID: srv.ID,
			Params: coordinator.VerifyRequest{PointID: point.ID, ServerID: srv.ID, Keep: keep}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.db.StartJob(s.ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		return j
	}
	interrupted := verifyJob(false)
	kept := verifyJob(true)
	if err := s.db.FinishJob(s.ctx, kept.ID, db.JobCompleted, "", ""); err != nil {
		t.Fatal(err)
	}
	backups, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "backup", ItemID: it.ID, Limit: 1})
	leftover := fmt.Sprintf("sqlvault_verify_%d_%d", it.ID, interrupted.ID)
	others := []string{
		fmt.Sprintf("sqlvault_verify_%d_%d", it.ID, 999999),           // no such job
		fmt.Sprintf("sqlvault_verify_%d_%d", it.ID, backups[0].ID),    // not a verification
		fmt.Sprintf("sqlvault_verify_%d_%d", it.ID+1, interrupted.ID), // another item's name
		fmt.Sprintf("sqlvault_verify_%d_%d", it.ID, kept.ID),          // kept on purpose
		fmt.Sprintf("sqlvault_verify_%d_%d_old", it.ID, interrupted.ID),
		fmt.Sprintf("sqlvault_verify_%d_0%d", it.ID, interrupted.ID),
	}
	for _, name := range append([]string{leftover}, others...) {
		s.exec("CREATE DATABASE " + name)
	}

	s.coord = s.env.Coordinator(s.db, nil) // the restart: recovery queues the verification again
	verifies, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "verify", Limit: 1})
	if len(verifies) == 0 || verifies[0].ID <= kept.ID {
		t.Fatal("the interrupted verification was not queued again")
	}
	j := s.mustComplete(verifies[0].ID)
	names := strings.Fields(s.databaseNames())
	if slices.Contains(names, leftover) {
		t.Errorf("the interrupted verification's copy %s is still on the instance", leftover)
	}
	for _, name := range others {
		if !slices.Contains(names, name) {
			t.Errorf("%s was dropped; sqlvault did not make it", name)
		}
	}
	if !slices.ContainsFunc(j.Steps, func(st db.JobStep) bool {
		return st.Name == "Drop a leftover verification copy" && strings.Contains(st.Detail, leftover)
	}) {
		t.Errorf("the retried job's steps do not name the dropped copy: %+v", j.Steps)
	}
	audit, err := s.db.ListAudit(s.ctx, db.AuditFilter{Action: "verify.drop_leftover"})
	if err != nil || len(audit) != 1 || audit[0].TargetID != leftover || audit[0].Outcome != db.AuditSuccess {
		t.Errorf("audit entries for the drop: %+v (%v), want one for %s", audit, err, leftover)
	}
	if v := s.verification(it, point.ID); v.Status != db.VerifyClean {
		t.Errorf("the retried verification: %+v", v)
	}
}
