package db

import (
	"context"
	"testing"
	"time"
)

// TestSignInFailuresExpire: counts add up under each key, a count older
// than the window reads as zero, and the next write deletes it, so an
// unauthenticated client cannot grow the table beyond one window's worth.
func TestSignInFailuresExpire(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d.SetClock(func() time.Time { return now })
	window := 30 * time.Minute
	for range 3 {
		if err := d.RecordFailure(ctx, window, "addr\x001.2.3.4", "user\x00bob"); err != nil {
			t.Fatal(err)
		}
	}
	if f, _ := d.FailuresSince(ctx, "addr\x001.2.3.4", now.Add(-window)); f.N != 3 || !f.Last.Equal(now) {
		t.Fatalf("count = %+v, want 3 at %v", f, now)
	}
	now = now.Add(window + time.Minute)
	if f, _ := d.FailuresSince(ctx, "addr\x001.2.3.4", now.Add(-window)); f.N != 0 {
		t.Fatalf("expired count reads %d, want 0", f.N)
	}
	d.RecordFailure(ctx, window, "addr\x005.6.7.8")
	if n, _ := d.FailureRows(ctx); n != 1 {
		t.Fatalf("%d rows after a write past the window, want 1 (the expired ones deleted)", n)
	}
	d.ClearFailures(ctx, "addr\x005.6.7.8")
	if n, _ := d.FailureRows(ctx); n != 0 {
		t.Fatalf("%d rows after clearing, want 0", n)
	}
}
