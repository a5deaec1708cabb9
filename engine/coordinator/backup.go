package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// stripeBytes is how much of a database one blob holds before the backup is
// striped over another URL: an Azure block blob takes at most 50,000 blocks
// of MAXTRANSFERSIZE (4 MiB), about 195 GiB; a quarter of that leaves room
// for growth during the backup.
const stripeBytes = 48 << 30

func stripesFor(size int64) int {
	n := int(size/stripeBytes) + 1
	return min(n, 64)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// blobNames names the stripes of one backup: the job's own container (its
// SAS grants nothing else), then a readable name for the .bak download.
func blobNames(container, database, kind string, at time.Time, stripes int) []string {
	safe := strings.Trim(unsafeChars.ReplaceAllString(database, "_"), "_.")
	if safe == "" {
		safe = "db"
	}
	if len(safe) > 60 {
		safe = safe[:60]
	}
	ext := ".bak"
	if kind == mssql.KindLog {
		ext = ".trn"
	}
	names := make([]string, stripes)
	for i := range names {
		suffix := ""
		if stripes > 1 {
			suffix = fmt.Sprintf("_%dof%d", i+1, stripes)
		}
		names[i] = fmt.Sprintf("%s/%s_%s_%s%s%s", container, safe, kind, at.UTC().Format("20060102T150405Z"), suffix, ext)
	}
	return names
}

// jobContainer is the device container of a job's blobs, unique for the
// life of the vault (see db.CreateJob); jobs queued before containers were
// stored used job-ID.
func jobContainer(j db.Job) string {
	if j.Container != "" {
		return j.Container
	}
	return "job-" + strconv.FormatInt(j.ID, 10)
}

// runBackup streams one backup from SQL Server through the device into the
// vault, then commits the recovery point. Until the commit nothing is
// visible; on failure the blobs written so far are deleted.
func (c *Coordinator) runBackup(ctx context.Context, j db.Job, st *steps) error {
	if j.ItemID == nil {
		return engine.Errorf(engine.CodeInternal, "backup job %d names no backup item", j.ID)
	}
	it, err := c.item(ctx, *j.ItemID)
	if err != nil {
		return err
	}
	if it.State != db.ItemProtected {
		return engine.Errorf(engine.CodeProtectionStopped, "protection of %s is stopped", it.DatabaseName)
	}
	var params backupParams
	json.Unmarshal([]byte(j.Params), &params)
	pol, err := c.itemPolicy(ctx, it)
	if err != nil {
		return err
	}
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil {
		return err
	}
	brk := c.catalogBreak(ctx, j, pol, points)
	// A group database runs on the replica its group prefers (ag.go).
	s, dbase, err := c.backupTarget(ctx, &j, it, brk.kindFor(j.Kind), st)
	if err != nil {
		return err
	}
	if err := checkBackupKind(brk.kindFor(j.Kind), dbase, points); err != nil {
		return err
	}

	st.begin("Connect", s.Name)
	conn, _, err := c.connectSysadmin(ctx, s)
	if err != nil {
		return err
	}
	kind := j.Kind
	if c.heal(ctx, conn, &j, it, pol, points, &brk, st) {
		return nil // a full already queued heals the chain
	}
	if j.Kind != kind {
		// Healed into a full: a group database's runs on the primary.
		if s, dbase, conn, err = c.retarget(ctx, &j, it, s, dbase, conn, st); err != nil {
			return err
		}
	}

	blobs := blobNames(jobContainer(j), it.DatabaseName, j.Kind, c.cfg.Now(), stripesFor(dbase.SizeBytes))
	st.begin("Grant device access", fmt.Sprintf("%d stripe(s)", len(blobs)))
	containerURL := c.cfg.Device.ContainerURL(jobContainer(j))
	// The SAS lives as long as this job: renewed while it runs, revoked
	// when it returns, whatever SQL Server keeps in its credential.
	sas, revoke := c.cfg.Device.Hold(ctx, jobContainer(j), vdi.GrantBackup)
	defer revoke()
	if err := conn.EnsureCredential(ctx, containerURL, sas); err != nil {
		return err
	}
	defer conn.DropCredential(context.Background(), containerURL)

	st.begin("Transfer data to vault", "")
	untrack := c.trackBlobs(j.ID, blobs)
	defer untrack()
	urls := make([]string, len(blobs))
	for i, b := range blobs {
		urls[i] = c.cfg.Device.BlobURL(jobContainer(j), strings.TrimPrefix(b, jobContainer(j)+"/"))
	}
	req := mssql.BackupRequest{Database: it.DatabaseName, Kind: j.Kind, URLs: urls, Compression: pol.SQLCompression,
		Name: fmt.Sprintf("sqlvault %s backup of %s", j.Kind, it.DatabaseName), Description: fmt.Sprintf("sqlvault job %d", j.ID)}
	rows, rowsErr := conn.RowCounts(ctx, it.DatabaseName) // for verifications (verify.go)
	set, err := conn.Backup(ctx, req, func(pct int) { c.cfg.DB.JobProgress(context.Background(), j.ID, min(pct, 99), c.blobBytes(blobs)) })
	if err != nil {
		c.discard(blobs)
		return c.vaultFull(blobs, err)
	}
	c.recordSourceRows(ctx, j.ID, conn, it.DatabaseName, rows, rowsErr)

	gap := c.landed(ctx, j.Kind, it, set, brk)

	st.begin("Confirm transfer", "")
	stored, size, err := c.confirm(ctx, blobs)
	if err != nil {
		c.discard(blobs)
		return err
	}
	st.detail(fmt.Sprintf("%s from SQL Server, %s new in the vault", humanize.IBytes(uint64(size)), humanize.IBytes(uint64(stored))))

	st.begin("Commit recovery point", "")
	p := pointOf(set, j.Kind, blobs, size, stored)
	p.ItemID, p.JobID, p.RetainUntil = it.ID, &j.ID, retainUntil(set.Finish, params.RetainDays)
	exp := expiry(pol, p, points)
	p.ExpiresAt = &exp
	c.hook("backup-before-label")
	if err := c.label(ctx, s, it, p); err != nil {
		c.discard(blobs)
		return err
	}
	c.hook("backup-before-commit")
	committed, err := c.cfg.DB.CommitPoint(ctx, p)
	if err != nil {
		c.discard(blobs)
		return err
	}
	c.cfg.DB.JobProgress(ctx, j.ID, 100, size)
	c.settle(ctx, j, it, pol, committed, gap)
	c.metrics.backupBytes(j.Kind, size)
	return nil
}

// pointOf is the recovery point of a backup set SQL Server recorded in
// msdb, written to blobs; the caller sets its item, job and retention.
func pointOf(set mssql.BackupSet, kind string, blobs []string, size, stored int64) db.Point {
	return db.Point{Kind: kind, Blobs: blobs, StartTime: set.Start, EndTime: set.Finish, FirstLSN: set.FirstLSN,
		LastLSN: set.LastLSN, CheckpointLSN: set.CheckpointLSN, DatabaseBackupLSN: set.DatabaseBackupLSN,
		DifferentialBaseLSN: set.DifferentialBaseLSN, SizeBytes: size, StoredBytes: stored, DatabaseGUID: set.DatabaseGUID}
}

// checkBackupKind refuses what SQL Server would refuse, or what could never
// be restored from this vault, before anything is sent.
func checkBackupKind(kind string, d db.Database, points []db.Point) error {
	if err := ProtectabilityOf(d).refusal(d.Name, kind); err != nil {
		return err
	}
	if kind == mssql.KindDifferential || kind == mssql.KindLog {
		for _, p := range points {
			if p.Kind == mssql.KindFull {
				return nil
			}
		}
		return engine.Errorf(engine.CodeMissingFullBackup, "%s has no full backup in the vault yet", d.Name)
	}
	return nil
}

// expiry applies the policy's retention; an on-demand retain date wins.
func expiry(pol policy.Policy, p db.Point, earlier []db.Point) time.Time {
	if p.RetainUntil != nil {
		return *p.RetainUntil
	}
	kind := p.Kind
	if kind == mssql.KindCopyOnlyFull {
		kind = policy.Full
	}
	var prev time.Time
	for _, e := range earlier {
		if (e.Kind == mssql.KindFull || e.Kind == mssql.KindCopyOnlyFull) && e.EndTime.Before(p.EndTime) && e.EndTime.After(prev) {
			prev = e.EndTime
		}
	}
	// A kind the policy schedules no retention for (an on-demand
	// differential under a policy without them) is kept like a daily full.
	r := pol.Retention
	if (kind == policy.Differential && r.DifferentialDays == 0) || (kind == policy.Log && r.LogDays == 0) {
		kind = policy.Full
	}
	return pol.Expiry(kind, p.EndTime, pol.Classify(p.EndTime, prev))
}

// confirm checks every stripe is committed in the vault and sums it up.
func (c *Coordinator) confirm(ctx context.Context, blobs []string) (stored, size int64, err error) {
	for _, b := range blobs {
		m, err := c.cfg.Vault.Manifest(ctx, b)
		if err != nil {
			return 0, 0, engine.Wrap(engine.CodeBackupFailed, err, "SQL Server reported success but the vault has no complete copy of "+b)
		}
		stored += m.StoredBytes
		size += m.Size
	}
	return stored, size, nil
}

// label writes the point's catalog row into its manifests, so the vault
// alone can rebuild the catalog, then has storage with an object lock
// hold its data until its expiry and soft delete period have passed.
func (c *Coordinator) label(ctx context.Context, s db.Server, it db.Item, p db.Point) error {
	for i, b := range p.Blobs {
		if err := c.cfg.Vault.Annotate(ctx, b, labelsOf(s, it, p, i).encode()); err != nil {
			return err
		}
		if p.ExpiresAt == nil {
			continue
		}
		if err := c.cfg.Vault.Retain(ctx, b, p.ExpiresAt.Add(c.softDelete())); err != nil {
			return engine.Wrap(engine.CodeStorageRetention, err, "the vault's bucket refused the Object Lock retention of "+b)
		}
	}
	return nil
}

// discard deletes what a failed backup wrote; the chunks are collected.
func (c *Coordinator) discard(blobs []string) {
	for _, b := range blobs {
		c.cfg.Vault.AbortBlob(b)
		c.cfg.Vault.DeleteBlob(context.Background(), b)
	}
}

func (c *Coordinator) blobBytes(blobs []string) int64 {
	var n int64
	for _, b := range blobs {
		n += c.cfg.Device.Received(b)
	}
	return n
}

func (c *Coordinator) itemPolicy(ctx context.Context, it db.Item) (policy.Policy, error) {
	if it.PolicyID == nil {
		return policy.Policy{}, engine.Errorf(engine.CodeProtectionStopped, "%s has no policy", it.DatabaseName)
	}
	return c.Policy(ctx, *it.PolicyID)
}
