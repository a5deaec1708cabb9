package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// PointLabels is a recovery point as written into each of its blobs'
// manifests in the vault: enough to rebuild the catalog from the vault
// alone.
type PointLabels struct {
	Server              string    `json:"server"`
	Host                string    `json:"host"`
	Port                int       `json:"port"`
	Instance            string    `json:"instance"`
	Database            string    `json:"database"`
	DatabaseGUID        string    `json:"database_guid"`
	Kind                string    `json:"kind"`
	Stripe              int       `json:"stripe"`
	Stripes             []string  `json:"stripes"`
	Start               time.Time `json:"start"`
	End                 time.Time `json:"end"`
	FirstLSN            string    `json:"first_lsn"`
	LastLSN             string    `json:"last_lsn"`
	CheckpointLSN       string    `json:"checkpoint_lsn"`
	DatabaseBackupLSN   string    `json:"database_backup_lsn"`
	DifferentialBaseLSN string    `json:"differential_base_lsn"`
	SizeBytes           int64     `json:"size_bytes"`
	StoredBytes         int64     `json:"stored_bytes"`
	// The job that wrote the point and its item, in the catalog of the day
	// (0 in labels written before they were recorded): recovery commits only
	// blobs labelled for the job and item it recovers.
	Job  int64 `json:"job,omitempty"`
	Item int64 `json:"item,omitempty"`
}

const labelKey = "sqlvault.point"

// labelsOf describes point p of item it on server s, for stripe n.
func labelsOf(s db.Server, it db.Item, p db.Point, n int) PointLabels {
	return PointLabels{Server: s.Name, Host: s.Host, Port: s.Port, Instance: s.InstanceName, Database: it.DatabaseName,
		DatabaseGUID: p.DatabaseGUID, Kind: p.Kind, Stripe: n, Stripes: p.Blobs, Start: p.StartTime, End: p.EndTime,
		FirstLSN: p.FirstLSN, LastLSN: p.LastLSN, CheckpointLSN: p.CheckpointLSN, DatabaseBackupLSN: p.DatabaseBackupLSN,
		DifferentialBaseLSN: p.DifferentialBaseLSN, SizeBytes: p.SizeBytes, StoredBytes: p.StoredBytes,
		Job: derefID(p.JobID), Item: it.ID}
}

func derefID(id *int64) int64 {
	if id == nil {
		return 0
	}
	return *id
}

// point is the catalog row the labels describe, without item, job or
// retention.
func (l PointLabels) point() db.Point {
	return db.Point{Kind: l.Kind, Blobs: l.Stripes, StartTime: l.Start, EndTime: l.End, FirstLSN: l.FirstLSN,
		LastLSN: l.LastLSN, CheckpointLSN: l.CheckpointLSN, DatabaseBackupLSN: l.DatabaseBackupLSN,
		DifferentialBaseLSN: l.DifferentialBaseLSN, SizeBytes: l.SizeBytes, StoredBytes: l.StoredBytes, DatabaseGUID: l.DatabaseGUID}
}

func (l PointLabels) encode() map[string]string {
	b, _ := json.Marshal(l)
	return map[string]string{labelKey: string(b)}
}

// RebuildReport says what RebuildCatalog restored.
type RebuildReport struct {
	Servers, Databases, Items, Points, Skipped int
}

