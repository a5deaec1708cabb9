package restore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// lsn makes LSNs that sort with n.
func lsn(n int) string { return fmt.Sprintf("%d000000100001", 30+n) }

// history: full #1 at 0-10 (LSN 1..2, ckpt 2), logs every 15 min (#2 to 20,
// #3 to 35), copy-only full #4 at 36-40, differential #5 at 41-45 based on
// #1, logs #6 to 50 and #7 to 65, a break, log #8 to 80.
func history() []Point {
	return []Point{
		{ID: 1, Kind: Full, Start: at(0), End: at(10), FirstLSN: lsn(1), LastLSN: lsn(2), CheckpointLSN: lsn(2)},
		{ID: 2, Kind: Log, Start: at(19), End: at(20), FirstLSN: lsn(1), LastLSN: lsn(4)},
		{ID: 3, Kind: Log, Start: at(34), End: at(35), FirstLSN: lsn(4), LastLSN: lsn(6)},
		{ID: 4, Kind: CopyOnlyFull, Start: at(36), End: at(40), FirstLSN: lsn(6), LastLSN: lsn(7), CheckpointLSN: lsn(7), DatabaseBackupLSN: lsn(2)},
		{ID: 5, Kind: Differential, Start: at(41), End: at(45), FirstLSN: lsn(7), LastLSN: lsn(8), CheckpointLSN: lsn(8), DatabaseBackupLSN: lsn(2)},
		{ID: 6, Kind: Log, Start: at(49), End: at(50), FirstLSN: lsn(6), LastLSN: lsn(9)},
		{ID: 7, Kind: Log, Start: at(64), End: at(65), FirstLSN: lsn(9), LastLSN: lsn(10)},
		{ID: 8, Kind: Log, Start: at(79), End: at(80), FirstLSN: lsn(12), LastLSN: lsn(13)},
	}
}

func ids(p Plan) string {
	var s []string
	for _, st := range p.Steps {
		x := fmt.Sprint(st.Point.ID)
		if st.StopAt != nil {
			x += "@" + st.StopAt.Sub(t0).String()
		}
		s = append(s, x)
	}
	return strings.Join(s, ",")
}

