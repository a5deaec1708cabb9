package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/restore"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// Restore target modes.
const (
	ModeOriginal  = "original"  // over the source database
	ModeAlternate = "alternate" // another name and/or instance
	ModeFiles     = "files"     // the .bak files, for download
)

// RestoreRequest asks for one database restore.
type RestoreRequest struct {
	ItemID          int64         `json:"item_id"`
	RecoveryPointID int64         `json:"recovery_point_id,omitempty"`
	PointInTime     *time.Time    `json:"point_in_time,omitempty"`
	Target          RestoreTarget `json:"target"`
	// Items restores several databases of one instance to PointInTime in
	// one job, in this order; ItemID is then the first of them.
	Items []RestoreItem `json:"items,omitempty"`
}

// RestoreTarget says where the database goes.
type RestoreTarget struct {
	Mode         string `json:"mode"`
	ServerID     int64  `json:"server_id,omitempty"`
	DatabaseName string `json:"database_name,omitempty"`
	Overwrite    bool   `json:"overwrite,omitempty"`
	// RemoveFromGroup confirms that a group database restored over
	// leaves its availability group on that replica first (ag.go).
	RemoveFromGroup bool `json:"remove_from_group,omitempty"`
	// Recovery brings the database online at the end (the default); false
	// leaves it RESTORING so more logs can be applied.
	Recovery *bool `json:"recovery,omitempty"`
	// Standby leaves it read-only between log restores (WITH STANDBY, the
	// undo file in the instance's default log folder).
	Standby bool `json:"standby,omitempty"`
	// Files relocates database files by logical name; the rest go to the
	// default folders (alternate) or stay where the backup had them.
	Files []FileMove `json:"files,omitempty"`
}

func (t RestoreTarget) recovery() bool { return !t.Standby && (t.Recovery == nil || *t.Recovery) }

