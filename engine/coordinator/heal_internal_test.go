package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestLogContinuity: how a log backup starting at an LSN relates to the
// vault's chain, followed from the newest full by time.
func TestLogContinuity(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pt := func(id int64, kind string, first, last, min int) db.Point {
		return db.Point{ID: id, Kind: kind, FirstLSN: fmt.Sprint(first), LastLSN: fmt.Sprint(last), EndTime: t0.Add(time.Duration(min) * time.Minute)}
	}
	full, log := pt(1, "full", 10, 20, 0), pt(2, "log", 10, 30, 1)
	for _, tc := range []struct {
		name   string
		points []db.Point
		first  int
		want   continuity
		from   int64
	}{
		{"nothing in the vault", nil, 5, chainContinues, 0},
		{"first log after the full", []db.Point{full}, 10, chainContinues, 1},
		{"log backups taken elsewhere since the full", []db.Point{full}, 25, chainBroken, 1},
		{"the next log", []db.Point{full, log}, 30, chainContinues, 2},
		{"LSNs taken after the last log", []db.Point{full, log}, 40, chainBroken, 2},
		{"a restore's new fork", []db.Point{full, log}, 25, chainForked, 2},
		{"a later full restarts the chain", []db.Point{full, log, pt(3, "full", 32, 40, 2)}, 35, chainLostSpan, 2},
		{"a later full, the next log", []db.Point{full, log, pt(3, "full", 32, 40, 2)}, 30, chainContinues, 3},
		{"after the later full", []db.Point{full, log, pt(3, "full", 32, 40, 2)}, 45, chainBroken, 3},
		{"the healing full on the new fork", []db.Point{full, log, pt(3, "full", 21, 23, 5)}, 22, chainContinues, 3},
		{"a log on the new fork", []db.Point{full, log, pt(3, "full", 21, 23, 5), pt(4, "log", 22, 26, 6)}, 26, chainContinues, 4},
	} {
		got, from := logContinuity(tc.points, fmt.Sprint(tc.first))
		if got != tc.want || from.ID != tc.from {
			t.Errorf("%s: %d against point %d, want %d against %d", tc.name, got, from.ID, tc.want, tc.from)
		}
	}
}

// TestCatalogBreak: what the catalog alone says before a scheduled log or
// differential, under a policy that heals: no full, or a full older than
// 15 days, turns it into a full; on-demand backups and a policy with
// auto-heal off are left as asked.
func TestCatalogBreak(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &Coordinator{cfg: Config{Now: func() time.Time { return now }}}
	item := int64(1)
	job := func(kind, reason string) db.Job {
		return db.Job{ID: 9, Kind: kind, ItemID: &item, Params: fmt.Sprintf(`{"reason": %q}`, reason)}
	}
	off := false
	old := []db.Point{{ID: 1, Kind: "full", EndTime: now.Add(-16 * 24 * time.Hour)}, {ID: 2, Kind: "copy_only_full", EndTime: now.Add(-time.Hour)}}
	for _, tc := range []struct {
		name   string
		j      db.Job
		pol    policy.Policy
		points []db.Point
		want   string // "" for no break
	}{
		{"no full", job("log", "scheduled"), policy.Policy{}, nil, "no full backup in the vault"},
		{"a copy-only full is no base", job("differential", "scheduled"), policy.Policy{}, old[1:], "no full backup in the vault"},
		{"full older than 15 days", job("log", "scheduled"), policy.Policy{}, old, "is 16 days old, more than 15"},
		{"on demand", job("log", "on-demand"), policy.Policy{}, old, ""},
		{"auto-heal off", job("differential", "scheduled"), policy.Policy{AutoHeal: &off}, old, ""},
		{"a full is never healed", job("full", "scheduled"), policy.Policy{}, nil, ""},
	} {
		b := c.catalogBreak(context.Background(), tc.j, tc.pol, tc.points)
		switch {
		case tc.want == "" && b != nil:
			t.Errorf("%s: %q", tc.name, b.why)
		case tc.want != "" && (b == nil || !strings.Contains(b.why, tc.want)):
			t.Errorf("%s: %+v, want %q", tc.name, b, tc.want)
		case b != nil && b.kindFor(tc.j.Kind) != "full":
			t.Errorf("%s: runs as %s", tc.name, b.kindFor(tc.j.Kind))
		}
	}
}
