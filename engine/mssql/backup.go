package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine"
)

// Backup kinds, as the API names them.
const (
	KindFull         = "full"
	KindDifferential = "differential"
	KindLog          = "log"
	KindCopyOnlyFull = "copy_only_full"
)

// BackupRequest is one BACKUP statement.
type BackupRequest struct {
	Database    string
	Kind        string
	URLs        []string // one per stripe
	Compression bool     // SQL Server's own compression; off keeps dedup effective
	Name        string   // backup set name
	Description string
	NoRecovery  bool // tail-log backup: leave the database RESTORING
}

// MaxTransferSize is the size of each Put Block SQL Server sends; 4 MiB is
// the largest it uses with block blobs.
const MaxTransferSize = 4 << 20

// BlockSize is the BLOCKSIZE every BACKUP is written with, as MS "SQL
// Server back up to URL" recommends for block blobs; every RESTORE names it
// too, or SQL Server fails a compressed backup's restore with error 3284
// (MS "Back up to URL best practices and troubleshooting").
const BlockSize = 65536

// Statement builds the BACKUP statement. Every name and string is quoted.
func (r BackupRequest) Statement() (string, error) {
	if len(r.URLs) == 0 {
		return "", errors.New("backup needs at least one URL")
	}
	verb, opts := "DATABASE", []string{"CHECKSUM", "STATS = 5",
		"MAXTRANSFERSIZE = " + strconv.Itoa(MaxTransferSize), "BLOCKSIZE = " + strconv.Itoa(BlockSize)}
	switch r.Kind {
	case KindFull:
	case KindCopyOnlyFull:
		opts = append(opts, "COPY_ONLY")
	case KindDifferential:
		opts = append(opts, "DIFFERENTIAL")
	case KindLog:
		verb = "LOG"
		if r.NoRecovery {
			opts = append(opts, "NORECOVERY")
		}
	default:
		return "", fmt.Errorf("unknown backup kind %q", r.Kind)
	}
	if r.Compression {
		opts = append(opts, "COMPRESSION")
	} else {
		opts = append(opts, "NO_COMPRESSION")
	}
	if r.Name != "" {
		opts = append(opts, "NAME = "+QuoteString(trunc(r.Name, 128)))
	}
	if r.Description != "" {
		opts = append(opts, "DESCRIPTION = "+QuoteString(trunc(r.Description, 255)))
	}
	urls := make([]string, len(r.URLs))
	for i, u := range r.URLs {
		urls[i] = "URL = " + QuoteString(u)
	}
	return fmt.Sprintf("BACKUP %s %s TO %s WITH %s", verb, QuoteName(r.Database), strings.Join(urls, ", "), strings.Join(opts, ", ")), nil
}

// BackupSet is SQL Server's record of a finished backup (msdb.dbo.backupset).
type BackupSet struct {
	ID                  int64
	Type                string // D, I, L
	IsCopyOnly          bool
	FirstLSN            string
	LastLSN             string
	CheckpointLSN       string
	DatabaseBackupLSN   string
	DifferentialBaseLSN string
	Start, Finish       time.Time // UTC
	Size                int64
	CompressedSize      int64
	DatabaseGUID        string
}

// Backup runs the BACKUP statement, reporting each "n percent processed."
// message, and returns the backup set SQL Server recorded in msdb.
func (c *Conn) Backup(ctx context.Context, r BackupRequest, progress func(percent int)) (BackupSet, error) {
	stmt, err := r.Statement()
	if err != nil {
		return BackupSet{}, engine.Wrap(engine.CodeInvalidRequest, err, "bad backup request")
	}
	if err := c.execWithProgress(ctx, stmt, progress); err != nil {
		return BackupSet{}, classifyBackup(err, r, c.target)
	}
	return c.LastBackupSet(ctx, r.Database, r.URLs[0])
}

var percentRe = regexp.MustCompile(`^(\d{1,3}) percent processed\.`)

