package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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
	// IsSnapshot: a database snapshot (source_database_id set), never
	// backed up (BACKUP refuses snapshots).
	IsSnapshot bool
	IsReadOnly bool // is_read_only
	// IsInStandby: restored WITH STANDBY, readable between log restores.
	IsInStandby bool
	// AGSecondary: a secondary replica of an availability group
	// (replica_id set, is_primary_replica = 0 for the local replica).
	AGSecondary bool
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
	return in, checkVersion(in)
}

// MinMajorVersion is SQL Server 2016 (13.x): the first version that writes
// BACKUP TO URL into block blobs with a shared access signature credential
// (learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url).
// Earlier ones write page blobs with a storage account key only, which the
// device does not serve.
const MinMajorVersion = 13

// checkVersion refuses instances older than MinMajorVersion. A version that
// does not parse is let through: every SQL Server answers ProductVersion
// as major.minor.build.revision, and refusing on a surprise would lock out
// a server that works.
func checkVersion(in Instance) error {
	major, _, ok := strings.Cut(in.Version, ".")
	n, err := strconv.Atoi(major)
	if !ok || err != nil || n >= MinMajorVersion {
		return nil
	}
	return engine.Errorf(engine.CodeSQLVersionUnsupported,
		"%s runs SQL Server %s (%s); sqlvault needs SQL Server 2016 (13.x) or later for backups to URL with block blobs and SAS credentials",
		cmpOr(in.ServerName, in.MachineName), in.Version, productName(n))
}

// productName is the marketing name of a major version.
func productName(major int) string {
	names := map[int]string{9: "SQL Server 2005", 10: "SQL Server 2008", 11: "SQL Server 2012", 12: "SQL Server 2014"}
	if s, ok := names[major]; ok {
		return s
	}
	return "major version " + strconv.Itoa(major)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

// Databases lists every database with state, recovery model, size,
// compatibility level and what limits its backups (snapshot, read-only,
// standby, availability group secondary). Plain queries joined here keep
// each one simple.
func (c *Conn) Databases(ctx context.Context) ([]Database, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT name, database_id, state_desc, recovery_model_desc, compatibility_level,
		source_database_id, is_read_only, is_in_standby, replica_id FROM sys.databases ORDER BY database_id`)
	if err != nil {
		return nil, c.classify(err)
	}
	var out []Database
	byID := map[int]int{}
	inAG := false
	for rows.Next() {
		var d Database
		var rm sql.NullString
		var source sql.NullInt64
		var replica mssql.NullUniqueIdentifier
		if err := rows.Scan(&d.Name, &d.ID, &d.State, &rm, &d.CompatibilityLevel, &source, &d.IsReadOnly, &d.IsInStandby, &replica); err != nil {
			rows.Close()
			return nil, c.classify(err)
		}
		d.RecoveryModel = rm.String
		d.IsSystem = d.ID <= 4
		d.IsSnapshot = source.Valid
		inAG = inAG || replica.Valid
		byID[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, c.classify(err)
	}
	if inAG {
		if err := c.markSecondaries(ctx, out, byID); err != nil {
			return nil, err
		}
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

// markSecondaries flags the databases whose local replica is a secondary
// (learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-hadr-database-replica-states-transact-sql).
func (c *Conn) markSecondaries(ctx context.Context, dbs []Database, byID map[int]int) error {
	return c.eachRow(ctx, `SELECT database_id, is_primary_replica FROM sys.dm_hadr_database_replica_states WHERE is_local = 1`, func(r *sql.Rows) error {
		var id int
		var primary sql.NullBool
		if err := r.Scan(&id, &primary); err != nil {
			return err
		}
		if i, ok := byID[id]; ok && primary.Valid && !primary.Bool {
			dbs[i].AGSecondary = true
		}
		return nil
	})
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
