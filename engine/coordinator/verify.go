package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/restore"
)

// VerifyRequest asks for the verification of a recovery point, or of a
// second in an item's log chain: it is restored on a verification
// instance under a temporary name, checked, and dropped.
type VerifyRequest struct {
	PointID     int64      `json:"recovery_point_id,omitempty"`
	PointInTime *time.Time `json:"point_in_time,omitempty"`
	ServerID    int64      `json:"server_id,omitempty"` // default: the policy's verification instance
	Level       string     `json:"level,omitempty"`     // checkdb (default), physical_only, verifyonly
	Keep        bool       `json:"keep,omitempty"`      // leave the restored copy on the instance
}

// VerifyPoint queues the verification of one recovery point.
func (c *Coordinator) VerifyPoint(ctx context.Context, pointID int64, r VerifyRequest) (int64, error) {
	p, err := c.cfg.DB.PointByID(ctx, pointID)
	if err != nil {
		return 0, engine.Errorf(engine.CodeNotFound, "recovery point %d does not exist", pointID)
	}
	r.PointID, r.PointInTime = p.ID, nil
	return c.queueVerify(ctx, p.ItemID, r)
}

// VerifyItem queues the verification of an item: a second inside its log
// chain when asked, else its newest point with the chain from its full.
func (c *Coordinator) VerifyItem(ctx context.Context, itemID int64, r VerifyRequest) (int64, error) {
	if r.PointInTime == nil && r.PointID == 0 {
		points, err := c.cfg.DB.ListPoints(ctx, itemID)
		if err != nil {
			return 0, err
		}
		if len(points) == 0 {
			return 0, engine.Errorf(engine.CodeMissingFullBackup, "backup item %d has no recovery point to verify", itemID)
		}
		r.PointID = newestOfNewestIncarnation(points).ID
	}
	return c.queueVerify(ctx, itemID, r)
}

func newestOfNewestIncarnation(points []db.Point) db.Point {
	inc := incarnations(points)[0]
	return inc[len(inc)-1]
}

func (c *Coordinator) queueVerify(ctx context.Context, itemID int64, r VerifyRequest) (int64, error) {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return 0, err
	}
	if !policy.ValidLevel(r.Level) {
		return 0, invalid("level", "checkdb, physical_only or verifyonly")
	}
	if r.ServerID == 0 {
		if pol, err := c.itemPolicy(ctx, it); err == nil && pol.Verify != nil {
			r.ServerID = pol.Verify.ServerID
			r.Level = cmpOr(r.Level, pol.Verify.Level)
		}
	}
	if r.ServerID == 0 {
		return 0, invalid("server_id", "choose a verification instance, or give the item's policy one")
	}
	if _, err := c.server(ctx, r.ServerID); err != nil {
		return 0, err
	}
	if _, err := c.Plan(ctx, it.ID, r.PointID, r.PointInTime); err != nil {
		return 0, err
	}
	r.Level = cmpOr(r.Level, policy.LevelCheckDB)
	return c.enqueue(ctx, db.NewJob{Operation: "verify", Kind: r.Level, ItemID: it.ID, ServerID: r.ServerID, Params: r})
}

// verifyName is the temporary database a verification restores into: it
// names the item and job, so it is never the source database's own name
// nor another verification's.
func verifyName(itemID, jobID int64) string {
	return fmt.Sprintf("sqlvault_verify_%d_%d", itemID, jobID)
}

// verifyRun is one verification in progress.
type verifyRun struct {
	j      db.Job
	st     *steps
	req    VerifyRequest
	it     db.Item
	plan   restore.Plan
	points []db.Point
	v      db.Verification
	start  time.Time
}

