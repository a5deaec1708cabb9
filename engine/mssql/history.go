package mssql

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// HistorySet is one backup of a database as msdb recorded it, whoever took
// it (MS "backupset (Transact-SQL)", "backupmediafamily (Transact-SQL)").
type HistorySet struct {
	ID                  int64
	Type                string // D full, I differential, L log; F, G, P, Q file and partial
	CopyOnly            bool
	FirstLSN            string
	LastLSN             string
	CheckpointLSN       string
	DatabaseBackupLSN   string
	DifferentialBaseLSN string
	Start, Finish       time.Time // UTC
	UserName            string    // the login that ran the BACKUP
	DatabaseGUID        string
	Devices             []Device // one per media family
}

// Device is a backup device of a media family.
type Device struct {
	Name string // physical_device_name: a file path or a URL
	Type int    // device_type: 2 disk, 5 tape, 7 virtual device, 9 Azure Storage (URL), 105 permanent device
}

// String is the device as a BACKUP statement names it.
func (d Device) String() string {
	switch d.Type {
	case 2:
		return "DISK = " + QuoteString(d.Name)
	case 5:
		return "TAPE = " + QuoteString(d.Name)
	case 9:
		return "URL = " + QuoteString(d.Name)
	case 7:
		return "a virtual device (another backup tool) " + QuoteString(d.Name)
	}
	return QuoteString(d.Name)
}

// historyRows bounds how many rows (sets times their devices) of a
// database's newest backups are read; the coordinator reads them before
// every log or differential, so only the few since its last backup matter.
const historyRows = 400

// BackupHistory reads the newest backup sets of a database, newest first,
// each with its devices. Dates are converted to UTC with each set's own
// time_zone column, as LastBackupSet does.
func (c *Conn) BackupHistory(ctx context.Context, database string) ([]HistorySet, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT TOP (`+strconv.Itoa(historyRows)+`) bs.backup_set_id, bs.type, bs.is_copy_only, bs.first_lsn, bs.last_lsn,
		bs.checkpoint_lsn, bs.database_backup_lsn, bs.differential_base_lsn, bs.backup_start_date, bs.backup_finish_date,
		bs.user_name, bs.database_guid, bs.time_zone, mf.physical_device_name, mf.device_type
		FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id
		WHERE bs.database_name = @p1 ORDER BY bs.backup_set_id DESC`, database)
	if err != nil {
		return nil, c.classify(err)
	}
	defer rows.Close()
	var out []HistorySet
	n := 0
	for ; rows.Next(); n++ {
		var h HistorySet
		var ckpt, dbBackup, diffBase, user, device sql.NullString
		var copyOnly sql.NullBool
		var zone, devType sql.NullInt64
		var guid mssql.NullUniqueIdentifier
		if err := rows.Scan(&h.ID, &h.Type, &copyOnly, &h.FirstLSN, &h.LastLSN, &ckpt, &dbBackup, &diffBase,
			&h.Start, &h.Finish, &user, &guid, &zone, &device, &devType); err != nil {
			return nil, c.classify(err)
		}
		dev := Device{Name: device.String, Type: int(devType.Int64)}
		if n := len(out); n > 0 && out[n-1].ID == h.ID {
			out[n-1].Devices = append(out[n-1].Devices, dev)
			continue
		}
		h.CopyOnly, h.UserName = copyOnly.Bool, user.String
		h.CheckpointLSN, h.DatabaseBackupLSN, h.DifferentialBaseLSN = ckpt.String, dbBackup.String, diffBase.String
		if guid.Valid {
			h.DatabaseGUID = strings.ToLower(guid.UUID.String())
		}
		off := c.setOffset(ctx, zone)
		h.Start, h.Finish = toUTC(h.Start, off), toUTC(h.Finish, off)
		h.Devices = []Device{dev}
		out = append(out, h)
	}
	if n == historyRows && len(out) > 1 {
		out = out[:len(out)-1] // the oldest set may have lost devices to the limit
	}
	return out, rows.Err()
}

// NextLogLSN is where the database's next log backup will start:
// sys.database_recovery_status.last_log_backup_lsn, "the end LSN of the
// previous log backup and the starting LSN of the next log backup". ok is
// false when SQL Server answers NULL (no log backup exists, or the
// database is offline).
func (c *Conn) NextLogLSN(ctx context.Context, database string) (lsn string, ok bool, err error) {
	var v sql.NullString
	err = c.db.QueryRowContext(ctx, `SELECT last_log_backup_lsn FROM sys.database_recovery_status
		WHERE database_id = DB_ID(@p1)`, database).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, c.classify(err)
	}
	return v.String, v.Valid && v.String != "" && v.String != "0", nil
}

// Restore is one completed RESTORE into a database as msdb recorded it
// (MS "restorehistory (Transact-SQL)").
type Restore struct {
	ID          int64
	Date        time.Time // UTC
	UserName    string
	Type        string // D database, I differential, L log, ...
	BackupSetID int64  // the source's backupset row; 0 when msdb has none
}

// Restores reads the newest restores into a database, newest first.
// restore_date is the instance's local time and has no time_zone column:
// it is converted with the instance's offset now.
func (c *Conn) Restores(ctx context.Context, database string) ([]Restore, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT TOP (50) restore_history_id, restore_date, user_name, restore_type, backup_set_id
		FROM msdb.dbo.restorehistory WHERE destination_database_name = @p1 ORDER BY restore_history_id DESC`, database)
	if err != nil {
		return nil, c.classify(err)
	}
	defer rows.Close()
	var out []Restore
	for rows.Next() {
		var r Restore
		var user, typ sql.NullString
		var set sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Date, &user, &typ, &set); err != nil {
			return nil, c.classify(err)
		}
		r.UserName, r.Type, r.BackupSetID = user.String, typ.String, set.Int64
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, c.classify(err)
	}
	off := c.utcOffset(ctx)
	for i := range out {
		out[i].Date = toUTC(out[i].Date, off)
	}
	return out, nil
}