// RebuildCatalog recreates servers, databases, items and recovery points
// from the vault's manifests, for a server whose catalog was lost. Servers
// come back without their password (status says so) and items without a
// policy (stopped, backups kept), so nothing runs until an admin reviews
// them. Points already in the catalog are left alone.
func (c *Coordinator) RebuildCatalog(ctx context.Context) (RebuildReport, error) {
	var rep RebuildReport
	ms, err := c.cfg.Vault.List(ctx, "")
	if err != nil {
		return rep, err
	}
	known, err := c.cfg.DB.AllBlobs(ctx)
	if err != nil {
		return rep, err
	}
	var points []PointLabels
	var lastJob int64 // the highest job id the vault knows, by container or label
	for _, m := range ms {
		var l PointLabels
		raw, ok := m.Labels[labelKey]
		lastJob = max(lastJob, containerJob(m.Blob))
		if ok && json.Unmarshal([]byte(raw), &l) == nil {
			lastJob = max(lastJob, l.Job)
		}
		if !ok || json.Unmarshal([]byte(raw), &l) != nil || l.Stripe != 0 {
			if !ok {
				rep.Skipped++
			}
			continue
		}
		if known[m.Blob] {
			continue
		}
		points = append(points, l)
	}
	sort.Slice(points, func(i, j int) bool { return points[i].End.Before(points[j].End) })
	servers := map[string]db.Server{}
	for _, l := range points {
		s, ok := servers[l.Server]
		if !ok {
			if s, err = c.rebuildServer(ctx, l, &rep); err != nil {
				return rep, err
			}
			servers[l.Server] = s
		}
		itemID, err := c.rebuildItem(ctx, s, l, &rep)
		if err != nil {
			return rep, err
		}
		p := l.point()
		p.ItemID = itemID
		if _, err := c.cfg.DB.CommitPoint(ctx, p); err != nil {
			return rep, err
		}
		rep.Points++
	}
	// Job ids continue past the vault's, so nothing a new job writes or
	// reads can be mistaken for an old job's.
	if err := c.cfg.DB.ReserveJobIDs(ctx, lastJob, fmt.Sprintf("catalog rebuilt from the vault: %d servers, %d databases, %d items, %d recovery points; job ids continue after %d",
		rep.Servers, rep.Databases, rep.Items, rep.Points, lastJob)); err != nil {
		return rep, err
	}
	return rep, nil
}

// containerJob reads the job id from a blob in a job's container,
// job-ID/… or job-ID-RANDOM/…; 0 for other names.
func containerJob(blob string) int64 {
	container, _, _ := strings.Cut(blob, "/")
	digits, ok := strings.CutPrefix(container, "job-")
	if !ok {
		return 0
	}
	digits, _, _ = strings.Cut(digits, "-")
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0
	}
	return id
}

func (c *Coordinator) rebuildServer(ctx context.Context, l PointLabels, rep *RebuildReport) (db.Server, error) {
	list, err := c.cfg.DB.ListServers(ctx)
	if err != nil {
		return db.Server{}, err
	}
	for _, s := range list {
		if strings.EqualFold(s.Name, l.Server) {
			return s, nil
		}
	}
	s, err := c.cfg.DB.CreateServer(ctx, db.Server{Name: l.Server, Host: l.Host, Port: l.Port, InstanceName: l.Instance,
		Username: "unknown", PasswordEnc: c.cfg.Secrets.Seal(""), Encrypt: "disable"})
	if err != nil {
		return s, fmt.Errorf("rebuild server %s: %w", l.Server, err)
	}
	c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusWarning, string(engine.CodeSQLLoginFailed),
		"rebuilt from the vault: enter the SQL login and password again to resume backups")
	rep.Servers++
	return s, nil
}

func (c *Coordinator) rebuildItem(ctx context.Context, s db.Server, l PointLabels, rep *RebuildReport) (int64, error) {
	dbs, err := c.cfg.DB.ListDatabases(ctx, s.ID)
	if err != nil {
		return 0, err
	}
	// One incarnation of the name (database_guid) per row: points come
	// oldest first, so a live row of another guid is the older one.
	var d, live *db.Database
	for i := range dbs {
		if dbs[i].Name != l.Database {
			continue
		}
		if dbs[i].GUID == l.DatabaseGUID || dbs[i].GUID == "" || l.DatabaseGUID == "" {
			d = &dbs[i]
		}
		if !dbs[i].Gone {
			live = &dbs[i]
		}
	}
	if d == nil && live != nil {
		if err := c.cfg.DB.RetireDatabase(ctx, live.ID); err != nil {
			return 0, err
		}
	}
	if d == nil {
		if err := c.cfg.DB.AddDatabase(ctx, s.ID, db.Database{Name: l.Database, GUID: l.DatabaseGUID, State: "UNKNOWN",
			RecoveryModel: "FULL", Note: "rebuilt from the vault; select Rediscover DBs"}); err != nil {
			return 0, err
		}
		rep.Databases++
		return c.rebuildItem(ctx, s, l, rep)
	}
	if d.ItemID != nil {
		return *d.ItemID, nil
	}
	it, err := c.cfg.DB.CreateStoppedItem(ctx, d.ID)
	if err != nil {
		return 0, err
	}
	rep.Items++
	return it, nil
}
