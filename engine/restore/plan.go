// Package restore plans restores: from an item's recovery points and a
// target (a point, or a second in time) it picks the chain SQL Server must
// restore — a full, the differential that shortens the chain, the log
// backups in LSN order with STOPAT on the last — and checks LSN continuity.
// It is pure: no I/O, the caller passes the time.
package restore

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/engine"
)

// Point kinds.
const (
	Full         = "full"
	CopyOnlyFull = "copy_only_full"
	Differential = "differential"
	Log          = "log"
)

// Point is a recovery point as the planner needs it (msdb's backupset).
type Point struct {
	ID                int64
	Kind              string
	Start, End        time.Time
	FirstLSN          string
	LastLSN           string
	CheckpointLSN     string
	DatabaseBackupLSN string // for a differential: its base full's checkpoint_lsn
	Expired           bool
}

// Target is a recovery point, or a second in time.
type Target struct {
	PointID int64
	Time    *time.Time
}

// Step is one RESTORE of the plan.
type Step struct {
	Point  Point
	StopAt *time.Time // on the last log of a point-in-time restore
}

// Plan is the restore sequence, in order.
type Plan struct{ Steps []Step }

// LSNs are numeric(25,0); compare them as numbers written in decimal.
func lsnCmp(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isFull(p Point) bool { return p.Kind == Full || p.Kind == CopyOnlyFull }

// Build returns the plan for target t.
func Build(points []Point, t Target) (Plan, error) {
	points = sorted(points)
	if t.Time != nil {
		return planTime(points, t.Time.UTC().Truncate(time.Second))
	}
	p, ok := find(points, t.PointID)
	if !ok {
		return Plan{}, engine.Errorf(engine.CodeNotFound, "recovery point %d does not exist", t.PointID)
	}
	if p.Expired {
		return Plan{}, engine.Errorf(engine.CodeRecoveryPointExpired, "recovery point %d has expired", p.ID)
	}
	switch p.Kind {
	case Full, CopyOnlyFull:
		return Plan{Steps: []Step{{Point: p}}}, nil
	case Differential:
		base, err := baseOf(points, p)
		if err != nil {
			return Plan{}, err
		}
		return Plan{Steps: []Step{{Point: base}, {Point: p}}}, nil
	}
	// A log point: everything up to the end of that log, no STOPAT. Only
	// fulls and differentials that end before the log's last LSN can start
	// it (one may end in the same second as the log, yet after it).
	var starts []Point
	for _, q := range points {
		if q.Kind == Log || lsnCmp(q.LastLSN, p.LastLSN) < 0 {
			starts = append(starts, q)
		}
	}
	plan, err := planTime(starts, p.End)
	if err != nil {
		return plan, err
	}
	last := &plan.Steps[len(plan.Steps)-1]
	if last.Point.ID != p.ID {
		return Plan{}, engine.Errorf(engine.CodeLogChainBroken, "log backup %d cannot be reached by an unbroken chain", p.ID)
	}
	last.StopAt = nil
	return plan, nil
}

// baseOf finds the full a differential is based on: the non-copy-only full
// whose checkpoint LSN is the differential's database backup LSN.
func baseOf(points []Point, d Point) (Point, error) {
	for _, p := range points {
		if p.Kind == Full && lsnCmp(p.CheckpointLSN, d.DatabaseBackupLSN) == 0 {
			if p.Expired {
				return Point{}, engine.Errorf(engine.CodeRecoveryPointExpired,
					"differential %d is based on full backup %d, which has expired", d.ID, p.ID)
			}
			return p, nil
		}
	}
	return Point{}, engine.Errorf(engine.CodeMissingFullBackup,
		"the full backup differential %d is based on (checkpoint LSN %s) is not in the vault", d.ID, d.DatabaseBackupLSN)
}

// planTime restores to second at: the latest usable start (differential or
// full) at or before it, then the logs that reach it.
func planTime(points []Point, at time.Time) (Plan, error) {
	var firstErr error
	for i := len(points) - 1; i >= 0; i-- {
		start := points[i]
		if start.Expired || start.End.After(at) || !(isFull(start) || start.Kind == Differential) {
			continue
		}
		steps := []Step{{Point: start}}
		if start.Kind == Differential {
			base, err := baseOf(points, start)
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			steps = []Step{{Point: base}, {Point: start}}
		}
		if !start.End.Before(at) {
			return Plan{Steps: steps}, nil // exactly at the backup's end
		}
		logs, err := logsTo(points, start, at)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		return Plan{Steps: append(steps, logs...)}, nil
	}
	if firstErr != nil {
		return Plan{}, firstErr
	}
	return Plan{}, engine.Errorf(engine.CodeTimeNotCovered, "no full backup ends at or before %s", at.Format(time.RFC3339))
}

// logsTo follows the log chain from start until a log reaches at.
func logsTo(points []Point, start Point, at time.Time) ([]Step, error) {
	var steps []Step
	prev := start
	for _, l := range logsAfter(points, start) {
		if lsnCmp(l.FirstLSN, prev.LastLSN) > 0 {
			return nil, engine.Errorf(engine.CodeLogChainBroken,
				"the log chain breaks between backup %d (ends at LSN %s) and log backup %d (starts at LSN %s)",
				prev.ID, prev.LastLSN, l.ID, l.FirstLSN)
		}
		if l.Expired {
			return nil, engine.Errorf(engine.CodeRecoveryPointExpired, "log backup %d, needed to reach %s, has expired", l.ID, at.Format(time.RFC3339))
		}
		steps = append(steps, Step{Point: l})
		prev = l
		if l.End.Equal(at) {
			// The log's whole content is the instant asked for: restore it
			// to its end. A STOPAT there lies past the log's last record,
			// which leaves the database restoring.
			return steps, nil
		}
		if l.End.After(at) {
			stop := at
			steps[len(steps)-1].StopAt = &stop
			return steps, nil
		}
	}
	return nil, engine.Errorf(engine.CodeTimeNotCovered, "%s is after the last log backup (ends %s)",
		at.Format(time.RFC3339), prev.End.Format(time.RFC3339))
}

// logsAfter returns the logs that continue past start's last LSN, in the
// order they were taken, skipping those wholly before it. On one recovery
// fork LSNs grow with time, so time order is LSN order; across forks (a
// restore over the database numbers LSNs again from its restore point) only
// time tells the logs apart, and a log that ended before start did is of
// another fork.
func logsAfter(points []Point, start Point) []Point {
	var out []Point
	for _, p := range points {
		if p.Kind == Log && lsnCmp(p.LastLSN, start.LastLSN) > 0 && !p.End.Before(start.End) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Point) int { return cmp.Or(a.End.Compare(b.End), lsnCmp(a.FirstLSN, b.FirstLSN)) })
	return out
}

