package coordinator_test

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// protectedSales registers the instance and protects a database Sales
// (FULL recovery, table t of ids and commit times) after its first full.
func protectedSales(t *testing.T) (*stack, db.Server, db.Item) {
	s := newStack(t)
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	s.exec("INSERT INTO Sales.dbo.t VALUES (1, N'before the full')")
	srv := s.register("sa", saPW)
	it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	return s, srv, it
}

func (s *stack) backup(it db.Item, kind string) {
	s.t.Helper()
	id, err := s.coord.BackupNow(s.ctx, it.ID, kind, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mustComplete(id)
}

func (s *stack) ids(database string) []int {
	s.t.Helper()
	return column[int](s.t, s.ctx, s.sql, "SELECT id FROM ["+database+"].dbo.t ORDER BY id")
}

// insertAt inserts row id and returns a time just after its commit, on a
// second boundary strictly between it and the next insert.
func (s *stack) insertAt(id int) time.Time {
	s.exec("INSERT INTO Sales.dbo.t VALUES (@p1, N'row')", id)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	return at
}

// TestPointInTimeRestore inserts rows at known seconds with a differential
// and log backups between them, then restores under new names to several
// times (one right after the differential) and to the differential point.
func TestPointInTimeRestore(t *testing.T) {
	s, _, it := protectedSales(t)
	t2 := s.insertAt(2)
	s.backup(it, "differential")
	t3 := s.insertAt(3) // right after the differential
	s.backup(it, "log")
	t4 := s.insertAt(4)
	s.insertAt(5)
	s.backup(it, "log")

	ranges, err := s.coord.LogRanges(s.ctx, it.ID)
	if err != nil || len(ranges) != 1 {
		t.Fatalf("log ranges = %+v, %v", ranges, err)
	}
	// The range's end, the wizard's default, is the last log's end: that
	// log is restored whole (a STOPAT there would leave it restoring).
	for i, tc := range []struct {
		at   time.Time
		want []int
	}{{t2, []int{1, 2}}, {t3, []int{1, 2, 3}}, {t4, []int{1, 2, 3, 4}}, {ranges[0].To, []int{1, 2, 3, 4, 5}}} {
		name := "Sales_pit" + strconv.Itoa(i)
		at := tc.at
		job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &at,
			Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: name}})
		if err != nil {
			t.Fatalf("restore to %v: %v", at, err)
		}
		s.mustComplete(job)
		if got := s.ids(name); !slices.Equal(got, tc.want) {
			t.Errorf("restore to %v holds %v, want %v", at, got, tc.want)
		}
	}

	// To the differential point itself: rows up to the differential.
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	var diff db.Point
	for _, p := range points {
		if p.Kind == "differential" {
			diff = p
		}
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: diff.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_diff"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_diff"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("restore to the differential holds %v", got)
	}

	// A time before the first log range is refused with the reason.
	early := points[0].StartTime.Add(-time.Hour)
	_, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &early,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_early"}})
	if c := engine.CodeOf(err); c != engine.CodeTimeNotCovered && c != engine.CodeMissingFullBackup {
		t.Errorf("restore before the first backup: %v", err)
	}
	// The restore rediscovers its target, so the new name is known and
	// another restore to it is refused without overwrite.
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "rediscover", Limit: 1})
	s.mustComplete(jobs[0].ID)
	_, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: diff.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_diff"}})
	if engine.CodeOf(err) != engine.CodeTargetDatabaseExists || coordinator.FieldOf(err) != "target.database_name" {
		t.Errorf("restore over an existing name without overwrite: %v", err)
	}
}

