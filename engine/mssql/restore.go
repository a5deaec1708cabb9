package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/engine"
)

// Move relocates one database file on restore.
type Move struct {
	LogicalName  string
	PhysicalName string
}

// RestoreRequest is one RESTORE statement of a chain.
type RestoreRequest struct {
	Database string   // the database being restored (may be a new name)
	Log      bool     // RESTORE LOG instead of RESTORE DATABASE
	URLs     []string // the stripes of one backup
	Recovery bool     // WITH RECOVERY; otherwise NORECOVERY so more may follow
	// StandbyFile, on the last link instead of RECOVERY, leaves the
	// database read-only with its undo work in this file, so more logs
	// can still be applied (RESTORE Arguments, STANDBY).
	StandbyFile string
	Replace     bool // overwrite an existing database
	Moves       []Move
	StopAt      *time.Time // UTC; only on the last log
}

// statement builds the RESTORE statement; offset converts STOPAT to the
// instance's local time, which is what SQL Server compares against.
func (r RestoreRequest) statement(offset time.Duration) string {
	verb := "DATABASE"
	if r.Log {
		verb = "LOG"
	}
	urls := make([]string, len(r.URLs))
	for i, u := range r.URLs {
		urls[i] = "URL = " + QuoteString(u)
	}
	opts := []string{"STATS = 5", "BLOCKSIZE = " + strconv.Itoa(BlockSize)}
	switch {
	case r.StandbyFile != "":
		opts = append(opts, "STANDBY = "+QuoteString(r.StandbyFile))
	case r.Recovery:
		opts = append(opts, "RECOVERY")
	default:
		opts = append(opts, "NORECOVERY")
	}
	if r.Replace {
		opts = append(opts, "REPLACE")
	}
	for _, m := range r.Moves {
		opts = append(opts, fmt.Sprintf("MOVE %s TO %s", QuoteString(m.LogicalName), QuoteString(m.PhysicalName)))
	}
	if r.StopAt != nil {
		opts = append(opts, "STOPAT = "+QuoteString(r.StopAt.Add(offset).Format("2006-01-02T15:04:05")))
	}
	return fmt.Sprintf("RESTORE %s %s FROM %s WITH %s", verb, QuoteName(r.Database), strings.Join(urls, ", "), strings.Join(opts, ", "))
}

// Restore runs one RESTORE, reporting progress.
func (c *Conn) Restore(ctx context.Context, r RestoreRequest, progress func(percent int)) error {
	var offset time.Duration
	if r.StopAt != nil {
		offset = c.offsetAt(ctx, *r.StopAt, r.URLs)
	}
	stmt := r.statement(offset)
	if err := c.execWithProgress(ctx, stmt, progress); err != nil {
		return classifyRestore(err, r)
	}
	return nil
}

// Recover brings a database left RESTORING online.
func (c *Conn) Recover(ctx context.Context, database string) error {
	if _, err := c.db.ExecContext(ctx, "RESTORE DATABASE "+QuoteName(database)+" WITH RECOVERY"); err != nil {
		return classifyRestore(err, RestoreRequest{Database: database})
	}
	return nil
}

func classifyRestore(err error, r RestoreRequest) error {
	if err == nil {
		return nil
	}
	n := sqlNumbers(err)
	switch {
	case has(n, 3159):
		return engine.Wrap(engine.CodeTailLogBackupFailed, err, fmt.Sprintf("the tail of the log of %s has not been backed up", r.Database))
	case has(n, 3101):
		return engine.Wrap(engine.CodeRestoreFailed, err, fmt.Sprintf("database %s is in use; close its connections and retry", r.Database))
	case has(n, 1834), has(n, 3154), has(n, 1801):
		return engine.Wrap(engine.CodeTargetDatabaseExists, err, fmt.Sprintf("database %s exists or its files collide: %s", r.Database, sqlMessages(err)))
	case has(n, 4305), has(n, 4326):
		return engine.Wrap(engine.CodeLogChainBroken, err, "the log backup does not continue the chain: "+sqlMessages(err))
	case has(n, 4335), has(n, 4338):
		return engine.Wrap(engine.CodeTimeNotCovered, err, "the point in time is not in this log backup: "+sqlMessages(err))
	case has(n, 3284):
		return engine.Wrap(engine.CodeRestoreBlockSizeMismatch, err, fmt.Sprintf(
			"SQL Server read the backup with BLOCKSIZE = %d but it was written with another block size (error 3284%s)",
			BlockSize, suggestedBlockSize(sqlMessages(err))))
	}
	if len(n) > 0 {
		return engine.Wrap(engine.CodeRestoreFailed, err, sqlMessages(err))
	}
	if errors.Is(err, context.Canceled) {
		return engine.Wrap(engine.CodeCancelled, err, "the restore was cancelled")
	}
	return engine.Wrap(engine.CodeConnectionLost, err, "the connection to SQL Server failed during the restore: "+err.Error())
}

var blockSizeHint = regexp.MustCompile(`'(\d+)' looks like a possible value`)

