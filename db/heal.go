package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Gap is a break in an item's log chain (chain_gaps).
type Gap struct {
	ID       int64      `json:"id"`
	ItemID   int64      `json:"item_id"`
	PointID  *int64     `json:"point_id,omitempty"` // the backup that landed after it, if one did
	JobID    *int64     `json:"job_id,omitempty"`
	From     time.Time  `json:"from"` // the end of the vault's chain before it
	To       time.Time  `json:"to"`
	Breaks   bool       `json:"breaks"` // nothing restores across it; only a full starts the chain again
	Cause    string     `json:"cause"`
	FoundAt  time.Time  `json:"found_at"`
	HealedAt *time.Time `json:"healed_at,omitempty"`
}

// AddGap records a gap.
func (d *DB) AddGap(ctx context.Context, g Gap) (Gap, error) {
	g.FoundAt = fromMS(d.nowMS())
	res, err := d.write.ExecContext(ctx, `INSERT INTO chain_gaps (item_id, point_id, job_id, from_time, to_time, breaks, cause, found_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, g.ItemID, g.PointID, g.JobID, ms(g.From), ms(g.To), g.Breaks, g.Cause, ms(g.FoundAt))
	if err != nil {
		return g, fmt.Errorf("record chain gap of item %d: %w", g.ItemID, err)
	}
	g.ID, _ = res.LastInsertId()
	return g, nil
}

// Gaps lists an item's gaps, oldest first.
func (d *DB) Gaps(ctx context.Context, itemID int64) ([]Gap, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, item_id, point_id, job_id, from_time, to_time, breaks, cause, found_at, healed_at
		FROM chain_gaps WHERE item_id = ? ORDER BY found_at, id`, itemID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		var point, job, healed sql.NullInt64
		var from, to, found int64
		if err := rows.Scan(&g.ID, &g.ItemID, &point, &job, &from, &to, &g.Breaks, &g.Cause, &found, &healed); err != nil {
			return nil, err
		}
		g.From, g.To, g.FoundAt = fromMS(from), fromMS(to), fromMS(found)
		if point.Valid {
			g.PointID = &point.Int64
		}
		if job.Valid {
			g.JobID = &job.Int64
		}
		if healed.Valid {
			t := fromMS(healed.Int64)
			g.HealedAt = &t
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// HealGaps marks an item's open gaps healed: a full has committed.
func (d *DB) HealGaps(ctx context.Context, itemID int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE chain_gaps SET healed_at = ? WHERE item_id = ? AND healed_at IS NULL`, d.nowMS(), itemID)
	return err
}

// ResolveAlertsExcept closes an item's open alerts but those of the codes
// kept: a log backup clears a failed schedule's alert, not a broken chain's.
func (d *DB) ResolveAlertsExcept(ctx context.Context, itemID int64, keep ...string) error {
	q := `UPDATE alerts SET resolved_at = ? WHERE resolved_at IS NULL AND item_id = ?`
	args := []any{d.nowMS(), itemID}
	if len(keep) > 0 {
		q += ` AND code NOT IN (?` + strings.Repeat(", ?", len(keep)-1) + `)`
		for _, k := range keep {
			args = append(args, k)
		}
	}
	_, err := d.write.ExecContext(ctx, q, args...)
	return err
}

// SetJobKind turns a running backup into another kind (a scheduled log
// into the full that heals its chain). When a backup of that kind is
// already queued or running for the item, nothing changes and its job id
// comes back instead.
func (d *DB) SetJobKind(ctx context.Context, jobID int64, kind string) (activeID int64, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var active sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT min(o.id) FROM jobs o JOIN jobs j ON j.id = ?
			WHERE o.operation = 'backup' AND o.status IN ('queued', 'in_progress') AND o.item_id = j.item_id
			AND o.kind = ? AND o.id != j.id`, jobID, kind).Scan(&active)
		if err != nil {
			return err
		}
		if active.Valid {
			activeID = active.Int64
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET kind = ? WHERE id = ?`, kind, jobID)
		return err
	})
	return activeID, err
}
