package sqlsim

import (
	"crypto/rand"
	"encoding/gob"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

func init() {
	gob.Register(time.Time{})
	gob.Register([16]byte{})
	gob.Register([]byte{})
	gob.Register(tds.Decimal{}) // numeric values in user tables and msdb
}

// sqlErr makes a SQL Server error message (state 1).
func sqlErr(number int32, class uint8, text string) *tds.Message {
	return &tds.Message{Number: number, Class: class, State: 1, Text: text}
}

// LSNs are SQL Server's numeric(25,0) form: VLF sequence * 10^15 + log
// block * 10^5 + slot. The simulator numbers log records n = 1, 2, ... in
// VLF 37, block n, slot 1.
func lsnOf(n int64) int64 { return 37_000_000_000_000_000 + n*100_000 + 1 }

func lsnDecimal(l int64) any {
	if l == 0 {
		return nil
	}
	return tds.DecimalFromInt64(l, 0)
}

// Login is a SQL login.
type Login struct {
	Name     string
	Password string
	Sysadmin bool
	Created  time.Time
}

// Credential is a server credential (CREATE CREDENTIAL).
type Credential struct {
	ID       int
	Name     string
	Identity string
	Secret   string
	Created  time.Time
}

// ColDef is a user table column.
type ColDef struct {
	Name string
	Type string // int, bigint, nvarchar, datetime2, bit, float, decimal, uniqueidentifier, varbinary
	// NotNull refuses NULL (515); it is set for NOT NULL and key columns
	// without IDENTITY or DEFAULT, whose values sqlsim does not generate.
	NotNull bool
	// Key names the PRIMARY KEY or UNIQUE constraint the column belongs
	// to ("" none); KeyKind is "PRIMARY KEY" or "UNIQUE KEY" (constraints.go).
	Key, KeyKind string
	// generated marks IDENTITY and DEFAULT while CREATE TABLE is read.
	generated bool
}

// Table is a user table; rows are keyed by a stable row id.
type Table struct {
	Name    string
	Columns []ColDef
	Rows    map[int64][]any
	NextRow int64
}

// LogRecord is one logged change of a database.
type LogRecord struct {
	N      int64 // LSN counter
	Time   time.Time
	Op     string // insert, update, delete, create_table, drop_table, checkpoint
	Table  string
	RowID  int64
	Values []any
	Cols   []ColDef
}

// Database is one database with its data, log and backup state.
type Database struct {
	Name     string
	ID       int
	GUID     [16]byte
	Created  time.Time
	State    string // a sys.databases state_desc: ONLINE, RESTORING, RECOVERING, RECOVERY_PENDING, SUSPECT, EMERGENCY, OFFLINE
	Recovery string // FULL, SIMPLE, BULK_LOGGED
	Compat   int
	Tables   map[string]*Table
	Files    []DBFile

	ReadOnly    bool // ALTER DATABASE SET READ_ONLY, or a snapshot
	Standby     bool // RESTORE ... WITH STANDBY: readable between log restores
	SourceID    int  // a database snapshot's source database (CREATE DATABASE ... AS SNAPSHOT OF)
	AGSecondary bool // a secondary replica of an availability group (Config.AGSecondaries)

	LogN        int64       // last LSN counter used
	Log         []LogRecord // the active log, since the truncation point
	LogStart    int64       // LSN counter of the first record kept
	ChainOpen   bool        // a full backup in FULL recovery started a log chain
	LastLogBack int64       // LSN counter where the last log backup ended
	DiffBase    int64       // checkpoint LSN counter of the last full (differential base)
	DiffBaseID  [16]byte
	// Pages: the database's size in 8 KiB pages and which changed since
	// the differential base (a differential backs up only those).
	Pages        int64
	PageVersion  map[int64]int64
	ChangedPages map[int64]bool

	// Restore progress while RESTORING.
	RedoN        int64 // LSN counter to continue rolling forward from
	RestoredBase int64 // checkpoint counter of the full it was restored from
	TailBacked   bool  // the tail of the log was backed up (NORECOVERY)
	RestoredAt   time.Time
	CorruptPage  int64 // a damaged data page restored from a damaged backup (dbcc.go)
}

func newGUID() [16]byte {
	var g [16]byte
	rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func guidString(g [16]byte) string {
	return fmt.Sprintf("%X-%X-%X-%X-%X", g[0:4], g[4:6], g[6:8], g[8:10], g[10:])
}

// isSystem reports whether the database is master, model, msdb or tempdb.
func (d *Database) isSystem() bool { return d.ID <= 4 }

// appendLog records a change at now and returns its LSN counter.
func (d *Database) appendLog(now time.Time, rec LogRecord) int64 {
	d.LogN++
	rec.N, rec.Time = d.LogN, now
	d.Log = append(d.Log, rec)
	if rec.Op == "insert" || rec.Op == "update" || rec.Op == "delete" {
		d.touchPage(rec.RowID)
	}
	return rec.N
}

// rowsPerPage maps rows to pages so changes dirty a plausible set of pages.
const rowsPerPage = 40

func (d *Database) touchPage(row int64) {
	if d.PageVersion == nil {
		d.PageVersion = map[int64]int64{}
	}
	if d.ChangedPages == nil {
		d.ChangedPages = map[int64]bool{}
	}
	p := 64 + row/rowsPerPage // the first 64 pages are system pages
	if p >= d.Pages {
		d.Pages = p + 1
	}
	d.PageVersion[p]++
	d.ChangedPages[p] = true
}

// truncateLog drops records before counter n (after a log backup, or at a
// checkpoint in SIMPLE recovery).
func (d *Database) truncateLog(n int64) {
	i := 0
	for i < len(d.Log) && d.Log[i].N < n {
		i++
	}
	d.Log = append([]LogRecord(nil), d.Log[i:]...)
	d.LogStart = n
}

func (d *Database) table(name string) (*Table, bool) {
	t, ok := d.Tables[strings.ToLower(name)]
	return t, ok
}

// clone copies the data part of a database (for backups and restores).
func (d *Database) cloneTables() map[string]*Table {
	out := make(map[string]*Table, len(d.Tables))
	for k, t := range d.Tables {
		nt := &Table{Name: t.Name, Columns: append([]ColDef(nil), t.Columns...), Rows: make(map[int64][]any, len(t.Rows)), NextRow: t.NextRow}
		for id, r := range t.Rows {
			nt.Rows[id] = append([]any(nil), r...)
		}
		out[k] = nt
	}
	return out
}

// apply replays a log record onto the tables.
func (d *Database) apply(rec LogRecord) {
	key := strings.ToLower(rec.Table)
	switch rec.Op {
	case "create_table":
		d.Tables[key] = &Table{Name: rec.Table, Columns: rec.Cols, Rows: map[int64][]any{}}
	case "drop_table":
		delete(d.Tables, key)
	case "insert", "update":
		if t, ok := d.Tables[key]; ok {
			t.Rows[rec.RowID] = append([]any(nil), rec.Values...)
			if rec.RowID >= t.NextRow {
				t.NextRow = rec.RowID + 1
			}
		}
	case "delete":
		if t, ok := d.Tables[key]; ok {
			delete(t.Rows, rec.RowID)
		}
	}
	if rec.N > d.LogN {
		d.LogN = rec.N
	}
}

// DBFile is one database file (sys.master_files). Type is RESTORE
// FILELISTONLY's letter: D data, L log, S a FILESTREAM or memory-optimized
// container (a folder), F a full-text catalog (a folder, from SQL Server
// 2005 and upgraded databases).
type DBFile struct {
	Logical   string
	Physical  string
	Type      string
	FileGroup string // "" for the log and full-text catalogs
}

// defaultDataPath is what SERVERPROPERTY('InstanceDefaultDataPath') says:
// the simulator presents itself as SQL Server on Linux.
const defaultDataPath = "/var/opt/mssql/data/"

func defaultFiles(name string) []DBFile {
	return []DBFile{
		{Logical: name, Physical: defaultDataPath + name + ".mdf", Type: "D", FileGroup: "PRIMARY"},
		{Logical: name + "_log", Physical: defaultDataPath + name + "_log.ldf", Type: "L"},
	}
}

// Restorehistory is a row of msdb.dbo.restorehistory: one RESTORE
// DATABASE or LOG that completed.
type Restorehistory struct {
	ID          int64
	Date        time.Time
	Database    string // destination_database_name
	UserName    string
	BackupSetID int64  // the backupset row of the source, 0 when msdb has none
	Type        string // D database, I differential, L log
	Replace     bool
	Recovery    bool
	StopAt      *time.Time
}

// Backupset is a row of msdb.dbo.backupset.
type Backupset struct {
	ID, MediaSetID       int64
	Database             string
	DatabaseGUID         [16]byte
	Type                 string // D, I, L
	CopyOnly             bool
	FirstLSN, LastLSN    int64
	CheckpointLSN        int64
	DatabaseBackupLSN    int64
	DifferentialBaseLSN  int64
	Start, Finish        time.Time
	Size, CompressedSize int64
	Name, Description    string
	Recovery             string
	URLs                 []string // devices; a DISK file carries diskPrefix
	UserName             string   // the login that ran the BACKUP
}