// suggestedBlockSize quotes the block size error 3284 proposes, if any.
func suggestedBlockSize(msg string) string {
	if m := blockSizeHint.FindStringSubmatch(msg); m != nil {
		return "; SQL Server suggests " + m[1]
	}
	return ""
}

// File is one database file in a backup (RESTORE FILELISTONLY,
// learn.microsoft.com/sql/t-sql/statements/restore-statements-filelistonly-transact-sql).
type File struct {
	LogicalName  string
	PhysicalName string
	Type         string // D data, L log, S FILESTREAM or memory-optimized container (a folder), F full-text catalog (a folder)
}

// FileList reads the files a backup will restore.
func (c *Conn) FileList(ctx context.Context, urls []string) ([]File, error) {
	parts := make([]string, len(urls))
	for i, u := range urls {
		parts[i] = "URL = " + QuoteString(u)
	}
	rows, err := c.db.QueryContext(ctx, "RESTORE FILELISTONLY FROM "+strings.Join(parts, ", "))
	if err != nil {
		return nil, classifyRestore(err, RestoreRequest{})
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []File
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, classifyRestore(err, RestoreRequest{})
		}
		var f File
		for i, col := range cols {
			s := fmt.Sprint(vals[i])
			if b, ok := vals[i].([]byte); ok { // char(1) may arrive as bytes
				s = string(b)
			}
			switch col {
			case "LogicalName":
				f.LogicalName = s
			case "PhysicalName":
				f.PhysicalName = s
			case "Type":
				f.Type = strings.ToUpper(strings.TrimSpace(s))
			}
		}
		out = append(out, f)
	}
	return out, classifyRestore(rows.Err(), RestoreRequest{})
}

// RequireOnline checks, after the last RESTORE ... WITH RECOVERY, that
// the database really is ONLINE in sys.databases: a RESTORE can succeed
// and still leave it RESTORING (a STOPAT beyond the last log applied does,
// with only an informational message).
func (c *Conn) RequireOnline(ctx context.Context, database string) error {
	var state string
	err := c.db.QueryRowContext(ctx, `SELECT state_desc FROM sys.databases WHERE name = @p1`, database).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return engine.Errorf(engine.CodeRestoreFailed, "database %s is not on the instance after its restore", database)
	}
	if err != nil {
		return c.classify(err)
	}
	if state != "ONLINE" {
		return engine.Errorf(engine.CodeRestoreLeftRestoring,
			"the restore finished but left database %s %s instead of ONLINE; run RESTORE DATABASE %s WITH RECOVERY on the instance to bring it online",
			database, state, QuoteName(database))
	}
	return nil
}

// MovesFor places every file of a backup in the target instance's default
// data and log folders under names derived from the new database name, so
// an alternate restore collides with nothing: not the source's files, and
// not each other (SQL Server refuses two files on one path). Data and log
// files get .mdf, .ndf and .ldf names; FILESTREAM, memory-optimized and
// full-text containers are folders, named after their logical names.
func MovesFor(files []File, newName, dataDir, logDir string) []Move {
	base := safeFileName(newName)
	used := map[string]bool{}
	var moves []Move
	var data, logs int
	for _, f := range files {
		dir, name := dataDir, ""
		switch f.Type {
		case "L":
			dir, name = logDir, base+"_log"+numbered(logs)+".ldf"
			logs++
		case "S", "F":
			name = base + "_" + safeFileName(f.LogicalName)
		default:
			name = base + numbered(data) + map[bool]string{true: ".mdf", false: ".ndf"}[data == 0]
			data++
		}
		p := joinWinPath(dir, name)
		for n := 2; used[strings.ToLower(p)]; n++ {
			p = joinWinPath(dir, insertSuffix(name, fmt.Sprintf("_%d", n)))
		}
		used[strings.ToLower(p)] = true
		moves = append(moves, Move{LogicalName: f.LogicalName, PhysicalName: p})
	}
	return moves
}

// StandbyFileFor is the undo file a STANDBY restore of database keeps in
// the instance's default log folder.
func StandbyFileFor(database, logDir string) string {
	return joinWinPath(logDir, safeFileName(database)+"_undo.tuf")
}

// numbered is "" for the first file of a kind and _2, _3, ... after it.
func numbered(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf("_%d", i+1)
}

// insertSuffix puts s before the extension of name, if it has one.
func insertSuffix(name, s string) string {
	if ext := path.Ext(name); ext == ".mdf" || ext == ".ndf" || ext == ".ldf" {
		return strings.TrimSuffix(name, ext) + s + ext
	}
	return name + s
}

// safeFileName keeps a database name usable as a Windows file name.
func safeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 32, strings.ContainsRune(`<>:"/\|?*`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimRight(b.String(), ". ")
	if out == "" {
		out = "db"
	}
	return out
}

// joinWinPath joins a folder and a file name with the folder's separator.
func joinWinPath(dir, file string) string {
	if dir == "" {
		return file
	}
	if strings.Contains(dir, `\`) {
		return strings.TrimRight(dir, `\`) + `\` + file
	}
	return path.Join(dir, file)
}
