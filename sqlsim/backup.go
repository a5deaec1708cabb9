package sqlsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/blob"
	"github.com/sqlvault/sqlvault/sqlsim/pagegen"
	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

const pageSize = pagegen.Size

func genPage(seed uint64, n, version int64, dst []byte) { pagegen.Page(seed, n, version, dst) }

func seedOf(g [16]byte) uint64 {
	return binary.LittleEndian.Uint64(g[:8]) ^ binary.LittleEndian.Uint64(g[8:])
}

// terminate is the pair of errors a failed BACKUP or RESTORE ends with:
// the cause, then 3013.
func terminate(verb string, cause *tds.Message) error {
	return &multiErr{msgs: []*tds.Message{cause, sqlErr(3013, 16, verb+" is terminating abnormally.")}}
}

// credentialFor finds the credential SQL Server would use for a URL: the
// one whose name is the longest prefix of the URL (the container URL).
func (in *Instance) credentialFor(u string) (*Credential, bool) {
	if !in.flav.knowsSAS() {
		// SQL Server 2014 uses only the storage account key credential a
		// WITH CREDENTIAL clause names, for page blobs (not simulated).
		return nil, false
	}
	var best *Credential
	for _, c := range in.st.Credentials {
		name := strings.TrimSuffix(strings.ToLower(c.Name), "/")
		if strings.HasPrefix(strings.ToLower(u), name+"/") && (best == nil || len(c.Name) > len(best.Name)) {
			best = c
		}
	}
	return best, best != nil
}

// deviceError is error 3201 for a URL that cannot be used.
func deviceError(u string, err error) *tds.Message {
	reason := err.Error()
	var se *blob.StatusError
	var oe *osError
	switch {
	case errors.As(err, &oe):
		return sqlErr(3201, 16, fmt.Sprintf("Cannot open backup device '%s'. Operating system error %d(%s).", u, oe.code, oe.text))
	case errors.As(err, &se):
		reason = strings.TrimSpace(fmt.Sprintf("The remote server returned an error: (%d) %s. %s", se.StatusCode, se.Code, se.Message))
	case strings.Contains(reason, "x509"), strings.Contains(reason, "tls"):
		reason = "A nonrecoverable I/O error occurred: the server certificate is not trusted (" + lastWords(reason) + ")."
	}
	return sqlErr(3201, 16, fmt.Sprintf("Cannot open backup device '%s'. Operating system error 50(%s).", u, reason))
}

