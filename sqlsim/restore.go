package sqlsim

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// restore runs RESTORE DATABASE|LOG ... FROM URL, RESTORE ... WITH
// RECOVERY, and RESTORE HEADERONLY|FILELISTONLY|VERIFYONLY
// (learn.microsoft.com/sql/t-sql/statements/restore-statements-transact-sql).
func (x *execCtx) restore(p *parser) error {
	p.next()
	switch {
	case p.accept("HEADERONLY"):
		return x.restoreInfo(p, "HEADERONLY")
	case p.accept("FILELISTONLY"):
		return x.restoreInfo(p, "FILELISTONLY")
	case p.accept("VERIFYONLY"):
		return x.restoreInfo(p, "VERIFYONLY")
	}
	isLog := p.accept("LOG")
	if !isLog && !p.accept("DATABASE") {
		return p.syntaxErr()
	}
	verb := verbOf(isLog, "RESTORE")
	name, err := p.name()
	if err != nil {
		return err
	}
	if !x.s.login.Sysadmin {
		return terminate(verb, sqlErr(3110, 14, fmt.Sprintf("User does not have permission to RESTORE database '%s'.", name)))
	}
	if !p.accept("FROM") {
		o, err := x.parseOpts(p)
		if err != nil {
			return err
		}
		if !o.recovery {
			return p.syntaxErr()
		}
		return x.recoverOnly(name)
	}
	urls, err := parseURLs(p)
	if err != nil {
		return terminate(verb, err.(*tds.Message))
	}
	o, err := x.parseOpts(p)
	if err != nil {
		return err
	}
	return x.restoreFrom(verb, name, isLog, urls, o)
}

// openBackup opens the stripes and reads the header; on success the
// caller closes the reader (releasing the restore leases), on failure
// openBackup has closed what it opened.
func (x *execCtx) openBackup(verb string, urls []string) (_ *stripedReader, _ backupMeta, _ bool, err error) {
	in := x.s.in
	var rs []BlobReader
	defer func() {
		if err != nil {
			closeAll(rs)
		}
	}()
	for _, u := range urls {
		if isDisk(u) {
			r, m := openDisk(u)
			if m != nil {
				return nil, backupMeta{}, false, terminate(verb, m)
			}
			rs = append(rs, r)
			continue
		}
		in.mu.Lock()
		secret, err := in.secretFor(u)
		in.mu.Unlock()
		if err != nil {
			return nil, backupMeta{}, false, terminate(verb, err.(*tds.Message))
		}
		r, err := in.cfg.Blobs.Open(x.ctx, u, secret)
		if err != nil {
			return nil, backupMeta{}, false, terminate(verb, deviceError(u, err))
		}
		rs = append(rs, r)
	}
	sr, err := newStripedReader(rs)
	if err != nil {
		return nil, backupMeta{}, false, terminate(verb, asMessage(err))
	}
	sr.slow = deviceDelay{x.ctx, in.faults().DeviceDelay}
	m, compressed, err := readMeta(sr)
	if err != nil {
		return nil, m, false, terminate(verb, asMessage(err))
	}
	return sr, m, compressed, nil
}

func asMessage(err error) *tds.Message {
	if m, ok := err.(*tds.Message); ok {
		return m
	}
	return sqlErr(3201, 16, "Cannot open backup device. "+err.Error())
}

func (x *execCtx) restoreInfo(p *parser, kind string) error {
	if err := p.expect("FROM"); err != nil {
		return err
	}
	urls, err := parseURLs(p)
	if err != nil {
		return err
	}
	o, err := x.parseOpts(p)
	if err != nil {
		return err
	}
	verb := "RESTORE " + kind
	sr, m, compressed, err := x.openBackup(verb, urls)
	if err != nil {
		return err
	}
	defer sr.Close()
	if kind == "VERIFYONLY" && o.checksum && m.CorruptPage != 0 {
		return damagedBackup("VERIFY DATABASE", m.Database, m.CorruptPage)
	}
	switch kind {
	case "HEADERONLY":
		sr.Close() // the leases go before the statement ends
		return x.headerOnly(m)
	case "FILELISTONLY":
		sr.Close()
		return x.fileListOnly(m)
	}
	if _, err := readBody(sr, compressed, m.Pages, nil); err != nil {
		return withVerb(err, verb)
	}
	sr.Close() // the leases go before the statement ends
	x.info("The backup set on file 1 is valid.")
	return x.w.Done(0, false)
}

var backupTypes = map[string]int64{"D": 1, "L": 2, "I": 5}

