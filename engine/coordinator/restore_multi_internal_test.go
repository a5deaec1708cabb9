package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine/restore"
)

// TestCommonSecondsOfSeveralDatabases: the seconds a multi-database
// restore offers are those inside a log range of every database: overlaps
// are cut to their common part, a range touching another at one second
// keeps that second, and ranges meeting no other drop out.
func TestCommonSecondsOfSeveralDatabases(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := func(from, to int) restore.Range {
		return restore.Range{From: t0.Add(time.Duration(from) * time.Second), To: t0.Add(time.Duration(to) * time.Second)}
	}
	a := []restore.Range{r(0, 100), r(200, 300), r(400, 410)}
	b := []restore.Range{r(50, 250), r(300, 350)}
	got := intersect(a, b)
	want := []restore.Range{r(50, 100), r(200, 250), r(300, 300)}
	if !slices.Equal(got, want) {
		t.Errorf("intersect = %v, want %v", got, want)
	}
	if got := intersect(a, nil); len(got) != 0 {
		t.Errorf("with a database that has no range: %v, want none", got)
	}
}