// runVerifyPoint restores the chain on the verification instance, runs
// DBCC CHECKDB, compares each table's rows with the source's at backup
// time, drops the copy and records the outcome on every point of the
// chain. The level verifyonly runs RESTORE VERIFYONLY ... WITH CHECKSUM
// on each backup instead.
func (c *Coordinator) runVerifyPoint(ctx context.Context, j db.Job, st *steps) error {
	var r VerifyRequest
	if err := json.Unmarshal([]byte(j.Params), &r); err != nil {
		return engine.Wrap(engine.CodeInternal, err, "bad verify parameters")
	}
	it, plan, points, err := c.planChain(ctx, st, *j.ItemID, r.PointID, r.PointInTime)
	if err != nil {
		return err
	}
	vr := &verifyRun{j: j, st: st, req: r, it: it, plan: plan, points: points, start: c.cfg.Now()}
	vr.v = db.Verification{ItemID: it.ID, JobID: &j.ID, ServerID: j.ServerID, Level: cmpOr(j.Kind, policy.LevelCheckDB),
		DatabaseName: verifyName(it.ID, j.ID), PointInTime: r.PointInTime}
	err = c.verifyOn(ctx, vr)
	c.recordVerification(vr, err)
	return err
}

func (c *Coordinator) verifyOn(ctx context.Context, vr *verifyRun) error {
	s, err := c.server(ctx, *vr.j.ServerID)
	if err != nil {
		return err
	}
	vr.st.begin("Connect", s.Name)
	conn, info, err := c.connectSysadmin(ctx, s)
	if err != nil {
		return err
	}
	c.dropLeftovers(ctx, vr.st, conn, s.ID, vr.j.ID)
	vr.st.begin("Grant device read access", fmt.Sprintf("%d backups", len(vr.points)))
	drop, err := c.grantRead(ctx, conn, vr.points)
	defer drop()
	if err != nil {
		return err
	}
	if vr.v.Level == policy.LevelVerifyOnly {
		return c.verifyOnly(ctx, vr, conn)
	}
	name := vr.v.DatabaseName
	if targetState(ctx, conn, name) != "" {
		return engine.Errorf(engine.CodeTargetDatabaseExists, "database %s already exists on %s; sqlvault never overwrites it", name, s.Name)
	}
	files, err := conn.FileList(ctx, c.urls(vr.points[0]))
	if err != nil {
		return err
	}
	t := RestoreTarget{Mode: ModeAlternate, ServerID: s.ID, DatabaseName: name}
	moves, err := movesFor(files, t, info)
	if err != nil {
		return err
	}
	_, err = c.applyChain(ctx, vr.j, vr.st, conn, t, vr.plan, vr.points, moves, "")
	if !vr.req.Keep {
		defer c.dropCopy(vr.st, conn, name)
	}
	if err != nil {
		return err
	}
	if err := conn.RequireOnline(ctx, name); err != nil {
		return err
	}
	return c.checkCopy(ctx, vr, conn)
}

// dropCopy drops the verification copy, whatever state the restore left.
func (c *Coordinator) dropCopy(st *steps, conn *mssql.Conn, name string) {
	ctx := context.Background()
	if targetState(ctx, conn, name) == "" {
		return
	}
	st.begin("Drop the verification copy", name)
	if err := conn.DropDatabase(ctx, name); err != nil {
		st.detail(engine.MessageOf(err))
		c.log.Warn("verification copy not dropped", "database", name, "err", err)
	}
}

// checkCopy runs DBCC CHECKDB and compares the row counts.
func (c *Coordinator) checkCopy(ctx context.Context, vr *verifyRun, conn *mssql.Conn) error {
	name := vr.v.DatabaseName
	physical := vr.v.Level == policy.LevelPhysicalOnly
	vr.st.begin("DBCC CHECKDB", name)
	res, err := conn.CheckDB(ctx, name, physical)
	if err != nil {
		return err
	}
	vr.v.CheckDBMessages = res.Messages
	vr.st.begin("Count rows", name)
	counts, err := conn.RowCounts(ctx, name)
	if err != nil {
		return err
	}
	source, ok := c.sourceRows(ctx, vr)
	vr.v.Tables, vr.v.Rows = compareRows(counts, source, ok)
	differ := differing(vr.v.Tables)
	vr.st.detail(fmt.Sprintf("%d tables, %d rows", len(vr.v.Tables), vr.v.Rows))
	switch {
	case !res.Clean:
		return engine.Errorf(engine.CodeVerificationFailed, "DBCC CHECKDB found errors in the restored copy of %s: %s",
			vr.it.DatabaseName, strings.Join(res.Messages, " "))
	case len(differ) > 0:
		return engine.Errorf(engine.CodeVerificationFailed, "the restored copy of %s holds other row counts than the source had at backup time: %s",
			vr.it.DatabaseName, strings.Join(differ, ", "))
	}
	return nil
}