func lastWords(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// backup runs BACKUP DATABASE|LOG ... TO URL
// (learn.microsoft.com/sql/t-sql/statements/backup-transact-sql).
func (x *execCtx) backup(p *parser) error {
	p.next()
	isLog := p.accept("LOG")
	if !isLog && !p.accept("DATABASE") {
		return p.syntaxErr()
	}
	name, err := p.name()
	if err != nil {
		return err
	}
	if err := p.expect("TO"); err != nil {
		return err
	}
	urls, err := parseURLs(p)
	if err != nil {
		return terminate(verbOf(isLog, "BACKUP"), err.(*tds.Message))
	}
	if m := refuseMixed(urls); m != nil {
		return terminate(verbOf(isLog, "BACKUP"), m)
	}
	o, err := x.parseOpts(p)
	if err != nil {
		return err
	}
	verb := verbOf(isLog, "BACKUP")
	if !x.s.login.Sysadmin {
		return terminate(verb, sqlErr(262, 14, fmt.Sprintf("BACKUP DATABASE permission denied in database '%s'.", name)))
	}
	if isLog {
		x.s.in.agLogBackupOnPrimary(name) // ag.go
	}
	job, err := x.prepareBackup(name, isLog, o, urls)
	if err != nil {
		return err
	}
	err = x.runBackup(job, o)
	if err == nil && isLog {
		x.s.in.agLogBackedUp(name, job.meta.LastN) // one log chain across replicas
	}
	return err
}

func verbOf(isLog bool, stmt string) string {
	if isLog {
		return stmt + " LOG"
	}
	return stmt + " DATABASE"
}

// backupJob is a snapshot taken under the lock, streamed without it.
type backupJob struct {
	verb    string
	meta    backupMeta
	payload backupPayload
	pages   []int64
	seed    uint64
	urls    []string
	secrets []string
	db      *Database
	isLog   bool
}

func (x *execCtx) prepareBackup(name string, isLog bool, o backupOpts, urls []string) (*backupJob, error) {
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	verb := verbOf(isLog, "BACKUP")
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return nil, terminate(verb, sqlErr(911, 16, fmt.Sprintf("Database '%s' does not exist. Make sure that the name is entered correctly.", name)))
	}
	if d.State != "ONLINE" {
		return nil, terminate(verb, sqlErr(3148, 16, fmt.Sprintf("Database '%s' cannot be backed up because it is %s.", d.Name, strings.ToLower(d.State))))
	}
	if strings.EqualFold(d.Name, "tempdb") {
		return nil, terminate(verb, sqlErr(3147, 16, "Backup and restore operations are not allowed on database tempdb."))
	}
	if m := in.agBackupRefusal(d, isLog, o); m != nil {
		return nil, terminate(verb, m)
	}
	j := &backupJob{verb: verb, db: d, isLog: isLog, urls: urls, seed: seedOf(d.GUID)}
	for _, u := range urls {
		if isDisk(u) {
			continue // a file on the host: no URL, no credential
		}
		if err := blob.CheckURL(u, in.cfg.AllowedDevicePort); err != nil {
			return nil, terminate(verb, sqlErr(3201, 16, fmt.Sprintf("Cannot open backup device '%s'. Operating system error 87(The parameter is incorrect: %s).", u, err)))
		}
		c, ok := in.credentialFor(u)
		if !ok || !strings.EqualFold(c.Identity, "SHARED ACCESS SIGNATURE") {
			return nil, terminate(verb, sqlErr(3201, 16, fmt.Sprintf("Cannot open backup device '%s'. Operating system error 50(The request is not supported.): no credential with IDENTITY = 'SHARED ACCESS SIGNATURE' matches the URL.", u)))
		}
		j.secrets = append(j.secrets, c.Secret)
	}
	now := in.cfg.Now().UTC()
	m := backupMeta{Database: d.Name, DatabaseGUID: d.GUID, CopyOnly: o.copyOnly, Compressed: o.compression, Recovery: d.Recovery,
		Files: filesOf(d), Start: now, Name: o.name, Description: o.description, Server: in.ServerName(), Created: d.Created,
		DatabaseBackup: d.DiffBase, BlockSize: urlBlockSize(o), CorruptPage: in.corruptPage(d)}
	switch {
	case isLog:
		if d.Recovery == "SIMPLE" {
			return nil, terminate(verb, sqlErr(4208, 16, "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. Use BACKUP DATABASE or change the recovery model using ALTER DATABASE."))
		}
		if !d.ChainOpen {
			return nil, terminate(verb, sqlErr(4214, 16, "BACKUP LOG cannot be performed because there is no current database backup."))
		}
		m.Type = "L"
		// The backup itself is logged, so every log backup covers at
		// least one record and its last LSN moves forward.
		in.agLogRecord(d, now, LogRecord{Op: "log_backup"})
		m.FirstN, m.LastN = d.LastLogBack, d.LogN+1
		for _, r := range d.Log {
			if r.N >= d.LastLogBack {
				j.payload.Log = append(j.payload.Log, r)
			}
		}
		m.CheckpointN = d.DiffBase
		for i := int64(0); i < int64(len(j.payload.Log))/50+1; i++ {
			j.pages = append(j.pages, 1_000_000+d.LogN/50+i) // log blocks
		}
	case o.differential:
		if d.DiffBase == 0 {
			return nil, terminate(verb, sqlErr(3035, 16, fmt.Sprintf("Cannot perform a differential backup for database \"%s\", because a current database backup does not exist. Perform a full database backup by reissuing BACKUP DATABASE, omitting the WITH DIFFERENTIAL option.", d.Name)))
		}
		m.Type = "I"
		m.CheckpointN = in.agLogRecord(d, now, LogRecord{Op: "checkpoint"})
		m.FirstN, m.LastN, m.DiffBase = m.CheckpointN, d.LogN+1, d.DiffBase
		for pg := range d.ChangedPages {
			j.pages = append(j.pages, pg)
		}
		for pg := int64(0); pg < 8; pg++ { // header and allocation pages
			if !d.ChangedPages[pg] {
				j.pages = append(j.pages, pg)
			}
		}
	default:
		m.Type = "D"
		m.CheckpointN = in.agLogRecord(d, now, LogRecord{Op: "checkpoint"})
		m.FirstN, m.LastN = m.CheckpointN, d.LogN+1
		for pg := int64(0); pg < max(d.Pages, 128); pg++ {
			j.pages = append(j.pages, pg)
		}
	}
	sort.Slice(j.pages, func(a, b int) bool { return j.pages[a] < j.pages[b] })
	if !isLog {
		j.payload.Tables = d.cloneTables()
	}
	j.payload.PageV = map[int64]int64{}
	for _, pg := range j.pages {
		j.payload.PageV[pg] = d.PageVersion[pg]
	}
	m.Pages = int64(len(j.pages))
	j.payload.Pages = d.Pages
	j.meta = m
	return j, nil
}

func filesOf(d *Database) []DBFile {
	if len(d.Files) == 0 {
		return defaultFiles(d.Name)
	}
	return d.Files
}

