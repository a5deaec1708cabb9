package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"

	"github.com/sqlvault/sqlvault/engine"
)

// CheckDBResult is what DBCC CHECKDB found in a database.
type CheckDBResult struct {
	Clean    bool
	Messages []string // "Msg N: text" for each error SQL Server sent
}

// CheckDB runs DBCC CHECKDB WITH NO_INFOMSGS, ALL_ERRORMSGS (and
// PHYSICAL_ONLY when asked: page and allocation checks only, for large
// databases) (learn.microsoft.com/sql/t-sql/database-console-commands/dbcc-checkdb-transact-sql).
// Consistency errors (the 2500s, 7900s and 8900s DBCC raises) are the
// result, not a failure; any other error is returned.
func (c *Conn) CheckDB(ctx context.Context, database string, physicalOnly bool) (CheckDBResult, error) {
	stmt := "DBCC CHECKDB (" + QuoteString(database) + ") WITH NO_INFOMSGS, ALL_ERRORMSGS"
	if physicalOnly {
		stmt += ", PHYSICAL_ONLY"
	}
	err := c.execWithProgress(ctx, stmt, nil)
	if err == nil {
		return CheckDBResult{Clean: true}, nil
	}
	n := sqlNumbers(err)
	if len(n) == 0 || !allConsistency(n) {
		if len(n) > 0 {
			return CheckDBResult{}, engine.Wrap(engine.CodeRestoreFailed, err, "DBCC CHECKDB could not run: "+sqlMessages(err))
		}
		return CheckDBResult{}, c.classify(err)
	}
	return CheckDBResult{Messages: splitMessages(sqlMessages(err))}, nil
}

var msgStart = regexp.MustCompile(`Msg \d+: `)

// splitMessages splits sqlMessages' "Msg N: text Msg M: text" into its
// messages.
func splitMessages(s string) []string {
	idx := msgStart.FindAllStringIndex(s, -1)
	out := make([]string, len(idx))
	for i, at := range idx {
		end := len(s)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out[i] = strings.TrimSpace(s[at[0]:end])
	}
	return out
}

// allConsistency reports whether every error number is one DBCC raises
// for what it found (MS "Database engine events and errors": 2500-2599,
// 7900-7999, 8900-8999).
func allConsistency(ns []int32) bool {
	for _, n := range ns {
		if !(n >= 2500 && n < 2600 || n >= 7900 && n < 8000 || n >= 8900 && n < 9000) {
			return false
		}
	}
	return true
}

// RowCounts reads each user table's rows from sys.partitions (heap or
// clustered index, index_id 0 or 1, summed over partitions), keyed by
// schema-less table name: a cheap read that needs no table scan.
// sys.partitions.rows is documented as approximate
// (learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-partitions-transact-sql).
func (c *Conn) RowCounts(ctx context.Context, database string) (map[string]int64, error) {
	q := fmt.Sprintf("SELECT t.name, p.rows FROM %[1]s.sys.tables t JOIN %[1]s.sys.partitions p ON p.object_id = t.object_id WHERE p.index_id IN (0, 1)", QuoteName(database))
	out := map[string]int64{}
	err := c.eachRow(ctx, q, func(r *sql.Rows) error {
		var name string
		var rows int64
		if err := r.Scan(&name, &rows); err != nil {
			return err
		}
		out[name] += rows
		return nil
	})
	return out, err
}

// VerifyOnly runs RESTORE VERIFYONLY ... WITH CHECKSUM against the
// backup's stripes: the backup set is complete and readable and its page
// checksums hold, without restoring it
// (learn.microsoft.com/sql/t-sql/statements/restore-statements-verifyonly-transact-sql).
func (c *Conn) VerifyOnly(ctx context.Context, urls []string) error {
	parts := make([]string, len(urls))
	for i, u := range urls {
		parts[i] = "URL = " + QuoteString(u)
	}
	stmt := fmt.Sprintf("RESTORE VERIFYONLY FROM %s WITH CHECKSUM, BLOCKSIZE = %d", strings.Join(parts, ", "), BlockSize)
	if err := c.execWithProgress(ctx, stmt, nil); err != nil {
		return classifyVerify(err)
	}
	return nil
}

func classifyVerify(err error) error {
	if has(sqlNumbers(err), 3183) {
		return engine.Wrap(engine.CodeBackupChecksum, err, "SQL Server found a damaged page in the backup: "+sqlMessages(err))
	}
	return classifyRestore(err, RestoreRequest{})
}

// DropDatabase drops a database (a verification copy).
func (c *Conn) DropDatabase(ctx context.Context, database string) error {
	if _, err := c.db.ExecContext(ctx, "DROP DATABASE "+QuoteName(database)); err != nil {
		return engine.Wrap(engine.CodeRestoreFailed, err, "dropping "+database+": "+sqlMessages(err))
	}
	return nil
}
