package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// TestBackoffDoublesThenGivesUp: each failed attempt waits twice as long
// as the one before, up to an hour; the last attempt and a refusal fail
// the message.
func TestBackoffDoublesThenGivesUp(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	n := New(Options{Backoff: time.Minute, MaxAttempts: 10, Now: func() time.Time { return now }})
	boom := errors.New("connection refused")
	for done, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour} {
		status, msg, next := n.outcome(db.Delivery{Attempts: done}, boom)
		if status != db.DeliveryPending || msg != boom.Error() || next.Sub(now) != want {
			t.Errorf("after attempt %d: %s, retry in %v, want pending in %v", done+1, status, next.Sub(now), want)
		}
	}
	if status, _, _ := n.outcome(db.Delivery{Attempts: 9}, boom); status != db.DeliveryFailed {
		t.Errorf("the last attempt leaves it %s", status)
	}
	if status, _, _ := n.outcome(db.Delivery{}, permanent{boom}); status != db.DeliveryFailed {
		t.Errorf("a refusal leaves it %s", status)
	}
	if status, _, _ := n.outcome(db.Delivery{Attempts: 3}, nil); status != db.DeliverySent {
		t.Errorf("a success leaves it %s", status)
	}
}