// runBackup streams the snapshot to the URLs and records the result.
func (x *execCtx) runBackup(j *backupJob, o backupOpts) error {
	in := x.s.in
	ctx := x.ctx
	start := time.Now()
	var ws []BlobWriter
	abort := func() {
		for _, w := range ws {
			w.Abort()
		}
	}
	for i, u := range j.urls {
		if isDisk(u) {
			w, m := createDisk(u)
			if m != nil {
				abort()
				return terminate(j.verb, m)
			}
			ws = append(ws, w)
			continue
		}
		w, err := in.cfg.Blobs.Create(ctx, u, j.secrets[i], o.maxTransfer)
		if err != nil {
			abort()
			return terminate(j.verb, deviceError(u, err))
		}
		ws = append(ws, w)
	}
	fault := in.faults()
	sw := &stripedWriter{ws: ws, chunk: o.maxTransfer, slow: deviceDelay{ctx, fault.DeviceDelay}}
	total := max(int64(len(j.pages)), 1)
	nextStat := o.stats
	cut := fault.CutAtPercent
	progress := func(done int64) error {
		pct := int(done * 100 / total)
		if cut > 0 && pct >= cut {
			abort()
			return errConnectionCut
		}
		for o.stats > 0 && pct >= nextStat && nextStat <= 100 {
			x.info(fmt.Sprintf("%d percent processed.", nextStat))
			x.w.Flush()
			nextStat += o.stats
		}
		return nil
	}
	pages, err := writeStream(ctx, sw, o.maxTransfer, j.meta, j.payload, j.pages, j.seed, progress)
	if err == nil {
		for i, w := range ws {
			if cerr := w.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("%s: %w", j.urls[i], cerr)
			}
		}
	}
	if err != nil {
		abort()
		if errors.Is(err, errConnectionCut) || errors.Is(err, context.Canceled) {
			return err
		}
		return terminate(j.verb, deviceError(j.urls[0], err))
	}
	x.commitBackup(j, o, sw.n)
	for _, f := range j.meta.Files {
		if (f.Type == "L") == j.isLog {
			x.info(fmt.Sprintf("Processed %d pages for database '%s', file '%s' on file 1.", pages, j.meta.Database, f.Logical))
		}
	}
	x.info(fmt.Sprintf("%s successfully processed %d pages in %s.", j.verb, pages, fmtMB(sw.n, time.Since(start))))
	return x.w.Done(0, false)
}

// commitBackup records the backup set in msdb and applies the backup's
// effect on the database (differential base, log truncation).
func (x *execCtx) commitBackup(j *backupJob, o backupOpts, written int64) {
	in := x.s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	d := j.db
	m := j.meta
	now := in.cfg.Now().UTC()
	bs := &Backupset{ID: in.st.NextSetID, MediaSetID: in.st.NextSetID, Database: d.Name, DatabaseGUID: d.GUID, Type: m.Type,
		CopyOnly: o.copyOnly, FirstLSN: lsnOf(m.FirstN), LastLSN: lsnOf(m.LastN), CheckpointLSN: lsnIfSet(m.CheckpointN),
		DatabaseBackupLSN: lsnIfSet(m.DatabaseBackup), Start: m.Start, Finish: now, Size: int64(len(j.pages)) * pageSize,
		CompressedSize: written, Name: o.name, Description: o.description, Recovery: d.Recovery, URLs: j.urls,
		UserName: x.s.login.Name}
	if m.Type == "I" {
		bs.DifferentialBaseLSN = lsnOf(m.DiffBase)
	}
	in.st.NextSetID++
	in.st.Backupsets = append(in.st.Backupsets, bs)
	switch {
	case m.Type == "D" && !o.copyOnly:
		d.DiffBase = m.CheckpointN
		d.DiffBaseID = newGUID()
		d.ChangedPages = map[int64]bool{}
		if !d.ChainOpen && d.Recovery != "SIMPLE" {
			d.ChainOpen = true
			d.LastLogBack = m.CheckpointN
			d.truncateLog(m.CheckpointN)
		}
	case m.Type == "I":
		// After a switch from SIMPLE, a differential (like a full)
		// starts the log chain again.
		if !d.ChainOpen && d.Recovery != "SIMPLE" {
			d.ChainOpen = true
			d.LastLogBack = m.CheckpointN
			d.truncateLog(m.CheckpointN)
		}
	case m.Type == "L" && !o.copyOnly:
		d.LastLogBack = m.LastN
		d.truncateLog(m.LastN)
		if o.norecovery {
			d.State = "RESTORING"
			d.TailBacked = true
			d.RedoN = m.LastN
		}
	}
	if err := in.save(); err != nil {
		in.cfg.Logger.Error("sqlsim save", "err", err)
	}
}

// secretFor returns the SAS of the credential matching u; callers hold in.mu.
func (in *Instance) secretFor(u string) (string, error) {
	c, ok := in.credentialFor(u)
	if !ok {
		return "", sqlErr(3201, 16, fmt.Sprintf("Cannot open backup device '%s'. Operating system error 50(The request is not supported.): no credential matches the URL.", u))
	}
	return c.Secret, nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}