func (x *execCtx) headerOnly(m backupMeta) error {
	cols := []tds.Column{col("BackupName", tds.TypeNVarChar), col("BackupDescription", tds.TypeNVarChar), col("BackupType", tds.TypeSmallInt),
		col("Compressed", tds.TypeBit), col("Position", tds.TypeSmallInt), col("DeviceType", tds.TypeTinyInt), col("ServerName", tds.TypeNVarChar),
		col("DatabaseName", tds.TypeNVarChar), col("DatabaseCreationDate", tds.TypeDateTime), col("BackupSize", tds.TypeNumeric),
		col("FirstLSN", tds.TypeNumeric), col("LastLSN", tds.TypeNumeric), col("CheckpointLSN", tds.TypeNumeric),
		col("DatabaseBackupLSN", tds.TypeNumeric), col("BackupStartDate", tds.TypeDateTime), col("BackupFinishDate", tds.TypeDateTime),
		col("RecoveryModel", tds.TypeNVarChar), col("IsCopyOnly", tds.TypeBit), col("DifferentialBaseLSN", tds.TypeNumeric),
		col("BindingID", tds.TypeUniqueIdentifier)}
	if err := x.w.Columns(cols); err != nil {
		return err
	}
	finish := m.Finish
	if finish.IsZero() {
		finish = m.Start
	}
	x.w.Row(m.Name, m.Description, backupTypes[m.Type], m.Compressed, int64(1), int64(9), m.Server, m.Database, m.Created,
		tds.DecimalFromInt64(m.Pages*pageSize, 0), lsnDecimal(lsnOf(m.FirstN)), lsnDecimal(lsnOf(m.LastN)),
		lsnDecimal(lsnIfSet(m.CheckpointN)), lsnDecimal(lsnIfSet(m.DatabaseBackup)), x.s.in.flav.local(m.Start), x.s.in.flav.local(finish), m.Recovery, m.CopyOnly,
		lsnDecimal(lsnIfSet(m.DiffBase)), m.DatabaseGUID)
	return x.w.Done(1, true)
}

func (x *execCtx) fileListOnly(m backupMeta) error {
	cols := []tds.Column{col("LogicalName", tds.TypeNVarChar), col("PhysicalName", tds.TypeNVarChar), col("Type", tds.TypeNVarChar),
		col("FileGroupName", tds.TypeNVarChar), col("Size", tds.TypeNumeric), col("MaxSize", tds.TypeNumeric), col("FileId", tds.TypeBigInt)}
	if err := x.w.Columns(cols); err != nil {
		return err
	}
	for i, f := range m.Files {
		group := any(f.FileGroup)
		if f.FileGroup == "" {
			group = nil
		}
		if f.Type == "D" && f.FileGroup == "" {
			group = "PRIMARY" // backups written before file groups were kept
		}
		x.w.Row(f.Logical, f.Physical, f.Type, group, tds.DecimalFromInt64(m.Pages*pageSize, 0), tds.DecimalFromInt64(35184372080640, 0), int64(i+1))
	}
	return x.w.Done(int64(len(m.Files)), true)
}

func (x *execCtx) recoverOnly(name string) error {
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return terminate("RESTORE DATABASE", sqlErr(3701, 16, fmt.Sprintf("Cannot find database '%s'.", name)))
	}
	if d.State != "RESTORING" && !d.Standby {
		return terminate("RESTORE DATABASE", sqlErr(3153, 16, "The database is already fully recovered."))
	}
	d.State, d.Standby = "ONLINE", false
	in.save()
	x.info("RESTORE DATABASE successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).")
	return x.w.Done(0, false)
}

// restoreFrom restores one backup onto database name.
func (x *execCtx) restoreFrom(verb, name string, isLog bool, urls []string, o backupOpts) error {
	in := x.s.in
	start := time.Now()
	sr, m, compressed, err := x.openBackup(verb, urls)
	if err != nil {
		return err
	}
	defer sr.Close()
	if isLog != (m.Type == "L") {
		return terminate(verb, sqlErr(3241, 16, "The media family on device is incorrectly formed: the backup set is of another kind than the RESTORE statement."))
	}
	if msg := blockSizeMismatch(urls[0], m, o); msg != nil {
		return terminate(verb, msg)
	}
	if o.checksum && m.CorruptPage != 0 {
		return damagedBackup(verb, m.Database, m.CorruptPage)
	}
	in.mu.Lock()
	err = x.checkRestore(name, m, o)
	if msg := in.agRestoreRefusal(name); msg != nil && err == nil {
		err = terminate(verb, msg)
	}
	in.mu.Unlock()
	if err != nil {
		return err
	}
	nextStat := o.stats
	cr := &cutReader{r: sr}
	cut := in.faults().RestoreCutAtPercent
	payload, err := readBody(cr, compressed, m.Pages, func(done int64) {
		pct := int(done * 100 / max(m.Pages, 1))
		if cut > 0 && pct >= cut {
			cr.cut = true
		}
		for o.stats > 0 && pct >= nextStat && nextStat <= 100 {
			x.info(fmt.Sprintf("%d percent processed.", nextStat))
			x.w.Flush()
			nextStat += o.stats
		}
	})
	if cr.cut {
		return errConnectionCut // nothing applied: the database is as before this link
	}
	if err != nil {
		return withVerb(err, verb)
	}
	sr.Close() // the leases go before the statement ends
	in.mu.Lock()
	msg, err := x.applyRestore(name, m, payload, o)
	if err == nil {
		x.recordRestore(name, m, urls, o)
		err = in.save()
	}
	in.mu.Unlock()
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		if (f.Type == "L") == isLog {
			x.info(fmt.Sprintf("Processed %d pages for database '%s', file '%s' on file 1.", m.Pages, name, f.Logical))
		}
	}
	if msg != "" {
		x.info(msg)
	}
	x.info(fmt.Sprintf("%s successfully processed %d pages in %s.", verb, m.Pages, fmtMB(m.Pages*pageSize, time.Since(start))))
	return x.w.Done(0, false)
}

