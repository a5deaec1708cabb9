package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// recoverBackup settles what an interrupted backup job left in the vault.
// If every stripe was committed and labelled, SQL Server's BACKUP had
// finished (labels are written only after it returned and the transfer was
// confirmed): for a log backup SQL Server has already truncated the log, so
// the data must become the recovery point, or the log chain would break at
// the retry. It is committed and true returned. Otherwise whatever blobs
// the job left are deleted (an unlabelled manifest would otherwise hold its
// chunks forever) and a retry is the right thing.
//
// Only blobs that are this job's are considered: a blob labelled for
// another job or item, or one a committed point holds, is neither
// committed nor deleted (a container reused under a rebuilt catalog's job
// ids once held another database's committed full).
func (c *Coordinator) recoverBackup(ctx context.Context, j db.Job) bool {
	if j.ItemID == nil {
		return false
	}
	ms, err := c.ownBlobs(ctx, j)
	if err != nil || len(ms) == 0 {
		return false
	}
	have := map[string]bool{}
	var first *PointLabels
	for _, m := range ms {
		have[m.Blob] = true
		var l PointLabels
		if raw, ok := m.Labels[labelKey]; ok && json.Unmarshal([]byte(raw), &l) == nil && l.Stripe == 0 {
			first = &l
		}
	}
	complete := first != nil && len(first.Stripes) > 0
	if complete {
		for _, b := range first.Stripes {
			complete = complete && have[b]
		}
	}
	if !complete {
		// Committed blobs without labels: the process died between BACKUP
		// returning and the labelling. msdb says whether SQL Server
		// finished the backup to these URLs.
		if l, ok := c.fromMSDB(ctx, j, ms); ok {
			first, complete = &l, true
		}
	}
	if complete {
		if err := c.commitRecovered(ctx, j, *first); err == nil {
			return true
		} else {
			c.log.Error("commit the recovery point of an interrupted backup", "job", j.ID, "err", err)
		}
	}
	for _, m := range ms {
		c.cfg.Vault.DeleteBlob(ctx, m.Blob)
	}
	return false
}

// ownBlobs lists the blobs in a job's container that are the job's own:
// not held by a committed point, and unlabelled or labelled for this job
// and item (labels without a job, written before they named it, for the
// item's database).
func (c *Coordinator) ownBlobs(ctx context.Context, j db.Job) ([]vault.Manifest, error) {
	ms, err := c.cfg.Vault.List(ctx, jobContainer(j)+"/")
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	held, err := c.cfg.DB.AllBlobs(ctx)
	if err != nil {
		return nil, err
	}
	it, err := c.item(ctx, *j.ItemID)
	if err != nil {
		return nil, err
	}
	var out []vault.Manifest
	for _, m := range ms {
		var l PointLabels
		raw, labelled := m.Labels[labelKey]
		if labelled && json.Unmarshal([]byte(raw), &l) != nil {
			continue
		}
		mine := !labelled || (l.Job == j.ID && l.Item == it.ID) || (l.Job == 0 && l.Database == it.DatabaseName)
		if held[m.Blob] || !mine {
			c.log.Warn("recovery leaves a blob that is not the job's", "job", j.ID, "blob", m.Blob)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// fromMSDB asks the instance for the backup set written to a job's first
// blob; it stands in for the labels when every stripe is committed.
func (c *Coordinator) fromMSDB(ctx context.Context, j db.Job, ms []vault.Manifest) (PointLabels, bool) {
	it, err := c.item(ctx, *j.ItemID)
	if err != nil {
		return PointLabels{}, false
	}
	s, err := c.server(ctx, it.ServerID)
	if err != nil {
		return PointLabels{}, false
	}
	blobs := make([]string, len(ms))
	for i, m := range ms {
		blobs[i] = m.Blob
	}
	sort.Strings(blobs) // stripe names end _1ofN … _NofN
	if n := stripesNamed(blobs[0]); n != len(blobs) {
		return PointLabels{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := c.conn(ctx, s)
	if err != nil {
		return PointLabels{}, false
	}
	set, err := conn.LastBackupSet(ctx, it.DatabaseName, c.urls(db.Point{Blobs: blobs})[0])
	if err != nil {
		return PointLabels{}, false
	}
	var size, stored int64
	for _, m := range ms {
		size, stored = size+m.Size, stored+m.StoredBytes
	}
	p := pointOf(set, j.Kind, blobs, size, stored)
	p.JobID = &j.ID
	if err := c.label(ctx, s, it, p); err != nil {
		return PointLabels{}, false
	}
	return labelsOf(s, it, p, 0), true
}

// stripesNamed reads N from a stripe name ending _1ofN.ext; 1 without one.
func stripesNamed(blob string) int {
	var i, n int
	base := strings.TrimSuffix(strings.TrimSuffix(blob, ".bak"), ".trn")
	if k := strings.LastIndex(base, "_"); k >= 0 {
		if _, err := fmt.Sscanf(base[k:], "_%dof%d", &i, &n); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

func (c *Coordinator) commitRecovered(ctx context.Context, j db.Job, l PointLabels) error {
	it, err := c.item(ctx, *j.ItemID)
	if err != nil {
		return err
	}
	var params backupParams
	json.Unmarshal([]byte(j.Params), &params)
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil {
		return err
	}
	p := l.point()
	p.ItemID, p.JobID, p.Kind, p.RetainUntil = it.ID, &j.ID, j.Kind, retainUntil(l.End, params.RetainDays)
	if pol, err := c.itemPolicy(ctx, it); err == nil {
		exp := expiry(pol, p, points)
		p.ExpiresAt = &exp
	}
	if _, err := c.cfg.DB.CommitPoint(ctx, p); err != nil {
		return err
	}
	c.cfg.DB.JobProgress(ctx, j.ID, 100, l.SizeBytes)
	return nil
}

// vaultFull turns a backup failure whose cause was the vault's storage
// refusing writes for lack of space (SQL Server only saw an HTTP error
// from the device) into UserErrorVaultStorageFull.
func (c *Coordinator) vaultFull(blobs []string, err error) error {
	for _, b := range blobs {
		if serr := c.cfg.Device.StoreError(b); errors.Is(serr, syscall.ENOSPC) {
			return engine.Wrap(engine.CodeVaultFull, serr,
				"the vault's storage is full: it refused to store "+b+" ("+serr.Error()+")")
		}
	}
	return err
}
