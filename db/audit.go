package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Audit outcomes.
const (
	AuditSuccess = "success"
	AuditDenied  = "denied" // refused: not signed in, no role, wrong password
	AuditFailed  = "failed" // allowed but it did not work: bad input, conflict, error
)

// AuditEntry is one change, or attempt at one: who, from where, when, what
// and how it ended. Entries are append-only (triggers refuse UPDATE and
// DELETE on the table).
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"` // a user name, "token:NAME", "cli", or the name tried
	Addr       string    `json:"addr"`
	Action     string    `json:"action"` // e.g. "policy.create", "auth.sign_in"
	Method     string    `json:"method,omitempty"`
	Route      string    `json:"route,omitempty"`
	TargetType string    `json:"target_type,omitempty"`
	TargetID   string    `json:"target_id,omitempty"`
	Status     int       `json:"status,omitempty"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail,omitempty"`
}

// RecordAudit appends an entry; its time is the catalog's clock unless set.
func (d *DB) RecordAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = fromMS(d.nowMS())
	}
	_, err := d.write.ExecContext(ctx, `
		INSERT INTO audit_log (at, actor, addr, action, method, route, target_type, target_id, status, outcome, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(e.At), truncate(e.Actor, 200), truncate(e.Addr, 100), e.Action, e.Method, e.Route,
		e.TargetType, truncate(e.TargetID, 100), e.Status, e.Outcome, truncate(e.Detail, 1000))
	if err != nil {
		return fmt.Errorf("record audit entry %s: %w", e.Action, err)
	}
	return nil
}

// AuditFilter selects entries: by actor (exact, case-insensitive), action
// (exact, or a prefix ending in "." such as "policy."), at or after Since,
// and older than BeforeID for paging. Limit defaults to 100, at most 1000.
type AuditFilter struct {
	Actor    string
	Action   string
	Since    *time.Time
	BeforeID int64
	Limit    int
}

// ListAudit returns entries newest first.
func (d *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, "actor = ? COLLATE NOCASE"), append(args, f.Actor)
	}
	if strings.HasSuffix(f.Action, ".") {
		where, args = append(where, "substr(action, 1, ?) = ?"), append(args, len(f.Action), f.Action)
	} else if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if f.Since != nil {
		where, args = append(where, "at >= ?"), append(args, ms(*f.Since))
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT id, at, actor, addr, action, method, route, target_type, target_id, status, outcome, detail FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := d.read.QueryContext(ctx, q, append(args, min(f.Limit, 1000))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Addr, &e.Action, &e.Method, &e.Route, &e.TargetType,
			&e.TargetID, &e.Status, &e.Outcome, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
