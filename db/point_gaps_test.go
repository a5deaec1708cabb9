package db

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// oraclePointGaps is PointGaps as it was before migration 0023: a window
// function over the points from the lookback on, in end time then id
// order.
func (d *DB) oraclePointGaps(ctx context.Context, f ReportFilter, min, lookback time.Duration) ([]PointGap, error) {
	q, args := f.where(`SELECT t.item_id, t.end_time, lag(t.end_time) OVER (PARTITION BY t.item_id ORDER BY t.end_time, t.id) AS prev
		FROM recovery_points t WHERE t.end_time >= ? AND t.end_time < ?`, []any{ms(f.Since.Add(-lookback)), ms(f.Until)})
	q = `SELECT item_id, prev, end_time FROM (` + q + `) WHERE prev IS NOT NULL AND end_time >= ? AND end_time - prev > ?`
	args = append(args, ms(f.Since), min.Milliseconds())
	return d.scanPointGaps(ctx, q, args)
}

func samePointGaps(t *testing.T, d *DB, when string) {
	t.Helper()
	ctx := context.Background()
	order := func(a, b PointGap) int {
		return cmp.Or(cmp.Compare(a.ItemID, b.ItemID), a.To.Compare(b.To), a.From.Compare(b.From))
	}
	found := 0
	for _, f := range []ReportFilter{{Since: at(0, 0), Until: at(3, 0)}, {Since: at(0, 6), Until: at(1, 0)},
		{Since: at(1, 0), Until: at(3, 0), ServerID: 2}, {Since: at(0, 0), Until: at(3, 0), ItemID: 1}} {
		for _, lookback := range []time.Duration{time.Hour, 48 * time.Hour} {
			got, err1 := d.PointGaps(ctx, f, 2*time.Hour, lookback)
			want, err2 := d.oraclePointGaps(ctx, f, 2*time.Hour, lookback)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			slices.SortFunc(got, order)
			slices.SortFunc(want, order)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %+v, lookback %s:\n got %v\nwant %v", when, f, lookback, got, want)
			}
			found += len(want)
		}
	}
	if found == 0 {
		t.Fatalf("%s: the oracle finds no gap: the fixture is wrong", when)
	}
}

// TestPointGapsMatchTheWindowFunction: the long gaps PointGaps finds from
// each point's stored predecessor (migration 0023) are those the window
// function over the points found, for a catalog migrated with points
// committed out of end-time order and with equal end times, and after
// more points are committed out of order and some are deleted.
func TestPointGapsMatchTheWindowFunction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pool := catalogAt(t, dir, 22)
	q := []string{
		`INSERT INTO servers (id, name, host, port, username, password_enc, created_at) VALUES (1, 'SQL01', 'h', 1433, 'u', x'01', 0), (2, 'SQL02', 'h', 1433, 'u', x'01', 0)`,
		`INSERT INTO databases (id, server_id, name, database_guid, discovered_at) VALUES (7, 1, 'Sales', 'g1', 0), (8, 2, 'HR', 'g2', 0)`,
		`INSERT INTO items (id, database_id, created_at) VALUES (1, 7, 0), (2, 8, 0)`,
	}
	point := func(item, day, hh int) string {
		return fmt.Sprintf(`INSERT INTO recovery_points (item_id, kind, blobs, start_time, end_time, first_lsn, last_lsn, checkpoint_lsn,
			database_backup_lsn, size_bytes, stored_bytes, created_at) VALUES (%d, 'log', '[]', %d, %d, '1', '2', '1', '0', 1, 1, 0)`,
			item, ms(at(day, hh)), ms(at(day, hh)))
	}
	for _, pt := range [][3]int{{1, 0, 1}, {1, 0, 2}, {1, 0, 8}, {1, 0, 8}, {1, 0, 20}, {1, 0, 5}, {2, 1, 10}, {2, 0, 22}, {2, 1, 23}, {2, 0, 3}} {
		q = append(q, point(pt[0], pt[1], pt[2]))
	}
	for _, s := range q {
		if _, err := pool.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	pool.Close()
	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	samePointGaps(t, d, "after the migration")

	for _, pt := range [][3]int{{1, 0, 14}, {1, 0, 20}, {2, 1, 16}, {1, 1, 12}} { // between, equal to and after existing points
		if _, err := d.CommitPoint(ctx, Point{ItemID: int64(pt[0]), Kind: "log", StartTime: at(pt[1], pt[2]), EndTime: at(pt[1], pt[2])}); err != nil {
			t.Fatal(err)
		}
	}
	samePointGaps(t, d, "after points committed out of order")
	var ids []int64
	d.eachRow(ctx, `SELECT id FROM recovery_points WHERE end_time IN (?, ?, ?)`, []any{ms(at(0, 8)), ms(at(0, 22)), ms(at(0, 14))}, func(s scanner) error {
		var id int64
		ids = append(ids, id)
		return s.Scan(&ids[len(ids)-1])
	})
	if len(ids) != 4 {
		t.Fatalf("%d points to delete, want 4", len(ids))
	}
	if err := d.DeletePoints(ctx, ids[1:]); err != nil { // one of the two at 08:00 stays
		t.Fatal(err)
	}
	samePointGaps(t, d, "after deletions")
}
