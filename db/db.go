// Package db is sqlvault's catalog: one SQLite file (modernc.org/sqlite, no
// cgo) holding users, servers, databases, policies, protected items, jobs,
// recovery points and alerts. Migrations are embedded and applied at Open.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // also registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row asked for by id or name does not exist.
var ErrNotFound = errors.New("not found")

// DB is the catalog. Writes go through a single connection (SQLite allows one
// writer; queuing them in Go beats busy-waiting in SQLite), reads through a
// small pool that WAL mode lets run beside the writer.
type DB struct {
	write *sql.DB
	read  *sql.DB
	path  string
	file  os.FileInfo // the catalog file as opened, to notice it deleted or replaced
	now   func() time.Time
}

// FileName is the catalog's name inside the data directory.
const FileName = "sqlvault.db"

// Open creates or opens the catalog in dir and brings its schema up to date.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	write, err := openPool(path, 1)
	if err != nil {
		return nil, err
	}
	read, err := openPool(path, 4)
	if err != nil {
		write.Close()
		return nil, err
	}
	d := &DB{write: write, read: read, path: path, now: time.Now}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if d.file, err = os.Stat(path); err != nil {
		d.Close()
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return d, nil
}

// createFile makes an empty catalog file if there is none (SQLite takes an
// empty file as a new database), so that the pools can open with mode=rw: a
// connection opened after the file was deleted then fails instead of
// creating an empty catalog in its place.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create catalog %s: %w", path, err)
	}
	return f.Close()
}

func openPool(path string, conns int) (*sql.DB, error) {
	if err := createFile(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", "rw")
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	pool, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(conns)
	pool.SetConnMaxLifetime(0)
	return pool, nil
}

func (d *DB) migrate(ctx context.Context) error {
	fsys, err := subFS()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, d.write, fsys)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate catalog %s: %w", d.path, err)
	}
	return nil
}

// SchemaVersion reports the newest migration applied to the catalog.
func (d *DB) SchemaVersion(ctx context.Context) (int64, error) {
	fsys, err := subFS()
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, d.read, fsys)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// Ping checks that the catalog file is still the one opened and that it
// answers a query, for /healthz and the periodic check.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.CheckFile(); err != nil {
		return err
	}
	var one int
	return d.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// CheckFile reports whether the file at the catalog's path is still the one
// opened. SQLite keeps serving a deleted or renamed file from its open
// descriptor, so every write would land where no restart finds it.
func (d *DB) CheckFile() error {
	fi, err := os.Stat(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("catalog file %s was deleted while open: every change since is lost at the next restart; stop the server and restore the file, or run sqlvault vault rebuild-catalog", d.path)
	}
	if err != nil {
		return fmt.Errorf("catalog file %s: %w", d.path, err)
	}
	if !os.SameFile(d.file, fi) {
		return fmt.Errorf("catalog file %s was replaced by another file while open: the server still writes to the old one; restart it to use the new file", d.path)
	}
	return nil
}

// sqliteFull is SQLite's primary result code SQLITE_FULL
// (https://www.sqlite.org/rc.html#full): the disk, or max_page_count, left
// no room for the pages a write needs. The write is rolled back.
const sqliteFull = 13

// IsStorageFull reports whether err is a catalog write refused for want of
// space.
func IsStorageFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteFull
}

// SetMaxPageCount caps the catalog at n pages (never below its current
// size) on the writing connection; tests use it to meet SQLITE_FULL the way
// a full disk raises it.
func (d *DB) SetMaxPageCount(ctx context.Context, n int64) error {
	_, err := d.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n))
	return err
}

// Path is the catalog file, for messages.
func (d *DB) Path() string { return d.path }

// Close closes both pools.
func (d *DB) Close() error {
	return errors.Join(d.read.Close(), d.write.Close())
}

// SetClock replaces the clock, for tests.
func (d *DB) SetClock(now func() time.Time) { d.now = now }

func (d *DB) nowMS() int64 { return d.now().UnixMilli() }

// tx runs fn in a write transaction.
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ms converts a time to the catalog's Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts Unix milliseconds back to UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullTime converts a nullable column to *time.Time.
func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}
