package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine"
)

// Instance describes the SQL Server instance itself.
type Instance struct {
	Version         string // ProductVersion, e.g. 16.0.4135.4
	Edition         string
	MachineName     string
	InstanceName    string // MSSQLSERVER for the default instance
	ServerName      string
	DefaultDataPath string
	DefaultLogPath  string
	Sysadmin        bool // the login is a member of sysadmin
}

// Database is one database as discovery sees it.
type Database struct {
	Name               string
	ID                 int
	GUID               string
	State              string // ONLINE, RESTORING, OFFLINE, ...
	RecoveryModel      string // FULL, SIMPLE, BULK_LOGGED
	CompatibilityLevel int
	SizeBytes          int64
	IsSystem           bool
}

// Instance reads the instance's version, edition, names, default paths and
// whether the login is sysadmin. SERVERPROPERTY answers sql_variant, which
// the driver decodes to the underlying type.
func (c *Conn) Instance(ctx context.Context) (Instance, error) {
	var v [7]sql.NullString
	var sysadmin sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('Edition'),
		SERVERPROPERTY('MachineName'), SERVERPROPERTY('InstanceName'), SERVERPROPERTY('ServerName'),
		SERVERPROPERTY('InstanceDefaultDataPath'), SERVERPROPERTY('InstanceDefaultLogPath'), IS_SRVROLEMEMBER('sysadmin')`).
		Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &sysadmin)
	if err != nil {
		return Instance{}, c.classify(err)
	}
	in := Instance{
		Version: v[0].String, Edition: v[1].String, MachineName: v[2].String, InstanceName: v[3].String,
		ServerName: v[4].String, DefaultDataPath: v[5].String, DefaultLogPath: v[6].String,
		Sysadmin: sysadmin.Valid && sysadmin.Int64 == 1,
	}
	if in.InstanceName == "" { // NULL for the default instance
		in.InstanceName = "MSSQLSERVER"
	}
	return in, nil
}

// RequireSysadmin fails with UserErrorSQLNoSysadminMembership when the login
// is not sysadmin: backups and restores need it.
func (c *Conn) RequireSysadmin(ctx context.Context) (Instance, error) {
	in, err := c.Instance(ctx)
	if err != nil {
		return in, err
	}
	if !in.Sysadmin {
		return in, engine.Errorf(engine.CodeNoSysadmin,
			"login %q is not a member of the sysadmin server role on %s", c.target.User, in.ServerName)
	}
	return in, nil
}

// Databases lists every database with state, recovery model, size and
// compatibility level. Three plain queries joined here keep each one simple.
func (c *Conn) Databases(ctx context.Context) ([]Database, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name, database_id, state_desc, recovery_model_desc, compatibility_level
		FROM sys.databases ORDER BY database_id`)
	if err != nil {
		return nil, c.classify(err)
	}
	var out []Database
	byID := map[int]int{}
	for rows.Next() {
		var d Database
		var rm sql.NullString
		if err := rows.Scan(&d.Name, &d.ID, &d.State, &rm, &d.CompatibilityLevel); err != nil {
			rows.Close()
			return nil, c.classify(err)
		}
		d.RecoveryModel = rm.String
		d.IsSystem = d.ID <= 4
		byID[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, c.classify(err)
	}
	if err := c.eachRow(ctx, `SELECT database_id, database_guid FROM sys.database_recovery_status`, func(r *sql.Rows) error {
		var id int
		var g mssql.NullUniqueIdentifier
		if err := r.Scan(&id, &g); err != nil {
			return err
		}
		if i, ok := byID[id]; ok && g.Valid {
			out[i].GUID = strings.ToLower(g.UUID.String())
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// sys.master_files.size counts 8 KiB pages.
	err = c.eachRow(ctx, `SELECT database_id, size FROM sys.master_files`, func(r *sql.Rows) error {
		var id int
		var pages int64
		if err := r.Scan(&id, &pages); err != nil {
			return err
		}
		if i, ok := byID[id]; ok {
			out[i].SizeBytes += pages * 8192
		}
		return nil
	})
	return out, err
}

func (c *Conn) eachRow(ctx context.Context, q string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return c.classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return c.classify(err)
		}
	}
	return c.classify(rows.Err())
}

func (c *Conn) classify(err error) error { return Classify(err, c.target) }

// EnsureCredential creates or updates the SAS credential SQL Server uses for
// URLs under containerURL (SQL Server matches a credential by the longest
// prefix of the URL). The secret is the SAS query string without '?'.
func (c *Conn) EnsureCredential(ctx context.Context, containerURL, sas string) error {
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM sys.credentials WHERE name = @p1`, containerURL).Scan(&n); err != nil {
		return c.classify(err)
	}
	verb := "CREATE"
	if n > 0 {
		verb = "ALTER"
	}
	stmt := fmt.Sprintf(`%s CREDENTIAL %s WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = %s`,
		verb, QuoteName(containerURL), QuoteString(strings.TrimPrefix(sas, "?")))
	if _, err := c.db.ExecContext(ctx, stmt); err != nil {
		return c.classify(err)
	}
	return nil
}

// DropCredential removes a credential once the backup or restore that
// needed it is over, so no token outlives its job on the instance.
func (c *Conn) DropCredential(ctx context.Context, containerURL string) error {
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM sys.credentials WHERE name = @p1`, containerURL).Scan(&n); err != nil {
		return c.classify(err)
	}
	if n == 0 {
		return nil
	}
	if _, err := c.db.ExecContext(ctx, "DROP CREDENTIAL "+QuoteName(containerURL)); err != nil {
		return c.classify(err)
	}
	return nil
}