// sourceRows are the source's row counts recorded by the backup of the
// chain's last point; a point-in-time verification stops inside a log,
// where no count was taken.
func (c *Coordinator) sourceRows(ctx context.Context, vr *verifyRun) (map[string]int64, bool) {
	last := vr.points[len(vr.points)-1]
	if vr.req.PointInTime != nil || last.JobID == nil {
		return nil, false
	}
	counts, ok, err := c.cfg.DB.RowCountsOf(ctx, *last.JobID)
	return counts, ok && err == nil
}

// compareRows lists each table of the copy with the source's rows beside
// it (and the source's tables the copy lacks, with 0 rows).
func compareRows(copyRows, source map[string]int64, known bool) ([]db.TableRows, int64) {
	var out []db.TableRows
	var total int64
	for name, n := range copyRows {
		tr := db.TableRows{Name: name, Rows: n}
		if known {
			s := source[name]
			tr.SourceRows = &s
		}
		out = append(out, tr)
		total += n
	}
	for name, n := range source {
		if _, ok := copyRows[name]; !ok && known {
			out = append(out, db.TableRows{Name: name, SourceRows: &n})
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out, total
}

func differing(tables []db.TableRows) []string {
	var out []string
	for _, t := range tables {
		if t.SourceRows != nil && *t.SourceRows != t.Rows {
			out = append(out, fmt.Sprintf("%s %d (source %d)", t.Name, t.Rows, *t.SourceRows))
		}
	}
	return out
}

// verifyOnly runs RESTORE VERIFYONLY ... WITH CHECKSUM on each backup.
func (c *Coordinator) verifyOnly(ctx context.Context, vr *verifyRun, conn *mssql.Conn) error {
	for i, p := range vr.points {
		vr.st.begin(fmt.Sprintf("RESTORE VERIFYONLY %s backup (%d of %d)", kindWord(p.Kind), i+1, len(vr.points)), p.EndTime.Format(time.RFC3339))
		if err := conn.VerifyOnly(ctx, c.urls(p)); err != nil {
			return err
		}
	}
	return nil
}

// recordVerification saves the outcome on every point of the chain. A
// verification that could not run (the instance unreachable, the job
// cancelled) records nothing: it says nothing of the backup.
func (c *Coordinator) recordVerification(vr *verifyRun, err error) {
	code := engine.CodeOf(err)
	v := vr.v
	v.Status = db.VerifyClean
	if err != nil {
		if !slices.Contains([]engine.Code{engine.CodeVerificationFailed, engine.CodeBackupChecksum, engine.CodeRestoreFailed,
			engine.CodeLogChainBroken, engine.CodeRestoreLeftRestoring}, code) {
			return
		}
		v.Status, v.ErrorCode = db.VerifyFailed, string(code)
		if len(v.CheckDBMessages) == 0 {
			v.CheckDBMessages = []string{engine.MessageOf(err)}
		}
	}
	now := c.cfg.Now().UTC()
	v.At, v.DurationMS = now, now.Sub(vr.start).Milliseconds()
	for _, p := range vr.points {
		v.PointID = p.ID
		if _, err := c.cfg.DB.SaveVerification(context.Background(), v); err != nil {
			c.log.Error("record verification", "point", p.ID, "err", err)
		}
	}
}

// recordSourceRows reads the source's row counts before and after a
// backup and keeps them only when equal: rows changing during the backup
// leave nothing exact to compare a restored copy with. A failed read
// never fails the backup.
func (c *Coordinator) recordSourceRows(ctx context.Context, jobID int64, conn *mssql.Conn, database string, before map[string]int64, beforeErr error) {
	if beforeErr != nil {
		return
	}
	after, err := conn.RowCounts(ctx, database)
	if err != nil || !maps.Equal(before, after) {
		return
	}
	if err := c.cfg.DB.SaveRowCounts(ctx, jobID, after); err != nil {
		c.log.Warn("row counts not recorded", "job", jobID, "err", err)
	}
}