// checkRestore applies SQL Server's refusals before any data is read;
// callers hold in.mu.
func (x *execCtx) checkRestore(name string, m backupMeta, o backupOpts) error {
	in := x.s.in
	verb := verbOf(m.Type == "L", "RESTORE")
	d, exists := in.st.Databases[strings.ToLower(name)]
	if m.Type == "I" || m.Type == "L" {
		if !exists || (d.State != "RESTORING" && !d.Standby) {
			return terminate(verb, sqlErr(3117, 16, "The log or differential backup cannot be restored because no files are ready to rollforward."))
		}
		if m.Type == "I" && d.RestoredBase != m.DatabaseBackup {
			return terminate(verb, sqlErr(3136, 16, "This differential backup cannot be restored because the database has not been restored to the correct earlier state."))
		}
		if m.Type == "L" {
			if m.FirstN > d.RedoN {
				return terminate(verb, sqlErr(4305, 16, fmt.Sprintf("The log in this backup set begins at LSN %d, which is too recent to apply to the database. An earlier log backup that includes LSN %d can be restored.", lsnOf(m.FirstN), lsnOf(d.RedoN))))
			}
			if m.LastN <= d.RedoN {
				return terminate(verb, sqlErr(4326, 16, fmt.Sprintf("The log in this backup set terminates at LSN %d, which is too early to apply to the database. A more recent log backup that includes LSN %d can be restored.", lsnOf(m.LastN), lsnOf(d.RedoN))))
			}
			if o.stopAt != nil && o.stopAt.Before(d.RedoTime()) {
				return terminate(verb, sqlErr(4335, 16, "The specified STOPAT time is too early. All or part of the database is already rolled forward beyond that point."))
			}
		}
		return nil
	}
	// A full restore.
	if exists && d.isSystem() {
		return terminate(verb, sqlErr(3108, 16, "To restore the master database, the server must be running in single-user mode."))
	}
	if exists && in.inUse[strings.ToLower(name)] > 0 {
		return terminate(verb, sqlErr(3101, 16, "Exclusive access could not be obtained because the database is in use."))
	}
	if exists && !o.replace && d.State == "ONLINE" {
		if d.GUID != m.DatabaseGUID {
			return terminate(verb, sqlErr(3154, 16, fmt.Sprintf("The backup set holds a backup of a database other than the existing '%s' database.", d.Name)))
		}
		if d.Recovery != "SIMPLE" && d.ChainOpen && !d.TailBacked {
			return terminate(verb, sqlErr(3159, 16, fmt.Sprintf("The tail of the log for the database \"%s\" has not been backed up. Use BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log.", d.Name)))
		}
	}
	if err := fileClash(m.Files, o.moves); err != nil {
		return err
	}
	// Files must not collide with another database's files.
	for _, f := range m.Files {
		phys := f.Physical
		if to, ok := o.moves[strings.ToLower(f.Logical)]; ok {
			phys = to
		}
		for _, other := range in.st.Databases {
			if strings.EqualFold(other.Name, name) {
				continue
			}
			for _, of := range filesOf(other) {
				if strings.EqualFold(of.Physical, phys) {
					return &multiErr{msgs: []*tds.Message{
						sqlErr(1834, 16, fmt.Sprintf("The file '%s' cannot be overwritten.  It is being used by database '%s'.", phys, other.Name)),
						sqlErr(3156, 16, fmt.Sprintf("File '%s' cannot be restored to '%s'. Use WITH MOVE to identify a valid location for the file.", f.Logical, phys)),
						sqlErr(3119, 16, "Problems were identified while planning for the RESTORE statement. Previous messages provide details."),
						sqlErr(3013, 16, "RESTORE DATABASE is terminating abnormally.")}}
				}
			}
		}
	}
	return nil
}

