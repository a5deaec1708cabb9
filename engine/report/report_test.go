package report

import (
	"math"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// The forecast is the least-squares line: exact on points on a line, and
// through the mean of scattered ones.
func TestLeastSquaresFitsALine(t *testing.T) {
	slope, icept := LeastSquares([]float64{0, 1, 2, 3}, []float64{5, 7, 9, 11})
	if slope != 2 || icept != 5 {
		t.Fatalf("line through (x, 2x+5) = %vx + %v", slope, icept)
	}
	slope, icept = LeastSquares([]float64{0, 1, 2}, []float64{1, 0, 2})
	if math.Abs(slope-0.5) > 1e-9 || math.Abs(icept-0.5) > 1e-9 {
		t.Fatalf("fit of (0,1) (1,0) (2,2) = %vx + %v, want 0.5x + 0.5", slope, icept)
	}
	days := []Day{{Day: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), StoredAtEnd: 100},
		{Day: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), StoredAtEnd: 200}}
	f := forecast(days)
	if !f.Known || f.Bytes != 3200 || !f.At.Equal(days[1].Day.Add(Ahead)) {
		t.Fatalf("forecast of +100 a day from 200 = %+v, want 3200 thirty days on", f)
	}
	if forecast(days[:1]).Known {
		t.Fatal("one day gives a forecast")
	}
	if f := forecast(append([]Day{{}, {}}, days...)); f.Bytes != 3200 {
		t.Fatalf("empty days before the first data bend the line: %+v", f)
	}
}

// RPO compliance counts the time past the bound inside each gap and after
// the last point, from the item's first point on.
func TestComplianceCountsTimePastTheBound(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	until := since.Add(100 * time.Hour)
	bound := 2 * time.Hour
	// A 12-hour silence from hour 10: 10 hours past the bound.
	gaps := []db.PointGap{{From: since.Add(10 * time.Hour), To: since.Add(22 * time.Hour)}}
	got := Compliance(since, until, since, until.Add(-time.Hour), gaps, bound)
	if math.Abs(got-0.90) > 1e-9 {
		t.Fatalf("compliance = %v, want 0.90", got)
	}
	// Silent for the last 7 hours: 5 more past the bound.
	got = Compliance(since, until, since, until.Add(-7*time.Hour), gaps, bound)
	if math.Abs(got-0.85) > 1e-9 {
		t.Fatalf("compliance with a stale tail = %v, want 0.85", got)
	}
	// The first point at hour 50: only the last 50 hours are measured.
	got = Compliance(since, until, since.Add(50*time.Hour), until.Add(-7*time.Hour), nil, bound)
	if math.Abs(got-0.90) > 1e-9 {
		t.Fatalf("compliance from the first point = %v, want 0.90", got)
	}
	if Compliance(since, until, until.Add(time.Hour), until, nil, bound) != -1 {
		t.Fatal("a first point after the window is measured")
	}
}
