package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
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
}

const labelKey = "sqlvault.point"

// labelsOf describes point p of item it on server s, for stripe n.
func labelsOf(s db.Server, it db.Item, p db.Point, n int) PointLabels {
	return PointLabels{Server: s.Name, Host: s.Host, Port: s.Port, Instance: s.InstanceName, Database: it.DatabaseName,
		DatabaseGUID: p.DatabaseGUID, Kind: p.Kind, Stripe: n, Stripes: p.Blobs, Start: p.StartTime, End: p.EndTime,
		FirstLSN: p.FirstLSN, LastLSN: p.LastLSN, CheckpointLSN: p.CheckpointLSN, DatabaseBackupLSN: p.DatabaseBackupLSN,
		DifferentialBaseLSN: p.DifferentialBaseLSN, SizeBytes: p.SizeBytes, StoredBytes: p.StoredBytes}
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
	for _, m := range ms {
		var l PointLabels
		raw, ok := m.Labels[labelKey]
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
	return rep, nil
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
	var d *db.Database
	for i := range dbs {
		if dbs[i].Name == l.Database {
			d = &dbs[i]
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
