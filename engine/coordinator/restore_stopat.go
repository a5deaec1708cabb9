package coordinator

import (
	"context"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// finishStopAt brings a database that a STOPAT left RESTORING online at
// that point. A log backup's records end where its last LSN was taken,
// somewhere between the backup's start and end, so a time inside that
// window can lie past the log's last record: SQL Server then applies the
// whole log and leaves the database restoring ("This backup set contains
// records that were logged before the designated point in time"). The
// records up to that time are then in the next log, applied with the same
// STOPAT; when there is none, every record backed up before the time has
// been applied and RECOVERY brings the database online at it.
func (c *Coordinator) finishStopAt(ctx context.Context, st *steps, conn *mssql.Conn, t RestoreTarget, last db.Point, at time.Time) error {
	if targetState(ctx, conn, t.DatabaseName) != "RESTORING" {
		return nil
	}
	if next, ok := c.nextLog(ctx, last); ok {
		st.begin("Restore the next log backup to the point in time", next.EndTime.Format(time.RFC3339))
		st.detail("the point in time lies past the last record of the log before it")
		drop, err := c.grantRead(ctx, conn, []db.Point{next})
		defer drop()
		if err != nil {
			return err
		}
		req := mssql.RestoreRequest{Database: t.DatabaseName, Log: true, URLs: c.urls(next), Recovery: true, StopAt: &at}
		if err := conn.Restore(ctx, req, func(int) {}); err != nil {
			return err
		}
		if targetState(ctx, conn, t.DatabaseName) != "RESTORING" {
			return nil
		}
	}
	st.begin("Bring the database online at the point in time", "every record backed up before it is applied")
	return conn.Recover(ctx, t.DatabaseName)
}

// nextLog is the log backup that continues p's chain (its first LSN is
// p's last), if the catalog has one that is not deleted.
func (c *Coordinator) nextLog(ctx context.Context, p db.Point) (db.Point, bool) {
	points, err := c.cfg.DB.ListPoints(ctx, p.ItemID)
	if err != nil {
		return db.Point{}, false
	}
	for _, q := range points {
		if q.Kind == mssql.KindLog && q.ID != p.ID && q.DeletedAt == nil && q.FirstLSN == p.LastLSN {
			return q, true
		}
	}
	return db.Point{}, false
}