// RedoTime is the latest commit time already rolled forward.
func (d *Database) RedoTime() time.Time { return d.RestoredAt }

// applyRestore changes the catalog after the data was read; callers hold
// in.mu. It returns an extra message for the client, if any.
func (x *execCtx) applyRestore(name string, m backupMeta, payload backupPayload, o backupOpts) (string, error) {
	in := x.s.in
	key := strings.ToLower(name)
	d, exists := in.st.Databases[key]
	finish := m.Finish
	if finish.IsZero() {
		finish = m.Start
	}
	switch m.Type {
	case "D", "I":
		if m.Type == "D" {
			id := 0
			if exists {
				id = d.ID
			} else {
				id = in.st.NextDBID
				in.st.NextDBID++
			}
			files := make([]DBFile, len(m.Files))
			for i, f := range m.Files {
				files[i] = f
				if to, ok := o.moves[strings.ToLower(f.Logical)]; ok {
					files[i].Physical = to
				}
			}
			d = &Database{Name: name, ID: id, GUID: m.DatabaseGUID, Created: in.cfg.Now().UTC(), Recovery: m.Recovery, Compat: 160, Files: files}
			in.st.Databases[key] = d
			d.RestoredBase = m.CheckpointN
			d.DiffBase = m.CheckpointN
			if m.CopyOnly {
				d.DiffBase = m.DatabaseBackup
			}
		}
		d.Tables = payload.Tables
		if d.Tables == nil {
			d.Tables = map[string]*Table{}
		}
		d.Pages, d.PageVersion = payload.Pages, payload.PageV
		d.CorruptPage = m.CorruptPage
		d.LogN, d.RedoN = m.LastN-1, m.LastN
		d.RestoredAt = m.Start
		d.Log, d.LogStart = nil, m.LastN
	case "L":
		stopped := false
		for _, r := range payload.Log {
			if r.N < d.RedoN {
				continue
			}
			if o.stopAt != nil && r.Time.After(*o.stopAt) {
				stopped = true
				d.RedoN = r.N
				break
			}
			d.apply(r)
			d.RedoN = r.N + 1
			if !r.Time.IsZero() {
				d.RestoredAt = r.Time
			}
		}
		if !stopped {
			d.RedoN = m.LastN
			d.LogN = m.LastN - 1
			if o.stopAt != nil && o.recovery {
				// STOPAT beyond this log: SQL Server leaves the database
				// restoring so that more logs can be applied.
				d.State = "RESTORING"
				return "This backup set contains records that were logged before the designated point in time. The database is being left in the restoring state so that more roll forward can be performed.", nil
			}
		} else {
			d.LogN = d.RedoN - 1
			if !o.norecovery {
				o.recovery = true
			}
		}
	}
	d.Standby = false
	switch {
	case o.norecovery:
		d.State = "RESTORING"
	case o.standby != "":
		// Readable between log restores (learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql#standby).
		d.State, d.Standby = "ONLINE", true
	case in.fault.RestoreLeavesRestoring: // callers hold in.mu
		d.State = "RESTORING"
	default:
		d.State = "ONLINE"
		// The restored backups are the base of the recovered database's
		// log chain: log backups may follow at once in FULL recovery.
		d.ChainOpen = d.Recovery != "SIMPLE"
		d.TailBacked = false
		d.LastLogBack = d.LogN + 1
		d.Log, d.LogStart = nil, d.LogN+1
	}
	return "", nil
}

// withVerb makes the closing 3013 of a failed read name the statement.
func withVerb(err error, verb string) error {
	if me, ok := err.(*multiErr); ok && len(me.msgs) > 0 && me.msgs[len(me.msgs)-1].Number == 3013 {
		me.msgs[len(me.msgs)-1] = sqlErr(3013, 16, verb+" is terminating abnormally.")
	}
	return err
}

// cutReader fails every read once cut is set: RestoreCutAtPercent.
type cutReader struct {
	r   io.Reader
	cut bool
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.cut {
		return 0, errConnectionCut
	}
	return c.r.Read(p)
}

// recordRestore adds the restore's row to msdb.dbo.restorehistory; callers
// hold in.mu.
func (x *execCtx) recordRestore(name string, m backupMeta, urls []string, o backupOpts) {
	in := x.s.in
	r := &Restorehistory{ID: int64(len(in.st.Restores) + 1), Date: in.cfg.Now().UTC(), Database: name, UserName: x.s.login.Name,
		Type: m.Type, Replace: o.replace, Recovery: !o.norecovery && o.standby == "", StopAt: o.stopAt}
	for _, b := range in.st.Backupsets {
		if len(b.URLs) > 0 && strings.EqualFold(b.URLs[0], urls[0]) {
			r.BackupSetID = b.ID // the newest set written to that device
		}
	}
	in.st.Restores = append(in.st.Restores, r)
}
