package mssql

import (
	"context"
	"database/sql"
	"time"
)

// offsetAt is the instance's offset from UTC in force at t, which STOPAT's
// local time needs: across a daylight-saving change the offset now is not
// the one at t. In order of trust:
//
//  1. SQL Server 2022 names its zone (CURRENT_TIMEZONE_ID) and converts
//     with that zone's rules (AT TIME ZONE).
//  2. Before 2022 no documented query gives the zone, but msdb records the
//     offset at the start of each backup (backupset.time_zone): when the
//     log backup holding t (urls) and the last backup started before t
//     agree, that is the offset at t.
//  3. The offset now.
func (c *Conn) offsetAt(ctx context.Context, t time.Time, urls []string) time.Duration {
	var minutes int
	err := c.db.QueryRowContext(ctx, `SELECT DATEPART(TZOFFSET, CAST(@p1 AS datetimeoffset(0)) AT TIME ZONE CURRENT_TIMEZONE_ID())`,
		t.UTC().Format(time.RFC3339)).Scan(&minutes)
	if err == nil {
		return time.Duration(minutes) * time.Minute
	}
	if off, ok := c.bracketingOffset(ctx, t, urls); ok {
		return off
	}
	return c.utcOffset(ctx)
}

// bracketingOffset is the offset msdb recorded at the start of the log
// backup written to urls, which holds t and so started after it, when the
// last backup of the same database that started at or before t recorded
// the same one: no change fell between (two never fall between backups of
// one chain). It reads the msdb of the instance the restore runs on, so a
// restore onto another instance falls back.
func (c *Conn) bracketingOffset(ctx context.Context, t time.Time, urls []string) (time.Duration, bool) {
	if len(urls) == 0 {
		return 0, false
	}
	var id int64
	var database string
	var logZone sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT TOP (1) bs.backup_set_id, bs.database_name, bs.time_zone
		FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id
		WHERE mf.physical_device_name = @p1 ORDER BY bs.backup_set_id DESC`, urls[0]).Scan(&id, &database, &logZone)
	if err != nil || !known(logZone) {
		return 0, false
	}
	var before sql.NullInt64
	err = c.eachRow(ctx, `SELECT TOP (100) bs.backup_start_date, bs.time_zone FROM msdb.dbo.backupset bs
		WHERE bs.database_name = @p1 AND bs.backup_set_id < @p2 ORDER BY bs.backup_set_id DESC`, func(r *sql.Rows) error {
		var start time.Time
		var zone sql.NullInt64
		if err := r.Scan(&start, &zone); err != nil || before.Valid || !known(zone) {
			return err
		}
		if !toUTC(start, time.Duration(zone.Int64)*15*time.Minute).After(t) {
			before = zone
		}
		return nil
	}, database, id)
	if err != nil || !before.Valid || before.Int64 != logZone.Int64 {
		return 0, false
	}
	return time.Duration(logZone.Int64) * 15 * time.Minute, true
}

// known reports whether a time_zone column holds an offset (127 is unknown).
func known(zone sql.NullInt64) bool { return zone.Valid && zone.Int64 >= -48 && zone.Int64 <= 48 }