// FilesDir is the folder a files-mode restore's script expects the files
// in; `sqlvault restore --as-files DIR` rewrites it to DIR.
const FilesDir = `C:\sqlvault-restore\`

// RestoreFile is one .bak file of a files-mode restore.
type RestoreFile struct {
	PointID int64  `json:"recovery_point_id"`
	Kind    string `json:"type"`
	Name    string `json:"name"`
	Blob    string `json:"-"`
	Size    int64  `json:"size_bytes"`
}

// FilesResult is what a files-mode restore hands back.
type FilesResult struct {
	Files  []RestoreFile `json:"files"`
	Script string        `json:"script"` // the T-SQL that restores them from disk
}

// Plan returns the chain a restore of the item to the point or time
// would run, or the precise reason it cannot.
func (c *Coordinator) Plan(ctx context.Context, itemID, pointID int64, at *time.Time) (restore.Plan, error) {
	points, err := c.cfg.DB.ListPoints(ctx, itemID)
	if err != nil {
		return restore.Plan{}, err
	}
	if pointID == 0 && at == nil {
		return restore.Plan{}, invalid("recovery_point_id", "choose a recovery point or a point in time")
	}
	// A chain never crosses incarnations: a time is planned in the newest
	// incarnation that covers it, a point in its own.
	var first error
	for _, inc := range c.incarnationsOf(ctx, itemID, points) {
		if pointID != 0 && !slices.ContainsFunc(inc, func(p db.Point) bool { return p.ID == pointID }) {
			continue
		}
		plan, err := restore.Build(plannerPoints(inc, c.cfg.Now()), restore.Target{PointID: pointID, Time: at})
		if err == nil || pointID != 0 {
			return plan, err
		}
		first = cmp.Or(first, err)
	}
	if first == nil {
		return restore.Build(nil, restore.Target{PointID: pointID, Time: at})
	}
	return restore.Plan{}, first
}

// incarnations splits an item's points by the database_guid they were
// taken of, newest incarnation first: a database dropped and created again
// under its name numbers its LSNs anew, and no chain joins the two. Points
// recorded before the guid was stored join every incarnation.
func incarnations(points []db.Point) [][]db.Point {
	var guids []string // newest last
	var legacy []db.Point
	by := map[string][]db.Point{}
	for _, p := range points {
		if p.DatabaseGUID == "" {
			legacy = append(legacy, p)
			continue
		}
		g := strings.ToLower(p.DatabaseGUID)
		if _, ok := by[g]; !ok {
			guids = append(guids, g)
		}
		by[g] = append(by[g], p)
	}
	if len(guids) == 0 {
		return [][]db.Point{legacy}
	}
	out := make([][]db.Point, 0, len(guids))
	for i := len(guids) - 1; i >= 0; i-- {
		out = append(out, append(slices.Clone(legacy), by[guids[i]]...))
	}
	return out
}

// LogRanges are the spans of an item in which any second can be restored.
func (c *Coordinator) LogRanges(ctx context.Context, itemID int64) ([]restore.Range, error) {
	if _, err := c.item(ctx, itemID); err != nil {
		return nil, err
	}
	points, err := c.cfg.DB.ListPoints(ctx, itemID)
	if err != nil {
		return nil, err
	}
	var ranges []restore.Range
	for _, inc := range c.incarnationsOf(ctx, itemID, points) {
		ranges = append(ranges, restore.LogRanges(plannerPoints(inc, c.cfg.Now()))...)
	}
	slices.SortFunc(ranges, func(a, b restore.Range) int { return a.From.Compare(b.From) })
	return wholeSeconds(ranges), nil
}

// wholeSeconds narrows ranges to the whole seconds in them, the precision
// the planner restores to (it truncates a point in time to its second):
// every second a range then names is restorable, its ends included.
func wholeSeconds(rs []restore.Range) []restore.Range {
	out := rs[:0]
	for _, r := range rs {
		from, to := r.From.Truncate(time.Second), r.To.Truncate(time.Second)
		if from.Before(r.From) {
			from = from.Add(time.Second)
		}
		if !from.After(to) {
			out = append(out, restore.Range{From: from, To: to})
		}
	}
	return out
}

func plannerPoints(points []db.Point, now time.Time) []restore.Point {
	out := make([]restore.Point, len(points))
	for i, p := range points {
		out[i] = restore.Point{ID: p.ID, Kind: p.Kind, Start: p.StartTime, End: p.EndTime, FirstLSN: p.FirstLSN,
			LastLSN: p.LastLSN, CheckpointLSN: p.CheckpointLSN, DatabaseBackupLSN: p.DatabaseBackupLSN,
			Expired: p.ExpiresAt != nil && !p.ExpiresAt.After(now) && (p.RetainUntil == nil || !p.RetainUntil.After(now))}
	}
	return out
}

// Restore checks a restore request and queues it.
func (c *Coordinator) Restore(ctx context.Context, r RestoreRequest) (int64, error) {
	if len(r.Items) > 0 {
		return c.restoreMany(ctx, r)
	}
	it, err := c.checkRestore(ctx, &r)
	if err != nil {
		return 0, err
	}
	return c.enqueue(ctx, db.NewJob{Operation: "restore", Kind: r.Target.Mode, ItemID: it.ID, ServerID: r.Target.ServerID, Params: r})
}

// checkRestore checks one database's restore against the planner and its
// target, settling the target's server and name.
func (c *Coordinator) checkRestore(ctx context.Context, r *RestoreRequest) (db.Item, error) {
	it, err := c.item(ctx, r.ItemID)
	if err != nil {
		return it, err
	}
	if _, err := c.Plan(ctx, it.ID, r.RecoveryPointID, r.PointInTime); err != nil {
		return it, err
	}
	if err := checkOptions(r.Target); err != nil {
		return it, err
	}
	t := &r.Target
	if t.Mode == ModeOriginal || t.Mode == ModeAlternate {
		name := t.DatabaseName
		if t.Mode == ModeOriginal {
			name = it.DatabaseName
		}
		if err := refuseSystemTarget(name); err != nil {
			return it, err
		}
	}
	switch t.Mode {
	case ModeOriginal:
		if !t.Overwrite {
			return it, engine.Errorf(engine.CodeOverwriteNotConfirmed, "restoring over %s replaces it; confirm overwrite", it.DatabaseName)
		}
		t.DatabaseName = it.DatabaseName
		if err := c.originalTarget(ctx, it, t); err != nil { // a group database's: its primary (ag_restore.go)
			return it, err
		}
		if err := c.checkGroupTarget(ctx, *t); err != nil {
			return it, err
		}
	case ModeAlternate:
		if err := c.checkAlternate(ctx, it, t); err != nil {
			return it, err
		}
		if err := c.checkGroupTarget(ctx, *t); err != nil {
			return it, err
		}
	case ModeFiles:
		t.ServerID = 0
		if err := checkScriptName(it, t); err != nil {
			return it, err
		}
	default:
		return it, invalid("target.mode", "choose original, alternate or files")
	}
	return it, nil
}

// systemDatabases are the names sqlvault never restores over: restoring
// master needs the instance in single-user mode, msdb and model have
// their own procedures, tempdb is made again at every start (MS "Back up
// and restore of system databases").
var systemDatabases = []string{"master", "model", "msdb", "tempdb"}

func refuseSystemTarget(name string) error {
	for _, sys := range systemDatabases {
		if strings.EqualFold(strings.TrimSpace(name), sys) {
			return &engine.Error{Code: engine.CodeSystemDatabaseTarget, Message: fmt.Sprintf("%s is a system database; sqlvault does not restore over it", sys),
				Err: &FieldError{"target.database_name", "a system database cannot be a restore target"}}
		}
	}
	return nil
}

func (c *Coordinator) checkAlternate(ctx context.Context, it db.Item, t *RestoreTarget) error {
	if t.ServerID == 0 {
		t.ServerID = it.ServerID
	}
	if _, err := c.server(ctx, t.ServerID); err != nil {
		return invalid("target.server_id", "no registered server has id %d", t.ServerID)
	}
	t.DatabaseName = strings.TrimSpace(t.DatabaseName)
	if t.DatabaseName == "" || len(t.DatabaseName) > 128 {
		return invalid("target.database_name", "enter a database name of 1 to 128 characters")
	}
	if mssql.HasControl(t.DatabaseName) {
		return invalid("target.database_name", "a database name may not hold control characters (line breaks, tabs, NUL)")
	}
	dbs, err := c.cfg.DB.ListDatabases(ctx, t.ServerID)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if strings.EqualFold(d.Name, t.DatabaseName) && !d.Gone {
			if d.ID == it.DatabaseID {
				return invalid("target.database_name", "this is the source database; choose the original mode to overwrite it")
			}
			if !t.Overwrite {
				return &engine.Error{Code: engine.CodeTargetDatabaseExists, Message: fmt.Sprintf("%s already exists on the target server", d.Name),
					Err: &FieldError{"target.database_name", "a database of this name exists; choose another or confirm overwrite"}}
			}
		}
	}
	return nil
}

// checkScriptName settles the name a files-mode script restores as: the
// one given, else the source's; either must be free of control characters,
// since it is written into restore.sql.
func checkScriptName(it db.Item, t *RestoreTarget) error {
	t.DatabaseName = strings.TrimSpace(t.DatabaseName)
	if t.DatabaseName == "" {
		t.DatabaseName = it.DatabaseName
	}
	if len(t.DatabaseName) > 128 {
		return invalid("target.database_name", "enter a database name of 1 to 128 characters")
	}
	if mssql.HasControl(t.DatabaseName) {
		return invalid("target.database_name", "the name holds control characters (line breaks, tabs, NUL), which a script cannot carry safely; give another name for the script to restore as")
	}
	return nil
}

// runRestore plans the chain again (points may have changed since the
// request), then restores each link.
func (c *Coordinator) runRestore(ctx context.Context, j db.Job, st *steps) error {
	var r RestoreRequest
	if err := json.Unmarshal([]byte(j.Params), &r); err != nil {
		return engine.Wrap(engine.CodeInternal, err, "bad restore parameters")
	}
	if len(r.Items) > 0 {
		return c.runMany(ctx, j, st, r)
	}
	return c.restoreOne(ctx, j, st, r)
}

// planChain is a restore job's first step: the item, the chain that
// reaches the point or second asked for, and those points' catalog rows.
func (c *Coordinator) planChain(ctx context.Context, st *steps, itemID, pointID int64, at *time.Time) (db.Item, restore.Plan, []db.Point, error) {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return db.Item{}, restore.Plan{}, nil, err
	}
	st.begin("Plan restore chain", "")
	plan, err := c.Plan(ctx, it.ID, pointID, at)
	if err != nil {
		return it, plan, nil, err
	}
	st.detail(plan.String())
	points, err := c.pointsOf(ctx, it.ID, plan)
	return it, plan, points, err
}

// restoreOne restores one database.
func (c *Coordinator) restoreOne(ctx context.Context, j db.Job, st *steps, r RestoreRequest) error {
	it, plan, points, err := c.planChain(ctx, st, r.ItemID, r.RecoveryPointID, r.PointInTime)
	if err != nil {
		return err
	}
	if r.Target.Mode == ModeFiles {
		return c.restoreFiles(ctx, j, it, r.Target, plan, points)
	}
	if r.Target.Mode == ModeOriginal {
		r.Target.ServerID = c.originalServer(ctx, it, r.Target)
	}
	s, err := c.server(ctx, r.Target.ServerID)
	if err != nil {
		return err
	}
	st.begin("Connect", s.Name)
	conn, info, err := c.connectSysadmin(ctx, s)
	if err != nil {
		return err
	}
	if err := refuseSystemTarget(r.Target.DatabaseName); err != nil {
		return err // a job queued before the check
	}
	if err := c.leaveGroupForRestore(ctx, conn, r.Target, st); err != nil {
		return err
	}
	if r.Target.Mode == ModeOriginal {
		if err := c.tailLog(ctx, j, st, conn, it); err != nil {
			return err
		}
	} else if other, ok := c.protectedTarget(ctx, r.Target); ok {
		// Overwriting another protected database: its tail goes into its
		// own item first, so nothing it committed is lost.
		if err := c.tailLog(ctx, j, st, conn, other); err != nil {
			return err
		}
	}
	existed := targetState(ctx, conn, r.Target.DatabaseName) != ""
	st.begin("Grant device read access", fmt.Sprintf("%d backups", len(plan.Steps)))
	drop, err := c.grantRead(ctx, conn, points)
	defer drop()
	if err != nil {
		return err
	}
	var moves []mssql.Move
	if r.Target.Mode == ModeAlternate || len(r.Target.Files) > 0 {
		files, err := conn.FileList(ctx, c.urls(points[0]))
		if err != nil {
			return err
		}
		if moves, err = movesFor(files, r.Target, info); err != nil {
			return err
		}
	}
	standby := ""
	if r.Target.Standby {
		standby = mssql.StandbyFileFor(r.Target.DatabaseName, cmp.Or(info.DefaultLogPath, info.DefaultDataPath))
	}
	if applied, err := c.applyChain(ctx, j, st, conn, r.Target, plan, points, moves, standby); err != nil {
		return c.afterFailedRestore(ctx, st, conn, it, r.Target, existed, applied, err)
	}
	if r.Target.recovery() || r.Target.Standby { // a standby database is ONLINE, read-only
		st.begin("Check the database is online", r.Target.DatabaseName)
		if err := conn.RequireOnline(ctx, r.Target.DatabaseName); err != nil {
			return err
		}
	}
	// The restored database shows up on the target's database list.
	c.Rediscover(context.Background(), s.ID)
	return nil
}

// applyChain runs RESTORE ... NORECOVERY for each link, STOPAT on the last
// log, and RECOVERY at the end unless the user asked to leave it restoring.
func (c *Coordinator) applyChain(ctx context.Context, j db.Job, st *steps, conn *mssql.Conn, t RestoreTarget,
	plan restore.Plan, points []db.Point, moves []mssql.Move, standby string) (applied int, err error) {
	var total, done int64
	for _, p := range points {
		total += p.SizeBytes
	}
	n := len(plan.Steps)
	for i, step := range plan.Steps {
		p := points[i]
		last := i == n-1
		st.begin(fmt.Sprintf("Restore %s backup (%d of %d)", kindWord(p.Kind), i+1, n), p.EndTime.Format(time.RFC3339))
		req := mssql.RestoreRequest{Database: t.DatabaseName, Log: p.Kind == mssql.KindLog, URLs: c.urls(p),
			Recovery: last && t.recovery(), StopAt: step.StopAt}
		if last && t.Standby {
			req.StandbyFile = standby
		}
		if i == 0 {
			req.Replace = t.Overwrite || t.Mode == ModeOriginal
			req.Moves = moves
		}
		base := done
		err := conn.Restore(ctx, req, func(pct int) {
			b := base + p.SizeBytes*int64(pct)/100
			c.cfg.DB.JobProgress(context.Background(), j.ID, int(b*99/max(total, 1)), b)
		})
		if err != nil {
			return i, &engine.Error{Code: engine.CodeOf(err), Err: err, Message: fmt.Sprintf("restoring the %s backup of %s (link %d of %d) failed: %s",
				kindWord(p.Kind), p.EndTime.Format(time.RFC3339), i+1, n, engine.MessageOf(err))}
		}
		done += p.SizeBytes
		if !last {
			c.hook("restore-between-links")
		}
	}
	if stop := plan.Steps[n-1].StopAt; stop != nil && t.recovery() && !t.Standby {
		if err := c.finishStopAt(ctx, st, conn, t, points[n-1], *stop); err != nil {
			return n, err
		}
	}
	return n, nil
}

// protectedTarget is the active item of the existing database an
// alternate restore overwrites, if sqlvault protects it.
func (c *Coordinator) protectedTarget(ctx context.Context, t RestoreTarget) (db.Item, bool) {
	if t.Mode != ModeAlternate || !t.Overwrite {
		return db.Item{}, false
	}
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{ServerID: t.ServerID, Limit: 1000000, NoPointTimes: true})
	if err != nil {
		return db.Item{}, false
	}
	for _, it := range items {
		if strings.EqualFold(it.DatabaseName, t.DatabaseName) && it.State == db.ItemProtected {
			return it, true
		}
	}
	return db.Item{}, false
}

// targetState is the state of the database named on the instance, "" if
// it does not exist. After a failed RESTORE the pool may first hand out the
// connection that broke, so a failed read is tried again on another.
func targetState(ctx context.Context, conn *mssql.Conn, name string) string {
	var dbs []mssql.Database
	var err error
	for range 3 {
		if dbs, err = conn.Databases(ctx); err == nil {
			break
		}
	}
	for _, d := range dbs {
		if strings.EqualFold(d.Name, name) {
			return strings.ToUpper(d.State)
		}
	}
	return ""
}

// afterFailedRestore leaves no silent damage. A database that existed and
// failed at the first link had nothing of the chain applied: it holds what
// it held (the tail-log backup, if one was taken, only left it RESTORING),
// so RESTORE ... WITH RECOVERY brings it back. Otherwise a database left
// RESTORING is offline, and the job and an alert on the item say so with
// what to run.
func (c *Coordinator) afterFailedRestore(ctx context.Context, st *steps, conn *mssql.Conn, it db.Item, t RestoreTarget,
	existed bool, applied int, cause error) error {
	ctx = context.WithoutCancel(ctx)
	name := t.DatabaseName
	if targetState(ctx, conn, name) != "RESTORING" {
		return cause // untouched, or never created
	}
	if existed && applied == 0 {
		st.begin("Bring the database back online", name)
		if err := conn.Recover(ctx, name); err == nil && targetState(ctx, conn, name) == "ONLINE" {
			return &engine.Error{Code: engine.CodeOf(cause), Err: cause, Message: engine.MessageOf(cause) +
				fmt.Sprintf("; nothing of the chain had been applied, so %s was brought back online as it was before the restore (RESTORE DATABASE %s WITH RECOVERY)", name, mssql.QuoteName(name))}
		}
	}
	stmt := "RESTORE DATABASE " + mssql.QuoteName(name) + " WITH RECOVERY"
	msg := fmt.Sprintf("%s; database %s is left RESTORING and is offline: restore it again from sqlvault, or run %s on the instance to bring it online as the %d restored link(s) left it",
		engine.MessageOf(cause), name, stmt, applied)
	if !existed {
		msg = fmt.Sprintf("%s; the new database %s is left RESTORING and is offline: restore it again, or drop it (DROP DATABASE %s)", engine.MessageOf(cause), name, mssql.QuoteName(name))
	}
	id := it.ID
	c.raise(ctx, db.Alert{Severity: "critical", Code: string(engine.CodeRestoreLeftRestoring), ItemID: &id, ServerID: &t.ServerID, Message: msg})
	return engine.Wrap(engine.CodeRestoreLeftRestoring, cause, msg)
}

func kindWord(kind string) string {
	return map[string]string{mssql.KindFull: "full", mssql.KindCopyOnlyFull: "copy-only full",
		mssql.KindDifferential: "differential", mssql.KindLog: "log"}[kind]
}

// tailLog backs up the tail of the log of an online source in the FULL or
// BULK_LOGGED recovery model (the models that keep a log chain; MS
// "Tail-log backups") before it is overwritten, leaving it RESTORING, and
// keeps that backup as a recovery point, so nothing committed is lost.
func (c *Coordinator) tailLog(ctx context.Context, j db.Job, st *steps, conn *mssql.Conn, it db.Item) error {
	dbs, err := conn.Databases(ctx)
	if err != nil {
		return err
	}
	var online bool
	for _, d := range dbs {
		if d.Name == it.DatabaseName {
			online = strings.EqualFold(d.State, "ONLINE") && keepsLogChain(d.RecoveryModel)
		}
	}
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil || !online || checkBackupKind(mssql.KindLog, db.Database{Name: it.DatabaseName, State: "ONLINE", RecoveryModel: "FULL"}, points) != nil {
		return err
	}
	st.begin("Back up the tail of the log", it.DatabaseName)
	s, err := c.server(ctx, it.ServerID)
	if err != nil {
		return err
	}
	blobs := blobNames(jobContainer(j), it.DatabaseName+"_tail", mssql.KindLog, c.cfg.Now(), 1)
	containerURL := c.cfg.Device.ContainerURL(jobContainer(j))
	sas, revoke := c.cfg.Device.Hold(ctx, jobContainer(j), vdi.GrantBackup)
	defer revoke()
	if err := conn.EnsureCredential(ctx, containerURL, sas); err != nil {
		return err
	}
	defer conn.DropCredential(context.Background(), containerURL)
	set, err := conn.Backup(ctx, mssql.BackupRequest{Database: it.DatabaseName, Kind: mssql.KindLog, NoRecovery: true,
		URLs: c.urls(db.Point{Blobs: blobs}), Name: "sqlvault tail-log backup of " + it.DatabaseName}, nil)
	if err != nil {
		c.discard(blobs)
		return engine.Wrap(engine.CodeTailLogBackupFailed, err, "the tail of the log could not be backed up, so the restore did not start: "+engine.MessageOf(err))
	}
	stored, size, err := c.confirm(ctx, blobs)
	if err != nil {
		return err
	}
	p := pointOf(set, mssql.KindLog, blobs, size, stored)
	p.ItemID, p.JobID = it.ID, &j.ID
	if pol, err := c.itemPolicy(ctx, it); err == nil {
		exp := expiry(pol, p, points)
		p.ExpiresAt = &exp
	}
	if err := c.label(ctx, s, it, p); err != nil {
		return err
	}
	_, err = c.cfg.DB.CommitPoint(ctx, p)
	return err
}

// keepsLogChain reports whether a recovery model backs up the log.
func keepsLogChain(model string) bool {
	return strings.EqualFold(model, "FULL") || strings.EqualFold(model, "BULK_LOGGED")
}

// grantRead gives the instance restore credentials (read and RESTORE's
// lease, no write) for the containers of the chain's backups, after
// clearing any lease left on them (a crashed restore's, or one a hostile
// host took to block restores); drop revokes the grants and removes the
// credentials when the restore ends.
func (c *Coordinator) grantRead(ctx context.Context, conn *mssql.Conn, points []db.Point) (drop func(), err error) {
	var granted []string
	var revokes []func()
	drop = func() {
		for _, revoke := range revokes {
			revoke()
		}
		for _, u := range granted {
			conn.DropCredential(context.Background(), u)
		}
	}
	seen := map[string]bool{}
	for _, p := range points {
		container, _, _ := strings.Cut(p.Blobs[0], "/")
		if seen[container] {
			continue
		}
		seen[container] = true
		u := c.cfg.Device.ContainerURL(container)
		c.cfg.Device.ClearLeases(container)
		sas, revoke := c.cfg.Device.Hold(ctx, container, vdi.GrantRestore)
		revokes = append(revokes, revoke)
		if err := conn.EnsureCredential(ctx, u, sas); err != nil {
			return drop, err
		}
		granted = append(granted, u)
	}
	return drop, nil
}

func (c *Coordinator) urls(p db.Point) []string {
	out := make([]string, len(p.Blobs))
	for i, b := range p.Blobs {
		container, name, _ := strings.Cut(b, "/")
		out[i] = c.cfg.Device.BlobURL(container, name)
	}
	return out
}

func (c *Coordinator) pointsOf(ctx context.Context, itemID int64, plan restore.Plan) ([]db.Point, error) {
	all, err := c.cfg.DB.ListPoints(ctx, itemID)
	if err != nil {
		return nil, err
	}
	byID := map[int64]db.Point{}
	for _, p := range all {
		byID[p.ID] = p
	}
	out := make([]db.Point, len(plan.Steps))
	for i, s := range plan.Steps {
		p, ok := byID[s.Point.ID]
		if !ok {
			return nil, engine.Errorf(engine.CodeRecoveryPointExpired, "recovery point %d is gone", s.Point.ID)
		}
		out[i] = p
	}
	return out, nil
}

// restoreFiles lists the chain's .bak files for download, with the T-SQL
// that restores them from a folder. The name is checked again (a job
// queued before the check) and written only through QuoteName, never into
// a comment; REPLACE only when the user asked to overwrite.
func (c *Coordinator) restoreFiles(ctx context.Context, j db.Job, it db.Item, t RestoreTarget, plan restore.Plan, points []db.Point) error {
	if err := checkScriptName(it, &t); err != nil {
		return err
	}
	var res FilesResult
	var script strings.Builder
	fmt.Fprintf(&script, "-- Restores item %d from the files sqlvault exported (job %d).\n-- The paths assume the files are in %s; change them if they are elsewhere.\n",
		it.ID, j.ID, FilesDir)
	for i, p := range points {
		var disks []string
		for _, b := range p.Blobs {
			m, err := c.cfg.Vault.Manifest(ctx, b)
			if err != nil {
				return engine.Wrap(engine.CodeVaultCorrupt, err, "a backup of the chain is missing from the vault")
			}
			_, name, _ := strings.Cut(b, "/")
			res.Files = append(res.Files, RestoreFile{PointID: p.ID, Kind: p.Kind, Name: name, Blob: b, Size: m.Size})
			disks = append(disks, "DISK = "+mssql.QuoteString(FilesDir+name))
		}
		verb := "DATABASE"
		if p.Kind == mssql.KindLog {
			verb = "LOG"
		}
		opts := "NORECOVERY"
		if i == len(points)-1 {
			opts = "RECOVERY"
			if s := plan.Steps[i].StopAt; s != nil {
				script.WriteString("-- STOPAT is in UTC; SQL Server compares it with the instance's local time, so convert it if the instance is not on UTC.\n")
				opts += ", STOPAT = " + mssql.QuoteString(s.Format("2006-01-02T15:04:05"))
			}
		}
		if i == 0 && t.Overwrite {
			opts += ", REPLACE"
		}
		fmt.Fprintf(&script, "RESTORE %s %s FROM %s WITH %s;\n", verb, mssql.QuoteName(t.DatabaseName), strings.Join(disks, ", "), opts)
	}
	res.Script = script.String()
	return c.cfg.DB.SetJobResult(ctx, j.ID, res)
}

// RestoreFiles returns what a finished files-mode restore exported.
func (c *Coordinator) RestoreFiles(ctx context.Context, jobID int64) (FilesResult, error) {
	j, err := c.cfg.DB.JobByID(ctx, jobID)
	if errors.Is(err, db.ErrNotFound) || (err == nil && (j.Operation != "restore" || j.Kind != ModeFiles)) {
		return FilesResult{}, engine.Errorf(engine.CodeNotFound, "job %d is not a restore as files", jobID)
	}
	if err != nil {
		return FilesResult{}, err
	}
	if j.Status != db.JobCompleted {
		return FilesResult{}, engine.Errorf(engine.CodeConflict, "job %d is %s; the files are ready when it completes", jobID, j.Status)
	}
	var res FilesResult
	if err := c.cfg.DB.JobResult(ctx, jobID, &res); err != nil {
		return res, err
	}
	// Blob is not in the JSON; recover it from the points.
	for i, f := range res.Files {
		p, err := c.cfg.DB.PointByID(ctx, f.PointID)
		if err != nil {
			return res, engine.Errorf(engine.CodeRecoveryPointExpired, "recovery point %d is gone", f.PointID)
		}
		for _, b := range p.Blobs {
			if strings.HasSuffix(b, "/"+f.Name) {
				res.Files[i].Blob = b
			}
		}
	}
	return res, nil
}

// OpenFile opens the n-th file of a files-mode restore for download.
func (c *Coordinator) OpenFile(ctx context.Context, jobID int64, n int) (RestoreFile, io.ReadSeeker, error) {
	res, err := c.RestoreFiles(ctx, jobID)
	if err != nil {
		return RestoreFile{}, nil, err
	}
	if n < 0 || n >= len(res.Files) {
		return RestoreFile{}, nil, engine.Errorf(engine.CodeNotFound, "job %d has no file %d", jobID, n)
	}
	f := res.Files[n]
	r, err := c.cfg.Vault.OpenBlob(ctx, f.Blob)
	if err != nil {
		return f, nil, engine.Wrap(engine.CodeVaultCorrupt, err, "the file is missing from the vault")
	}
	return f, io.NewSectionReader(r, 0, r.Size()), nil
}
