package coordinator_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// rowsOn reads Sales.dbo.t's ids on replica i.
func (a *agStack) rowsOn(i int) []int {
	a.t.Helper()
	return column[int](a.t, a.ctx, a.conns[i], "SELECT id FROM Sales.dbo.t ORDER BY id")
}

// inGroupOn says whether replica i still has Sales joined to the group.
func (a *agStack) inGroupOn(i int) bool {
	a.t.Helper()
	var n int
	err := a.conns[i].QueryRowContext(a.ctx, `SELECT count(*) FROM sys.dm_hadr_database_replica_states r
		JOIN sys.databases d ON d.database_id = r.database_id WHERE r.is_local = 1 AND d.name = N'Sales'`).Scan(&n)
	if err != nil {
		a.t.Fatal(err)
	}
	return n > 0
}

// TestAGRestoreOverTheOriginal: an original restore of a group database
// is refused, with its code and action, until the user confirms it
// leaves the group; it then goes to the primary (not the secondary the
// item was protected from) or to the replica picked, runs the statement
// Microsoft documents for that role (REMOVE DATABASE on the primary, SET
// HADR OFF on a secondary) and restores the point's rows.
func TestAGRestoreOverTheOriginal(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	it := a.protectAll() // from SQLAG2, a secondary
	point := a.backupOn(it, mssql.KindLog)
	if _, err := a.conns[0].ExecContext(a.ctx, "INSERT INTO Sales.dbo.t VALUES (200, N'after the point')"); err != nil {
		t.Fatal(err)
	}
	points, _ := a.db.ListPoints(a.ctx, it.ID)
	last := points[len(points)-1]
	if last.JobID == nil || *last.JobID != point.ID {
		t.Fatalf("the newest point is not the log's: %+v", last)
	}
	restore := func(target coordinator.RestoreTarget) (db.Job, error) {
		t.Helper()
		id, err := a.coord.Restore(a.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: last.ID, Target: target})
		if err != nil {
			return db.Job{}, err
		}
		return a.mustComplete(id), nil
	}
	_, err := restore(coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true})
	var coded *engine.Error
	if engine.CodeOf(err) != engine.CodeAGRestoreOverGroup || !strings.Contains(engine.MessageOf(err), "REMOVE DATABASE") ||
		!errors.As(err, &coded) || coded.Action() == "" {
		t.Fatalf("restore over the group database without confirming: %v, want %s with the statement and an action", err, engine.CodeAGRestoreOverGroup)
	}
	want := []int{1, 100} // before the full, and backupOn's before the log
	secondary, err := a.db.ServerByInstanceKey(a.ctx, `SQLAG2\MSSQLSERVER`)
	if err != nil {
		t.Fatal(err)
	}
	j, err := restore(coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, ServerID: secondary.ID, Overwrite: true, RemoveFromGroup: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := stepDetail(j, "Remove from availability group"); d != "ALTER DATABASE [Sales] SET HADR OFF" || a.inGroupOn(1) {
		t.Errorf("on the secondary picked the step was %q (still joined: %v), want SET HADR OFF", d, a.inGroupOn(1))
	}
	if got := a.rowsOn(1); !slices.Equal(got, want) {
		t.Errorf("the secondary's copy holds %v, want the point's %v", got, want)
	}
	j, err = restore(coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true, RemoveFromGroup: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := a.db.ServerByID(a.ctx, *j.ServerID); s.Name != "SQLAG1" {
		t.Errorf("the original restore went to %s, want SQLAG1, the primary", s.Name)
	}
	if d := stepDetail(j, "Remove from availability group"); !strings.Contains(d, "ALTER AVAILABILITY GROUP [SalesAG] REMOVE DATABASE [Sales]") || a.inGroupOn(0) {
		t.Errorf("on the primary the step was %q (still joined: %v), want REMOVE DATABASE", d, a.inGroupOn(0))
	}
	if got := a.rowsOn(0); !slices.Equal(got, want) {
		t.Errorf("the primary's copy holds %v, want the point's %v (row 200 came after it)", got, want)
	}
}

// TestAGMultiDatabaseRestore: a restore of several databases to one
// second guards each group database as a single restore does (refused
// unconfirmed, naming the database at fault), and once confirmed each
// original goes where it lives: the group database to the primary,
// the standalone one to its own instance, never over a namesake on the
// primary.
func TestAGMultiDatabaseRestore(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	sales := a.protectAll() // from SQLAG2
	for i, id := range []int{9, 7} {
		for _, q := range []string{"CREATE DATABASE Other", "USE Other; CREATE TABLE t (id int)", fmt.Sprintf("INSERT INTO Other.dbo.t VALUES (%d)", id)} {
			if _, err := a.conns[i].ExecContext(a.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.mustComplete(mustRediscover(a, 1))
	secondary, _ := a.db.ServerByInstanceKey(a.ctx, `SQLAG2\MSSQLSERVER`)
	other, job, err := a.coord.Protect(a.ctx, a.database(secondary.ID, "Other").ID, *sales.PolicyID)
	if err != nil {
		t.Fatal(err)
	}
	a.mustComplete(job)
	// A second inside both logs, after every row: restores name whole
	// seconds, and a record on either side of it keeps STOPAT inside.
	a.write()
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	a.backupOn(sales, mssql.KindLog)
	id, err := a.coord.BackupNow(a.ctx, other.ID, mssql.KindLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.mustComplete(id)
	req := coordinator.RestoreRequest{PointInTime: &at, Items: []coordinator.RestoreItem{{ItemID: sales.ID}, {ItemID: other.ID}},
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}}
	if _, err := a.coord.Restore(a.ctx, req); engine.CodeOf(err) != engine.CodeAGRestoreOverGroup || !strings.Contains(engine.MessageOf(err), "items[0]") {
		t.Fatalf("several databases over a group database, unconfirmed: %v, want %s naming items[0]", err, engine.CodeAGRestoreOverGroup)
	}
	req.Target.RemoveFromGroup = true
	id, err = a.coord.Restore(a.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if j := a.wait(id); j.Status != db.JobCompleted {
		for _, s := range j.Steps {
			t.Logf("%s: %s", s.Name, s.Detail)
		}
		t.Fatalf("the confirmed restore: %s %s", j.ErrorCode, j.ErrorMessage)
	}
	if a.inGroupOn(0) {
		t.Error("Sales is still joined on the primary after the confirmed restore")
	}
	for i, want := range []int{9, 7} {
		var got int
		if err := a.conns[i].QueryRowContext(a.ctx, "SELECT min(id) FROM Other.dbo.t").Scan(&got); err != nil || got != want {
			t.Errorf("Other on SQLAG%d holds %d (%v), want its own %d", i+1, got, err, want)
		}
	}
}