// Range is a span in which any second can be restored.
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// LogRanges returns the continuous spans restorable to any second: from
// each usable full or differential through its unbroken log chain. A break
// splits the spans.
func LogRanges(points []Point) []Range {
	points = sorted(points)
	var ranges []Range
	for _, start := range points {
		if start.Expired || !(isFull(start) || start.Kind == Differential) {
			continue
		}
		if start.Kind == Differential {
			if _, err := baseOf(points, start); err != nil {
				continue
			}
		}
		r := Range{From: start.End, To: start.End}
		prev := start
		for _, l := range logsAfter(points, start) {
			if l.Expired || lsnCmp(l.FirstLSN, prev.LastLSN) > 0 {
				break
			}
			r.To, prev = l.End, l
		}
		if r.To.After(r.From) {
			ranges = append(ranges, r)
		}
	}
	return merge(ranges)
}

func merge(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int { return a.From.Compare(b.From) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && !r.From.After(out[n-1].To) {
			if r.To.After(out[n-1].To) {
				out[n-1].To = r.To
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func sorted(points []Point) []Point {
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b Point) int {
		return cmp.Or(a.End.Compare(b.End), lsnCmp(a.LastLSN, b.LastLSN))
	})
	return out
}

func find(points []Point, id int64) (Point, bool) {
	for _, p := range points {
		if p.ID == id {
			return p, true
		}
	}
	return Point{}, false
}

// Needed returns the ids of points that retained points depend on: the full
// base of every kept differential, and the start (full or differential) and
// earlier links of every kept log's chain. Retention must not delete them.
func Needed(points []Point, keep func(Point) bool) map[int64]bool {
	points = sorted(points)
	need := map[int64]bool{}
	for _, p := range points {
		if !keep(p) {
			continue
		}
		need[p.ID] = true
		switch p.Kind {
		case Differential:
			if b, err := baseOf(withoutExpiry(points), p); err == nil {
				need[b.ID] = true
			}
		case Log:
			// The newest full or differential ending before this log, and
			// every log between them, keep this log restorable.
			for i := len(points) - 1; i >= 0; i-- {
				s := points[i]
				if s.End.After(p.End) || s.ID == p.ID {
					continue
				}
				need[s.ID] = need[s.ID] || s.Kind == Log || isFull(s) || s.Kind == Differential
				if isFull(s) {
					break
				}
				if s.Kind == Differential {
					if b, err := baseOf(withoutExpiry(points), s); err == nil {
						need[b.ID] = true
					}
					break
				}
			}
		}
	}
	return need
}

func withoutExpiry(points []Point) []Point {
	out := slices.Clone(points)
	for i := range out {
		out[i].Expired = false
	}
	return out
}

// String describes a plan for logs and job steps.
func (p Plan) String() string {
	parts := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		parts[i] = fmt.Sprintf("%s #%d", s.Point.Kind, s.Point.ID)
		if s.StopAt != nil {
			parts[i] += " STOPAT " + s.StopAt.Format(time.RFC3339)
		}
	}
	return strings.Join(parts, " → ")
}
