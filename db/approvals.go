package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalExpired  = "expired"
)

// ErrSelfApproval is returned when the requester tries to decide their
// own request.
var ErrSelfApproval = errors.New("the requester cannot decide their own request")

// ErrNotPending is returned for a decision on a request already decided
// or expired.
var ErrNotPending = errors.New("the request is no longer pending")

// Approval is a destructive operation waiting for, or given, a second
// admin's decision.
type Approval struct {
	ID          int64      `json:"id"`
	Operation   string     `json:"operation"`
	TargetType  string     `json:"target_type"`
	TargetID    string     `json:"target_id,omitempty"`
	Summary     string     `json:"summary"`
	Params      string     `json:"-"` // the operation's input, JSON
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Status      string     `json:"status"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Result      string     `json:"result,omitempty"`
}

// CreateApproval records a pending request; its id and times are set.
func (d *DB) CreateApproval(ctx context.Context, a Approval, ttl time.Duration) (Approval, error) {
	now := d.nowMS()
	a.RequestedAt, a.ExpiresAt, a.Status = fromMS(now), fromMS(now).Add(ttl), ApprovalPending
	if a.Params == "" {
		a.Params = "{}"
	}
	res, err := d.write.ExecContext(ctx, `INSERT INTO approvals
		(operation, target_type, target_id, summary, params, requested_by, requested_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.Operation, a.TargetType, a.TargetID, truncate(a.Summary, 500),
		a.Params, a.RequestedBy, now, ms(a.ExpiresAt))
	if err != nil {
		return a, fmt.Errorf("record approval request: %w", err)
	}
	a.ID, _ = res.LastInsertId()
	return a, nil
}

// expireApprovals marks pending requests past their time as expired.
func (d *DB) expireApprovals(ctx context.Context) error {
	_, err := d.write.ExecContext(ctx, `UPDATE approvals SET status = 'expired'
		WHERE status = 'pending' AND expires_at <= ?`, d.nowMS())
	return err
}

const approvalCols = `id, operation, target_type, target_id, summary, params, requested_by, requested_at,
	expires_at, status, decided_by, decided_at, result`

func scanApproval(row interface{ Scan(...any) error }) (Approval, error) {
	var a Approval
	var req, exp int64
	var by sql.NullString
	var at sql.NullInt64
	err := row.Scan(&a.ID, &a.Operation, &a.TargetType, &a.TargetID, &a.Summary, &a.Params, &a.RequestedBy,
		&req, &exp, &a.Status, &by, &at, &a.Result)
	a.RequestedAt, a.ExpiresAt, a.DecidedBy = fromMS(req), fromMS(exp), by.String
	if at.Valid {
		t := fromMS(at.Int64)
		a.DecidedAt = &t
	}
	return a, err
}

// ListApprovals returns requests newest first, of one status if given.
func (d *DB) ListApprovals(ctx context.Context, status string, limit int) ([]Approval, error) {
	if err := d.expireApprovals(ctx); err != nil {
		return nil, err
	}
	q, args := `SELECT `+approvalCols+` FROM approvals`, []any{}
	if status != "" {
		q, args = q+` WHERE status = ?`, append(args, status)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := d.read.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Approval{}
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ApprovalByID returns one request.
func (d *DB) ApprovalByID(ctx context.Context, id int64) (Approval, error) {
	if err := d.expireApprovals(ctx); err != nil {
		return Approval{}, err
	}
	a, err := scanApproval(d.read.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// DecideApproval approves or rejects a pending, unexpired request by
// someone other than its requester, once: of two racing decisions one
// wins and the other gets ErrNotPending.
func (d *DB) DecideApproval(ctx context.Context, id int64, decider string, approve bool) (Approval, error) {
	a, err := d.ApprovalByID(ctx, id)
	if err != nil {
		return a, err
	}
	if strings.EqualFold(a.RequestedBy, decider) {
		return a, ErrSelfApproval
	}
	status := ApprovalRejected
	if approve {
		status = ApprovalApproved
	}
	now := d.nowMS()
	err = affected(d.write.ExecContext(ctx, `UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?
		WHERE id = ? AND status = 'pending' AND expires_at > ?`, status, decider, now, id, now))
	if errors.Is(err, ErrNotFound) {
		return a, ErrNotPending
	}
	if err != nil {
		return a, err
	}
	return d.ApprovalByID(ctx, id)
}

// SetApprovalResult records how the approved operation ended.
func (d *DB) SetApprovalResult(ctx context.Context, id int64, result string) error {
	return affected(d.write.ExecContext(ctx, `UPDATE approvals SET result = ? WHERE id = ?`, truncate(result, 1000), id))
}
