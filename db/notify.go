package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Outbox delivery states.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// NotifySettings is the stored notification configuration: the channels
// and rules as JSON, and the SMTP password sealed.
type NotifySettings struct {
	Config        string
	SealedSMTP    []byte
	LastSummaryAt time.Time
}

// NotifySettings reads the notification configuration; none saved yet is
// an empty one.
func (d *DB) NotifySettings(ctx context.Context) (NotifySettings, error) {
	var s NotifySettings
	var last int64
	err := d.read.QueryRowContext(ctx, `SELECT config, smtp_password, last_summary_at FROM notification_settings WHERE id = 1`).
		Scan(&s.Config, &s.SealedSMTP, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return NotifySettings{Config: "{}"}, nil
	}
	if last > 0 {
		s.LastSummaryAt = fromMS(last)
	}
	return s, err
}

// SaveNotifySettings stores the configuration and the sealed password.
func (d *DB) SaveNotifySettings(ctx context.Context, config string, sealed []byte) error {
	_, err := d.write.ExecContext(ctx, `INSERT INTO notification_settings (id, config, smtp_password, updated_at)
		VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET config = excluded.config,
		smtp_password = excluded.smtp_password, updated_at = excluded.updated_at`, config, sealed, d.nowMS())
	if err != nil {
		return fmt.Errorf("save notification settings: %w", err)
	}
	return nil
}

// MarkSummarySent records when the daily summary went out.
func (d *DB) MarkSummarySent(ctx context.Context, at time.Time) error {
	_, err := d.write.ExecContext(ctx, `INSERT INTO notification_settings (id, last_summary_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET last_summary_at = excluded.last_summary_at`, ms(at))
	return err
}

// Delivery is one message to one channel in the outbox.
type Delivery struct {
	ID            int64      `json:"id"`
	Channel       string     `json:"channel"`
	Format        string     `json:"format"`
	Target        string     `json:"-"` // a webhook URL may hold its token
	Kind          string     `json:"kind"`
	Subject       string     `json:"subject"`
	Body          string     `json:"-"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

// QueueDelivery adds a pending message, due now.
func (d *DB) QueueDelivery(ctx context.Context, m Delivery) (int64, error) {
	now := d.nowMS()
	res, err := d.write.ExecContext(ctx, `INSERT INTO notification_outbox
		(channel, format, target, kind, subject, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Channel, m.Format, m.Target, m.Kind, m.Subject, m.Body, now, now)
	if err != nil {
		return 0, fmt.Errorf("queue notification: %w", err)
	}
	return res.LastInsertId()
}

const deliveryCols = `id, channel, format, target, kind, subject, body, status, attempts, next_attempt_at, last_error, created_at, sent_at`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var m Delivery
	var next, created int64
	var sent sql.NullInt64
	err := row.Scan(&m.ID, &m.Channel, &m.Format, &m.Target, &m.Kind, &m.Subject, &m.Body, &m.Status, &m.Attempts,
		&next, &m.LastError, &created, &sent)
	m.NextAttemptAt, m.CreatedAt = fromMS(next), fromMS(created)
	if sent.Valid {
		t := fromMS(sent.Int64)
		m.SentAt = &t
	}
	return m, err
}

func (d *DB) queryDeliveries(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+deliveryCols+` FROM notification_outbox `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		m, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DueDeliveries are the pending messages whose next attempt is due at now.
func (d *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	return d.queryDeliveries(ctx, `WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, ms(now), limit)
}

// NextDeliveryAt is when the earliest pending message is due; false when
// none is pending.
func (d *DB) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := d.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM notification_outbox WHERE status = 'pending'`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return fromMS(next.Int64), true, nil
}

// RecentDeliveries lists the newest messages first.
func (d *DB) RecentDeliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return d.queryDeliveries(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

// RecordAttempt stores an attempt's outcome: sent, failed for good, or
// pending again until next.
func (d *DB) RecordAttempt(ctx context.Context, id int64, status, lastError string, next time.Time) error {
	now := d.nowMS()
	var sent any
	if status == DeliverySent {
		sent = now
	}
	_, err := d.write.ExecContext(ctx, `UPDATE notification_outbox SET status = ?, attempts = attempts + 1,
		last_error = ?, next_attempt_at = ?, sent_at = ? WHERE id = ?`, status, truncate(lastError, 500), ms(next), sent, id)
	return err
}

// DaySummary counts what a daily summary reports since a time.
type DaySummary struct {
	OpenAlerts    int
	JobsCompleted int
	JobsFailed    int
}

// SummarySince counts open alerts and jobs that ended since t.
func (d *DB) SummarySince(ctx context.Context, t time.Time) (DaySummary, error) {
	var s DaySummary
	err := d.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM alerts WHERE resolved_at IS NULL),
		(SELECT count(*) FROM jobs WHERE status = 'completed' AND ended_at >= ?),
		(SELECT count(*) FROM jobs WHERE status = 'failed' AND ended_at >= ?)`, ms(t), ms(t)).
		Scan(&s.OpenAlerts, &s.JobsCompleted, &s.JobsFailed)
	return s, err
}