func TestPlans(t *testing.T) {
	tm := func(min int, sec int) *time.Time { x := at(min).Add(time.Duration(sec) * time.Second); return &x }
	cases := []struct {
		name   string
		edit   func([]Point) []Point
		target Target
		want   string
		code   engine.Code
	}{
		{"full point", nil, Target{PointID: 1}, "1", ""},
		{"differential point needs its base full, not the copy-only one", nil, Target{PointID: 5}, "1,5", ""},
		{"copy-only full alone", nil, Target{PointID: 4}, "4", ""},
		{"log point restores through it without STOPAT", nil, Target{PointID: 3}, "1,2,3", ""},
		{"time between two logs", nil, Target{Time: tm(25, 30)}, "1,2,3@25m30s", ""},
		{"time exactly at a log's end restores that log whole", nil, Target{Time: tm(20, 0)}, "1,2", ""},
		{"time exactly at the full's end", nil, Target{Time: tm(10, 0)}, "1", ""},
		{"time after the differential uses it and the log spanning it", nil, Target{Time: tm(55, 0)}, "1,5,6,7@55m0s", ""},
		{"time inside the copy-only full uses the chain", nil, Target{Time: tm(38, 0)}, "1,2,3,6@38m0s", ""},
		{"time exactly at the end of the last log before the break", nil, Target{Time: tm(65, 0)}, "1,5,6,7", ""},
		{"time across the break", nil, Target{Time: tm(70, 0)}, "", engine.CodeLogChainBroken},
		{"time before any full", nil, Target{Time: tm(5, 0)}, "", engine.CodeTimeNotCovered},
		{"time after the last log", func(p []Point) []Point { return p[:7] }, Target{Time: tm(90, 0)}, "", engine.CodeTimeNotCovered},
		{"expired base full of a differential", func(p []Point) []Point { p[0].Expired = true; return p }, Target{PointID: 5}, "", engine.CodeRecoveryPointExpired},
		{"expired point", func(p []Point) []Point { p[4].Expired = true; return p }, Target{PointID: 5}, "", engine.CodeRecoveryPointExpired},
		{"expired differential falls back to the copy-only full and logs", func(p []Point) []Point { p[4].Expired = true; return p }, Target{Time: tm(55, 0)}, "4,6,7@55m0s", ""},
		{"unknown point", nil, Target{PointID: 99}, "", engine.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pts := history()
			if c.edit != nil {
				pts = c.edit(pts)
			}
			plan, err := Build(pts, c.target)
			if c.code != "" {
				if engine.CodeOf(err) != c.code {
					t.Fatalf("err = %v, want code %s (plan %s)", err, c.code, ids(plan))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(plan); got != c.want {
				t.Fatalf("plan = %s, want %s", got, c.want)
			}
		})
	}
}

func TestChainBreakNamesBothBackups(t *testing.T) {
	x := at(70)
	_, err := Build(history(), Target{Time: &x})
	msg := engine.MessageOf(err)
	if !strings.Contains(msg, "backup 7") || !strings.Contains(msg, "log backup 8") {
		t.Fatalf("message %q does not name both sides of the break", msg)
	}
}

func TestLogRanges(t *testing.T) {
	got := LogRanges(history())
	if len(got) != 1 || !got[0].From.Equal(at(10)) || !got[0].To.Equal(at(65)) {
		t.Fatalf("ranges = %v, want one from 10m to 65m (log 8 is past a break)", got)
	}
	// A new full after the break starts a second range.
	pts := append(history(), Point{ID: 9, Kind: Full, Start: at(81), End: at(85), FirstLSN: lsn(13), LastLSN: lsn(14), CheckpointLSN: lsn(14)},
		Point{ID: 10, Kind: Log, Start: at(94), End: at(95), FirstLSN: lsn(13), LastLSN: lsn(15)})
	got = LogRanges(pts)
	if len(got) != 2 || !got[1].From.Equal(at(85)) || !got[1].To.Equal(at(95)) {
		t.Fatalf("ranges = %v, want a second span 85m to 95m", got)
	}
}

func TestNeededKeepsChains(t *testing.T) {
	pts := history()[:7]
	keep := func(p Point) bool { return p.ID == 7 } // only the newest log is retained
	need := Needed(pts, keep)
	for _, id := range []int64{1, 5, 6, 7} {
		if !need[id] {
			t.Errorf("point %d is needed to restore log 7 but was not kept (%v)", id, need)
		}
	}
	if need[4] {
		t.Error("the copy-only full is not needed by log 7")
	}
}

// TestLogEndingWithADifferential: a log backup and a differential can end
// in the same second with the differential's LSNs after the log's; the
// log point must still be restorable through the chain before them.
func TestLogEndingWithADifferential(t *testing.T) {
	pts := []Point{
		{ID: 1, Kind: Full, Start: at(0), End: at(10), FirstLSN: lsn(1), LastLSN: lsn(2), CheckpointLSN: lsn(2)},
		{ID: 2, Kind: Log, Start: at(19), End: at(20), FirstLSN: lsn(1), LastLSN: lsn(4)},
		{ID: 3, Kind: Differential, Start: at(19), End: at(20), FirstLSN: lsn(5), LastLSN: lsn(6), CheckpointLSN: lsn(6), DatabaseBackupLSN: lsn(2)},
	}
	p, err := Build(pts, Target{PointID: 2})
	if err != nil || p.String() != "full #1 → log #2" {
		t.Fatalf("plan to the log = %v, %v", p, err)
	}
	x := at(20)
	if p, err := Build(pts, Target{Time: &x}); err != nil || len(p.Steps) != 2 || p.Steps[1].Point.ID != 3 {
		t.Fatalf("plan to that second = %v, %v (the differential is the shorter chain)", p, err)
	}
}