// execWithProgress runs a statement that reports STATS progress as
// informational messages, which go-mssqldb delivers through sqlexp.
func (c *Conn) execWithProgress(ctx context.Context, stmt string, progress func(int)) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	msgs := &sqlexp.ReturnMessage{}
	rows, err := conn.QueryContext(ctx, stmt, msgs)
	if err != nil {
		return err
	}
	defer rows.Close()
	var errs []error
	for {
		switch m := msgs.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			if p := percentRe.FindStringSubmatch(m.Message.String()); p != nil && progress != nil {
				n, _ := strconv.Atoi(p[1])
				progress(n)
			}
		case sqlexp.MsgError:
			errs = append(errs, m.Error)
			var sqlErr mssql.Error
			if !errors.As(m.Error, &sqlErr) {
				// Not an error SQL Server sent but the connection failing:
				// no more messages will come.
				return joinSQLErrors(errs)
			}
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		case sqlexp.MsgNextResultSet:
			if !rows.NextResultSet() {
				if err := rows.Err(); err != nil {
					errs = append(errs, err)
				}
				return joinSQLErrors(errs)
			}
		case nil:
			return ctx.Err()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// joinSQLErrors keeps SQL Server's errors in order: the first names the
// cause (e.g. 3201), the last is the statement's end (3013).
func joinSQLErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// classifyBackup names the failure of a BACKUP statement.
func classifyBackup(err error, r BackupRequest, t Target) error {
	var se mssql.Error
	numbers := sqlNumbers(err)
	switch {
	case has(numbers, 4208):
		return engine.Wrap(engine.CodeLogBackupSimple, err, fmt.Sprintf("database %s uses the SIMPLE recovery model, which allows no log backups", r.Database))
	case has(numbers, 4214):
		return engine.Wrap(engine.CodeMissingFullBackup, err, fmt.Sprintf("database %s has no full backup to base a log backup on", r.Database))
	case has(numbers, 3035):
		return engine.Wrap(engine.CodeMissingFullBackup, err, fmt.Sprintf("database %s has no full backup to base a differential on", r.Database))
	case has(numbers, 911), has(numbers, 3701):
		return engine.Wrap(engine.CodeDatabaseNotFound, err, fmt.Sprintf("database %s does not exist on the instance", r.Database))
	case has(numbers, 3201), has(numbers, 3013):
		return engine.Wrap(engine.CodeBackupFailed, err, "SQL Server could not write the backup to the device: "+sqlMessages(err))
	case errors.Is(err, context.Canceled):
		return engine.Wrap(engine.CodeCancelled, err, "the backup was cancelled")
	case errors.As(err, &se):
		return engine.Wrap(engine.CodeBackupFailed, err, sqlMessages(err))
	}
	return engine.Wrap(engine.CodeConnectionLost, err, "the connection to SQL Server failed during the backup: "+err.Error())
}

// sqlNumbers lists the SQL Server error numbers in err and its chain.
func sqlNumbers(err error) []int32 {
	var out []int32
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var se mssql.Error
		if errors.As(e, &se) {
			out = append(out, se.Number)
			for _, a := range se.All {
				out = append(out, a.Number)
			}
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

func sqlMessages(err error) string {
	seen := map[string]bool{}
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var se mssql.Error
		if errors.As(e, &se) {
			all := se.All
			if len(all) == 0 {
				all = []mssql.Error{se}
			}
			for _, a := range all {
				m := fmt.Sprintf("Msg %d: %s", a.Number, a.Message)
				if !seen[m] {
					seen[m] = true
					parts = append(parts, m)
				}
			}
			return
		}
		if e != nil {
			parts = append(parts, e.Error())
		}
	}
	walk(err)
	return strings.Join(parts, " ")
}

func has(ns []int32, n int32) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// LastBackupSet reads the newest backup set of the database written to url.
// backupset's dates are in the instance's local time; each set is converted
// to UTC with its own time_zone column, the offset in force when it started
// (MS "backupset (Transact-SQL)"), not the instance's offset now.
func (c *Conn) LastBackupSet(ctx context.Context, database, url string) (BackupSet, error) {
	var b BackupSet
	var diffBase, dbBackup, ckpt sql.NullString
	var copyOnly sql.NullBool
	var compressed, zone sql.NullInt64
	var guid mssql.NullUniqueIdentifier
	err := c.db.QueryRowContext(ctx, `SELECT TOP (1) bs.backup_set_id, bs.type, bs.is_copy_only, bs.first_lsn, bs.last_lsn,
		bs.checkpoint_lsn, bs.database_backup_lsn, bs.differential_base_lsn, bs.backup_start_date, bs.backup_finish_date,
		bs.backup_size, bs.compressed_backup_size, bs.database_guid, bs.time_zone
		FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id
		WHERE bs.database_name = @p1 AND mf.physical_device_name = @p2
		ORDER BY bs.backup_set_id DESC`, database, url).
		Scan(&b.ID, &b.Type, &copyOnly, &b.FirstLSN, &b.LastLSN, &ckpt, &dbBackup, &diffBase, &b.Start, &b.Finish,
			&b.Size, &compressed, &guid, &zone)
	if errors.Is(err, sql.ErrNoRows) {
		return b, engine.Errorf(engine.CodeBackupFailed, "SQL Server reported success but msdb has no backup of %s to %s", database, url)
	}
	if err != nil {
		return b, c.classify(err)
	}
	b.IsCopyOnly, b.CheckpointLSN, b.DatabaseBackupLSN, b.DifferentialBaseLSN = copyOnly.Bool, ckpt.String, dbBackup.String, diffBase.String
	b.CompressedSize = compressed.Int64
	if guid.Valid {
		b.DatabaseGUID = strings.ToLower(guid.UUID.String())
	}
	off := c.setOffset(ctx, zone)
	b.Start, b.Finish = toUTC(b.Start, off), toUTC(b.Finish, off)
	return b, nil
}

// setOffset reads a backup set's time_zone column: local time minus UTC in
// 15-minute intervals, -48 to +48, 127 when unknown. An unknown (or NULL)
// zone falls back to the instance's offset now.
func (c *Conn) setOffset(ctx context.Context, zone sql.NullInt64) time.Duration {
	if known(zone) {
		return time.Duration(zone.Int64) * 15 * time.Minute
	}
	return c.utcOffset(ctx)
}

// utcOffset is the instance's offset from UTC; zero if it cannot be read.
func (c *Conn) utcOffset(ctx context.Context) time.Duration {
	var minutes int
	if err := c.db.QueryRowContext(ctx, `SELECT DATEDIFF(MINUTE, GETUTCDATE(), GETDATE())`).Scan(&minutes); err != nil {
		return 0
	}
	return time.Duration(minutes) * time.Minute
}

// toUTC reads a datetime the driver returned as UTC wall-clock digits,
// which are really the instance's local time.
func toUTC(t time.Time, offset time.Duration) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Add(-offset)
}

func trunc(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
