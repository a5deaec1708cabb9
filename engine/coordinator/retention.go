package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/restore"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// QueueRetention queues a retention job unless one is already waiting.
func (c *Coordinator) QueueRetention(ctx context.Context) (int64, error) {
	if id, err := c.cfg.DB.ActiveServerJob(ctx, "retention", 0); err != nil || id != 0 {
		return id, err
	}
	return c.enqueue(ctx, db.NewJob{Operation: "retention"})
}

// QueueVerify queues a full read of the vault.
func (c *Coordinator) QueueVerify(ctx context.Context) (int64, error) {
	if id, err := c.cfg.DB.ActiveServerJob(ctx, "verify", 0); err != nil || id != 0 {
		return id, err
	}
	return c.enqueue(ctx, db.NewJob{Operation: "verify"})
}

// runRetention soft-deletes points retention no longer keeps, never one a
// kept point's chain needs; purges points soft-deleted longer than the
// grace period; then collects the vault's unreferenced data.
func (c *Coordinator) runRetention(ctx context.Context, j db.Job, st *steps) error {
	now := c.cfg.Now()
	st.begin("Expire recovery points", "")
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{State: db.ItemProtected, Limit: 1000000})
	if err != nil {
		return err
	}
	expired := 0
	for _, it := range items {
		points, err := c.cfg.DB.ListPoints(ctx, it.ID)
		if err != nil {
			return err
		}
		drop := Expire(points, now)
		if err := c.cfg.DB.SoftDeletePoints(ctx, drop); err != nil {
			return err
		}
		expired += len(drop)
	}
	days := c.Settings().SoftDeleteDays
	st.detail(fmt.Sprintf("%d points expired (kept %d days for undo)", expired, days))

	if _, locks := c.cfg.Vault.Storage(); locks {
		st.begin("Extend object lock retention", "")
		n, err := c.extendLocks(ctx, now)
		if err != nil {
			return err
		}
		st.detail(fmt.Sprintf("%d backups held longer by the storage", n))
	}

	st.begin("Purge soft-deleted points", "")
	purge, err := c.cfg.DB.PurgeablePoints(ctx, now.Add(-c.softDelete()))
	if err != nil {
		return err
	}
	ids, kept, err := c.purgeData(ctx, purge)
	if err != nil {
		return err
	}
	c.hook("retention-before-purge-rows")
	if err := c.cfg.DB.DeletePoints(ctx, ids); err != nil {
		return err
	}
	st.detail(fmt.Sprintf("%d points purged, %d kept by the immutable vault", len(ids), kept))

	st.begin("Collect unreferenced vault data", "")
	rep, err := c.cfg.Vault.GC(ctx)
	if err != nil {
		return err
	}
	st.detail(fmt.Sprintf("%d packs deleted, %d bytes freed", rep.PacksDeleted, rep.BytesFreed))
	return nil
}

// Expire returns the ids of an item's points that retention lets go at
// now: past their expiry (and any on-demand retain date), not needed by a
// kept point's chain, and not part of the newest restorable chain, which
// is always kept so a protected database is never left with nothing.
func Expire(points []db.Point, now time.Time) []int64 {
	rp := plannerPoints(points, now)
	var newestFull time.Time
	for _, p := range points {
		if p.Kind == mssql.KindFull && p.EndTime.After(newestFull) {
			newestFull = p.EndTime
		}
	}
	keep := func(p restore.Point) bool { return !p.Expired || !p.End.Before(newestFull) }
	need := restore.Needed(rp, keep)
	var out []int64
	for _, p := range rp {
		if !need[p.ID] {
			out = append(out, p.ID)
		}
	}
	return out
}

// purgeData deletes the vault data of points past soft delete, answering
// the ids whose data is gone. Vault first: a crash in between leaves a
// soft-deleted row that the next run purges again, never a live row
// without its data. A point the immutable vault keeps (ErrImmutable) stays
// soft-deleted for a later run.
func (c *Coordinator) purgeData(ctx context.Context, purge []db.Point) (ids []int64, kept int, err error) {
	for _, p := range purge {
		gone := true
		for _, b := range p.Blobs {
			err := c.cfg.Vault.DeleteBlob(ctx, b)
			if errors.Is(err, vault.ErrImmutable) {
				gone = false
				continue
			}
			if err != nil {
				return nil, 0, err
			}
		}
		if !gone {
			kept++
			continue
		}
		ids = append(ids, p.ID)
	}
	return ids, kept, nil
}

// UndeletePoint brings back a point retention or a stop soft-deleted,
// kept the soft delete period from now; with multi-user authorization on
// it needs approval.
func (c *Coordinator) UndeletePoint(ctx context.Context, pointID int64) error {
	if err := c.needApproval(ctx, fmt.Sprintf("undeleting recovery point %d", pointID)); err != nil {
		return err
	}
	err := c.cfg.DB.UndeletePoint(ctx, pointID, c.cfg.Now().Add(c.softDelete()))
	if err == db.ErrNotFound {
		return engine.Errorf(engine.CodeNotFound, "recovery point %d is not soft-deleted", pointID)
	}
	return err
}

// PurgePoint deletes a soft-deleted point for good before its soft delete
// period ends: the one way an admin shortens that period for a point. An
// immutable vault refuses it; with multi-user authorization on it needs a
// second admin's approval. A live point is never purged here: it has to
// be soft-deleted first (stop with delete data), so one request cannot
// take a point from restorable to gone.
func (c *Coordinator) PurgePoint(ctx context.Context, pointID int64) error {
	p, err := c.cfg.DB.PointByID(ctx, pointID)
	if err == db.ErrNotFound {
		return engine.Errorf(engine.CodeNotFound, "recovery point %d does not exist", pointID)
	}
	if err != nil {
		return err
	}
	if p.DeletedAt == nil {
		return engine.Errorf(engine.CodeConflict, "recovery point %d is not soft-deleted: stop protection with delete data first", pointID)
	}
	what := fmt.Sprintf("purging recovery point %d before its soft delete period ends", pointID)
	if err := c.refuseImmutable(what); err != nil {
		return err
	}
	if err := c.needApproval(ctx, what); err != nil {
		return err
	}
	ids, kept, err := c.purgeData(ctx, []db.Point{p})
	if err != nil {
		return err
	}
	if kept > 0 {
		return engine.Errorf(engine.CodeVaultImmutable, "recovery point %d is kept by the vault's write-once storage until it expires", pointID)
	}
	return c.cfg.DB.DeletePoints(ctx, ids)
}

// runVerify reads everything in the vault and names the backups a damaged
// pack affects.
func (c *Coordinator) runVerify(ctx context.Context, j db.Job, st *steps) error {
	st.begin("Verify vault", "every chunk is read and authenticated")
	rep, err := c.cfg.Vault.Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return engine.Errorf(engine.CodeVaultCorrupt, "%d damaged packs, %d missing chunks; affected backups: %v",
			len(rep.DamagedPacks), rep.MissingChunks, rep.AffectedBlobs)
	}
	detail := fmt.Sprintf("%d chunks verified", rep.Chunks)
	if rep.Tampered() { // alertHidden raises the alert
		detail += fmt.Sprintf("; %d objects hidden by delete markers were read from their retained versions", len(rep.HiddenObjects))
	}
	st.detail(detail)
	return nil
}
