package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FailureCount is the failed sign-ins recorded under one key.
type FailureCount struct {
	N    int
	Last time.Time
}

// FailuresSince returns the count under key, ignoring a count whose last
// failure is older than since (it has expired).
func (d *DB) FailuresSince(ctx context.Context, key string, since time.Time) (FailureCount, error) {
	var n int
	var last int64
	err := d.read.QueryRowContext(ctx,
		`SELECT failures, last_failure FROM login_failures WHERE key = ? AND last_failure >= ?`, key, ms(since)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return FailureCount{}, nil
	}
	return FailureCount{N: n, Last: fromMS(last)}, err
}

// RecordFailure counts a failed sign-in under each key, restarting a count
// that expired, and deletes every count older than window, so the table
// holds only what the throttle can still use.
func (d *DB) RecordFailure(ctx context.Context, window time.Duration, keys ...string) error {
	now := d.nowMS()
	cutoff := now - window.Milliseconds()
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE last_failure < ?`, cutoff); err != nil {
			return fmt.Errorf("expire sign-in failures: %w", err)
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO login_failures (key, failures, last_failure) VALUES (?, 1, ?)
				ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failure = excluded.last_failure`,
				k, now); err != nil {
				return fmt.Errorf("record sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// ClearFailures forgets the counts under keys (after a successful sign-in).
func (d *DB) ClearFailures(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if _, err := d.write.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, k); err != nil {
			return err
		}
	}
	return nil
}

// FailureRows is how many sign-in failure counts the catalog holds.
func (d *DB) FailureRows(ctx context.Context) (int, error) {
	var n int
	err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM login_failures`).Scan(&n)
	return n, err
}
