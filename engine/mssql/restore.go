package mssql

import (
	"context"
	"errors"
	"fmt"
	"path"
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
	Replace  bool     // overwrite an existing database
	Moves    []Move
	StopAt   *time.Time // UTC; only on the last log
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
	opts := []string{"STATS = 5"}
	if r.Recovery {
		opts = append(opts, "RECOVERY")
	} else {
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
	stmt := r.statement(c.utcOffset(ctx))
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
	}
	if len(n) > 0 {
		return engine.Wrap(engine.CodeRestoreFailed, err, sqlMessages(err))
	}
	if errors.Is(err, context.Canceled) {
		return engine.Wrap(engine.CodeCancelled, err, "the restore was cancelled")
	}
	return engine.Wrap(engine.CodeConnectionLost, err, "the connection to SQL Server failed during the restore: "+err.Error())
}

// File is one database file in a backup (RESTORE FILELISTONLY).
type File struct {
	LogicalName  string
	PhysicalName string
	Type         string // D data, L log
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
			switch col {
			case "LogicalName":
				f.LogicalName = s
			case "PhysicalName":
				f.PhysicalName = s
			case "Type":
				f.Type = s
			}
		}
		out = append(out, f)
	}
	return out, classifyRestore(rows.Err(), RestoreRequest{})
}

// MovesFor places every file of a backup in the target instance's default
// data and log folders under names derived from the new database name, so
// an alternate restore collides with nothing.
func MovesFor(files []File, newName, dataDir, logDir string) []Move {
	var moves []Move
	counts := map[string]int{}
	for _, f := range files {
		dir, ext := dataDir, ".mdf"
		if f.Type == "L" {
			dir, ext = logDir, ".ldf"
		} else if counts["D"] > 0 {
			ext = ".ndf"
		}
		counts[f.Type]++
		name := safeFileName(newName)
		if n := counts[f.Type]; n > 1 {
			name = fmt.Sprintf("%s_%d", name, n)
		}
		if f.Type == "L" {
			name += "_log"
		}
		moves = append(moves, Move{LogicalName: f.LogicalName, PhysicalName: joinWinPath(dir, name+ext)})
	}
	return moves
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
