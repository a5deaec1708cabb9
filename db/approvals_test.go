package db

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestApprovalRules: the requester (in any case) cannot decide their own
// request, even straight in SQL; a request is decided once; one left
// past its time limit is expired and cannot be approved.
func TestApprovalRules(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var offset atomic.Int64
	d.SetClock(func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	a, err := d.CreateApproval(ctx, Approval{Operation: "item.stop_delete", TargetType: "item", TargetID: "3",
		Summary: "stop", RequestedBy: "Ann"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DecideApproval(ctx, a.ID, "ann", true); !errors.Is(err, ErrSelfApproval) {
		t.Fatalf("self-approval = %v", err)
	}
	if _, err := d.write.ExecContext(ctx, `UPDATE approvals SET status = 'approved', decided_by = 'ann' WHERE id = ?`, a.ID); err == nil {
		t.Fatal("the catalog let the requester be the decider")
	}
	got, err := d.DecideApproval(ctx, a.ID, "bea", false)
	if err != nil || got.Status != ApprovalRejected || got.DecidedBy != "bea" || got.DecidedAt == nil {
		t.Fatalf("reject = %+v, %v", got, err)
	}
	if _, err := d.DecideApproval(ctx, a.ID, "carl", true); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second decision = %v", err)
	}

	late, err := d.CreateApproval(ctx, Approval{Operation: "server.remove", TargetType: "server", Summary: "rm", RequestedBy: "ann"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(25 * time.Hour))
	if _, err := d.DecideApproval(ctx, late.ID, "bea", true); !errors.Is(err, ErrNotPending) {
		t.Fatalf("approving an expired request = %v", err)
	}
	pending, err := d.ListApprovals(ctx, ApprovalPending, 0)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after expiry = %+v, %v", pending, err)
	}
	if got, _ := d.ApprovalByID(ctx, late.ID); got.Status != ApprovalExpired {
		t.Fatalf("status past its time = %s", got.Status)
	}
}
