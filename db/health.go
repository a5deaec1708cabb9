package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Item health states, as the overview counts them and the item list
// filters them.
const (
	HealthHealthy  = "healthy"
	HealthBreached = "rpo_breached"
	HealthFailed   = "failed_last_backup"
	HealthStopped  = "stopped"
	HealthPending  = "pending"
)

// StoredHealth is what the catalog keeps of an item's health: the part
// that holds until something happens to the item, and the instant its RPO
// passes twice the target (the one change that time alone makes).
type StoredHealth struct {
	ItemID int64
	State  string     // healthy, pending, failed_last_backup or stopped; never rpo_breached
	Why    string     // the last backup's error, or where the log chain broke
	RPODue *time.Time // nil when the RPO is not measured (stopped, no target, no point)
}

// SetItemHealth stores the health of items, writing only the rows that
// changed (the minute's check rewrites every item).
func (d *DB) SetItemHealth(ctx context.Context, hs []StoredHealth) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return setItemHealth(ctx, tx, hs) })
}

func setItemHealth(ctx context.Context, tx *sql.Tx, hs []StoredHealth) error {
	if len(hs) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `UPDATE items SET health = ?1, health_why = ?2, rpo_due_at = ?3
		WHERE id = ?4 AND (health != ?1 OR health_why != ?2 OR rpo_due_at IS NOT ?3)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, h := range hs {
		if _, err := st.ExecContext(ctx, h.State, h.Why, msPtr(h.RPODue), h.ItemID); err != nil {
			return fmt.Errorf("store the health of item %d: %w", h.ItemID, err)
		}
	}
	return nil
}

// ItemsWithoutHealth lists the items whose health was never stored (the
// catalog was just migrated, or the item is new): the coordinator fills
// them in.
func (d *DB) ItemsWithoutHealth(ctx context.Context) ([]Item, error) {
	rows, err := d.read.QueryContext(ctx, itemQuery+` WHERE i.health = ''`)
	if err != nil {
		return nil, err
	}
	return scanItems(rows)
}

// healthWhere adds to an item query (items aliased i) the condition of one
// stored health state at now.
func healthWhere(q string, args []any, health string, now time.Time) (string, []any) {
	switch health {
	case "":
		return q, args
	case HealthBreached:
		return q + ` AND i.health = 'healthy' AND i.rpo_due_at < ?`, append(args, ms(now))
	case HealthHealthy:
		return q + ` AND i.health = 'healthy' AND (i.rpo_due_at IS NULL OR i.rpo_due_at >= ?)`, append(args, ms(now))
	}
	return q + ` AND i.health = ?`, append(args, health)
}

// ListItemsByHealth is ListItems of the items in one health state at now,
// read from the stored health.
func (d *DB) ListItemsByHealth(ctx context.Context, f ItemFilter, health string, now time.Time) ([]Item, error) {
	q, args := itemFilter(itemQuery, f)
	q, args = healthWhere(q, args, health, now)
	return d.pageOfItems(ctx, q, args, f)
}

// CountItemsByHealth counts what ListItemsByHealth would return without
// its limit.
func (d *DB) CountItemsByHealth(ctx context.Context, f ItemFilter, health string, now time.Time) (int, error) {
	q, args := itemFilter(`SELECT count(*) FROM items i JOIN databases d ON d.id = i.database_id`, f)
	q, args = healthWhere(q, args, health, now)
	var n int
	err := d.read.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// HealthCounts counts every item by its health at now, from the index.
func (d *DB) HealthCounts(ctx context.Context, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	err := d.eachRow(ctx, `SELECT CASE WHEN health = 'healthy' AND rpo_due_at < ? THEN 'rpo_breached' ELSE health END, count(*)
		FROM items INDEXED BY items_health GROUP BY 1`, []any{ms(now)}, func(s scanner) error {
		var state string
		var n int
		if err := s.Scan(&state, &n); err != nil {
			return err
		}
		out[state] = n
		return nil
	})
	return out, err
}

// ItemStates maps every item to its protection state (protected, stopped,
// stopped_deleted), without the joins of an item list.
func (d *DB) ItemStates(ctx context.Context) (map[int64]string, error) {
	out := map[int64]string{}
	err := d.eachRow(ctx, `SELECT id, state FROM items`, nil, func(s scanner) error {
		var id int64
		var st string
		if err := s.Scan(&id, &st); err != nil {
			return err
		}
		out[id] = st
		return nil
	})
	return out, err
}
