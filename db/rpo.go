package db

import (
	"context"
	"time"
)

// ChainEnds maps each item with an unhealed gap that breaks its log chain
// to the end of its chain before the earliest such gap: nothing after it
// restores until a full heals the chain, so an honest RPO counts from it.
func (d *DB) ChainEnds(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT item_id, MIN(from_time) FROM chain_gaps
		WHERE healed_at IS NULL AND breaks GROUP BY item_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id, from int64
		if err := rows.Scan(&id, &from); err != nil {
			return nil, err
		}
		out[id] = fromMS(from)
	}
	return out, rows.Err()
}
