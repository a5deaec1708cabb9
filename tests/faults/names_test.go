package faults

import (
	"strings"
	"testing"
	"unicode"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestHostileDatabaseNames: names with brackets, quotes, Unicode and a tab
// are discovered, backed up (full and log) and restored under an equally
// awkward new name with their rows; the vault's blob names stay printable.
// A source name may hold a control character (SQL Server allows it), but a
// restore target may not: it is refused before anything runs.
func TestHostileDatabaseNames(t *testing.T) {
	s := newStack(t)
	names := []string{"Sales ]'DB", "Ünïcødé 数据库", "Tab\tName"}
	quote := func(n string) string { return "[" + strings.ReplaceAll(n, "]", "]]") + "]" }
	for _, n := range names {
		s.exec("CREATE DATABASE " + quote(n))
		s.exec("USE " + quote(n) + "; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
	}
	_, it, pol := s.protect(names[0])
	items := []db.Item{it}
	dbs, _ := s.db.ListDatabases(s.ctx, it.ServerID)
	for _, n := range names[1:] {
		for _, d := range dbs {
			if d.Name == n {
				it, full, err := s.coord.Protect(s.ctx, d.ID, pol.ID)
				if err != nil {
					t.Fatalf("protect %q: %v", n, err)
				}
				s.mustComplete(full)
				items = append(items, it)
			}
		}
	}
	if len(items) != len(names) {
		t.Fatalf("discovered %d of %d awkward names: %+v", len(items), len(names), dbs)
	}
	for i, it := range items {
		s.exec("INSERT INTO " + quote(names[i]) + ".dbo.t VALUES (3)")
		if j := s.backup(it.ID, "log"); j.Status != db.JobCompleted {
			t.Fatalf("log backup of %q = %s %s", names[i], j.ErrorCode, j.ErrorMessage)
		}
		points, _ := s.db.ListPoints(s.ctx, it.ID)
		for _, p := range points {
			for _, b := range p.Blobs {
				if strings.IndexFunc(b, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
					t.Errorf("blob name %q of %q holds a non-printable character", b, names[i])
				}
			}
		}
		target := names[i] + " copy ]'"
		if strings.ContainsFunc(target, unicode.IsControl) {
			_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[len(points)-1].ID,
				Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: target}})
			if engine.CodeOf(err) != engine.CodeInvalidRequest {
				t.Errorf("restore of %q as %q: %v, want %s", names[i], target, err, engine.CodeInvalidRequest)
			}
			target = strings.Map(func(r rune) rune {
				if unicode.IsControl(r) {
					return '_'
				}
				return r
			}, target)
		}
		if j := s.restore(it.ID, points[len(points)-1].ID, target); j.Status != db.JobCompleted {
			t.Fatalf("restore of %q as %q = %s %s", names[i], target, j.ErrorCode, j.ErrorMessage)
		}
		if n := s.rows(quote(target) + ".dbo.t"); n != 3 {
			t.Errorf("%q restored %d rows, want 3", target, n)
		}
	}
}