// TestOverwriteWithTailLog restores over the original: the tail of the log
// is backed up first, so a later restore to the latest point loses nothing.
func TestOverwriteWithTailLog(t *testing.T) {
	s, _, it := protectedSales(t)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'after the full')")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal}})
	if engine.CodeOf(err) != engine.CodeOverwriteNotConfirmed {
		t.Fatalf("overwrite without confirmation: %v", err)
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales"); !slices.Equal(got, []int{1}) {
		t.Fatalf("restored to the full: %v", got)
	}
	points, _ = s.db.ListPoints(s.ctx, it.ID)
	if len(points) != 2 || points[1].Kind != "log" {
		t.Fatalf("tail-log point missing: %+v", points)
	}
	// The tail holds row 2: restoring to it under a new name brings it back.
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[1].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_tail"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_tail"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("restore to the tail holds %v", got)
	}
}

// TestRestoreAsFiles exports the chain as .bak files with T-SQL.
func TestRestoreAsFiles(t *testing.T) {
	s, _, it := protectedSales(t)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'x')")
	s.backup(it, "log")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[1].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeFiles, Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	res, err := s.coord.RestoreFiles(s.ctx, job)
	if err != nil || len(res.Files) != 2 {
		t.Fatalf("files = %+v, %v", res, err)
	}
	if !strings.Contains(res.Script, "RESTORE DATABASE [Sales]") || !strings.Contains(res.Script, "RESTORE LOG [Sales]") ||
		!strings.Contains(res.Script, "REPLACE") {
		t.Errorf("script (overwrite asked, so REPLACE):\n%s", res.Script)
	}
	// By hand: put the files in a folder, point the script at it and run
	// it on the instance (over the original, as the script says).
	dir := t.TempDir() + "/"
	for i := range res.Files {
		f, r, err := s.coord.OpenFile(s.ctx, job, i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil || int64(len(b)) != f.Size || f.Size == 0 {
			t.Fatalf("file %d: %d bytes of %d, %v", i, len(b), f.Size, err)
		}
		os.WriteFile(dir+f.Name, b, 0o644)
	}
	s.exec("INSERT INTO Sales.dbo.t VALUES (3, N'after the export')")
	s.sql.SetMaxIdleConns(0) // no idle session keeps Sales in use
	for _, stmt := range strings.Split(strings.ReplaceAll(res.Script, coordinator.FilesDir, dir), ";\n") {
		if strings.Contains(stmt, "RESTORE") {
			s.exec(stmt[strings.Index(stmt, "RESTORE"):])
		}
	}
	if got := s.ids("Sales"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("restored by hand from the files: %v", got)
	}
}

// TestRestoreTargetNamesAndScript: a target name with a control character
// (a line break that could put GO on a line of its own, NUL, a C1 control)
// is refused naming target.database_name; the exported script quotes the
// name with QuoteName, keeps it out of its comments, and says REPLACE only
// when overwrite was asked.
func TestRestoreTargetNamesAndScript(t *testing.T) {
	s, _, it := protectedSales(t)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	for _, mode := range []string{coordinator.ModeAlternate, coordinator.ModeFiles} {
		for _, name := range []string{"evil\r\nGO\r\nDROP DATABASE master", "a\x00b", "a\u0085b", "tab\there"} {
			_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
				Target: coordinator.RestoreTarget{Mode: mode, DatabaseName: name}})
			if engine.CodeOf(err) != engine.CodeInvalidRequest || coordinator.FieldOf(err) != "target.database_name" {
				t.Errorf("%s as %q: %v (field %q), want a refusal naming target.database_name", mode, name, err, coordinator.FieldOf(err))
			}
		}
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeFiles, DatabaseName: "Sales ]copy"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	res, err := s.coord.RestoreFiles(s.ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Script, "RESTORE DATABASE [Sales ]]copy] FROM") || strings.Contains(res.Script, "REPLACE") {
		t.Errorf("script (QuoteName, no overwrite asked, so no REPLACE):\n%s", res.Script)
	}
	for _, line := range strings.Split(res.Script, "\n") {
		if strings.HasPrefix(line, "--") && strings.Contains(line, "Sales") {
			t.Errorf("a comment carries the name: %q", line)
		}
	}
}
