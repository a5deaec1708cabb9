package coordinator

import (
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// TestLockDates: the date storage with an object lock holds each blob
// until follows what the catalog keeps now: a live point its expiry or a
// later on-demand retain date (an undelete sets one) plus the soft delete
// period, a point past its expiry that the catalog still keeps (a chain
// needs it) at least the next day plus that period, a soft-deleted point
// the end of its soft delete period; a blob two points share takes the
// later date.
func TestLockDates(t *testing.T) {
	now := time.Date(2027, 3, 10, 15, 4, 5, 0, time.UTC)
	soft := 30 * 24 * time.Hour
	at := func(days int) *time.Time { v := now.AddDate(0, 0, days); return &v }
	live := []db.Point{
		{Blobs: []string{"a_1of2.bak", "a_2of2.bak"}, ExpiresAt: at(10)},
		{Blobs: []string{"b.bak"}, ExpiresAt: at(10), RetainUntil: at(90)},
		{Blobs: []string{"c.trn"}, ExpiresAt: at(-5)},
		{Blobs: []string{"shared.bak"}, ExpiresAt: at(3)},
		{Blobs: []string{"none.bak"}},
	}
	deleted := []db.Point{
		{Blobs: []string{"d.bak"}, ExpiresAt: at(-40), DeletedAt: at(-2)},
		{Blobs: []string{"shared.bak"}, ExpiresAt: at(-1), DeletedAt: at(20)},
	}
	got := map[string]time.Time{}
	lockDates(live, deleted, now, soft, got)
	nextDay := time.Date(2027, 3, 11, 0, 0, 0, 0, time.UTC)
	want := map[string]time.Time{
		"a_1of2.bak": at(10).Add(soft), "a_2of2.bak": at(10).Add(soft),
		"b.bak":      at(90).Add(soft),
		"c.trn":      nextDay.Add(soft),
		"none.bak":   nextDay.Add(soft),
		"d.bak":      at(-2).Add(soft),
		"shared.bak": at(20).Add(soft),
	}
	if len(got) != len(want) {
		t.Fatalf("dates for %d blobs, want %d: %v", len(got), len(want), got)
	}
	for b, w := range want {
		if !got[b].Equal(w) {
			t.Errorf("%s held until %v, want %v", b, got[b], w)
		}
	}
}
