package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
)

// TestMigration7KeepsACatalog upgrades a catalog made before migration 7
// (a server, two databases, an item with a point, two queued duplicate
// backups): every row and link survives the rebuild of databases, the
// duplicate is cancelled, and foreign keys are on again afterwards.
func TestMigration7KeepsACatalog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pool := catalogAt(t, dir, 6)
	for _, q := range []string{
		`INSERT INTO servers (id, name, host, port, username, password_enc, created_at) VALUES (1, 'SQL01', 'h', 1433, 'u', x'01', 0)`,
		`INSERT INTO databases (id, server_id, name, database_guid, discovered_at) VALUES (7, 1, 'Sales', 'g1', 0), (8, 1, 'HR', 'g2', 0)`,
		`INSERT INTO items (id, database_id, created_at) VALUES (3, 7, 0)`,
		`INSERT INTO recovery_points (item_id, kind, blobs, start_time, end_time, first_lsn, last_lsn, checkpoint_lsn, database_backup_lsn, created_at)
			VALUES (3, 'full', '["job-1/a.bak"]', 0, 1, '1', '2', '1', '0', 0)`,
		`INSERT INTO jobs (id, operation, kind, status, item_id, created_at) VALUES (10, 'backup', 'log', 'queued', 3, 0), (11, 'backup', 'log', 'queued', 3, 0)`,
	} {
		if _, err := pool.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pool.Close()

	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	it, err := d.ItemByID(ctx, 3)
	if err != nil || it.DatabaseName != "Sales" || it.LastFull == nil {
		t.Fatalf("item after migration = %+v, %v", it, err)
	}
	if dbs, _ := d.ListDatabases(ctx, 1); len(dbs) != 2 {
		t.Fatalf("databases after migration = %+v", dbs)
	}
	if j, _ := d.JobByID(ctx, 10); j.Status != JobQueued {
		t.Fatalf("first queued log = %s", j.Status)
	}
	if j, _ := d.JobByID(ctx, 11); j.Status != JobCancelled {
		t.Fatalf("its duplicate = %s", j.Status)
	}
	var fk int
	d.write.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
	if _, err := d.write.ExecContext(ctx, `INSERT INTO items (database_id, created_at) VALUES (999, 0)`); fk != 1 || err == nil {
		t.Fatalf("foreign keys after migration: pragma %d, dangling item accepted: %v", fk, err)
	}
}

// catalogAt makes a catalog in dir migrated up to version, as an older
// sqlvault left it, for a migration test to fill and upgrade.
func catalogAt(t *testing.T, dir string, version int64) *sql.DB {
	t.Helper()
	pool, err := openPool(filepath.Join(dir, FileName), 1)
	if err != nil {
		t.Fatal(err)
	}
	fsys, _ := subFS()
	p, err := goose.NewProvider(goose.DialectSQLite3, pool, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return pool
}
