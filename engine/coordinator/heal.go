package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// Gap detection and auto-heal. What sqlvault does not control breaks an
// item's chain: a log backup taken by another job takes LSNs out of it, a
// full taken elsewhere moves the differential base, a restore over the
// database starts a new recovery fork. Before each log or differential the
// instance is asked (msdb's backup history, sys.database_recovery_status)
// and the catalog consulted; when the chain cannot continue and the policy
// heals, a scheduled backup runs as a full and says why. Each backup that
// lands is checked against the vault's chain, so a gap is found then, not
// at restore time; it stays open until a full commits.

// fullMaxAge is how old the newest full may be before the next scheduled
// log or differential runs as a full (Azure Backup's auto-heal rule).
const fullMaxAge = 15 * 24 * time.Hour

// chainCodes are the alerts only a full clears.
var chainCodes = []string{string(engine.CodeLogChainBroken), string(engine.CodeForeignBackup), string(engine.CodeDiffBaseNotInVault)}

// chainBreak is why an item's chain cannot continue as it is.
type chainBreak struct {
	why     string             // for the job's steps and the alert
	foreign []mssql.HistorySet // backups taken outside sqlvault that caused it
	code    engine.Code        // the alert when it is not healed; default UserErrorLogChainBroken
	from    time.Time          // where the vault's chain ends
	fork    bool               // a restore started a new recovery fork
}

// kindFor is the kind a backup of kind runs as given the break: a full.
func (b *chainBreak) kindFor(kind string) string {
	if b == nil {
		return kind
	}
	return mssql.KindFull
}

// heals reports whether the job may be turned into a full: a scheduled
// log or differential under a policy that heals.
func heals(j db.Job, pol policy.Policy) bool {
	var params backupParams
	json.Unmarshal([]byte(j.Params), &params)
	return pol.Heals() && params.Reason == "scheduled" && (j.Kind == mssql.KindLog || j.Kind == mssql.KindDifferential)
}

// catalogBreak is what the catalog alone says breaks the chain of a job
// that may heal: no full, a full older than 15 days, a gap not healed.
func (c *Coordinator) catalogBreak(ctx context.Context, j db.Job, pol policy.Policy, points []db.Point) *chainBreak {
	if !heals(j, pol) {
		return nil
	}
	full, ok := newestFull(points)
	if !ok {
		return &chainBreak{why: "no full backup in the vault"}
	}
	if age := c.cfg.Now().Sub(full.EndTime); age > fullMaxAge {
		return &chainBreak{why: fmt.Sprintf("the newest full backup (%s) is %d days old, more than 15", stamp(full.EndTime), int(age.Hours()/24)), from: full.EndTime}
	}
	gaps, err := c.cfg.DB.Gaps(ctx, *j.ItemID)
	if err != nil {
		c.log.Warn("read chain gaps", "item", *j.ItemID, "err", err)
	}
	for _, g := range gaps {
		if g.Breaks && g.HealedAt == nil {
			return &chainBreak{why: g.Cause, from: g.From}
		}
	}
	return nil
}

// heal settles what the backup runs as once connected: the instance is
// asked whether a log or differential can continue the vault's chain
// (unless the catalog already said no), and a break turns a job that may
// heal into a full, says why in its steps and raises an alert naming a
// foreign backup. A break that is not healed raises an alert saying the
// chain is broken. It reports true when the job has nothing left to do: a
// full of the item is already queued or running and heals the chain.
func (c *Coordinator) heal(ctx context.Context, conn *mssql.Conn, j *db.Job, it db.Item, pol policy.Policy,
	points []db.Point, b **chainBreak, st *steps) (skip bool) {
	if *b == nil && (j.Kind == mssql.KindLog || j.Kind == mssql.KindDifferential) {
		*b = c.serverBreak(ctx, conn, j.Kind, it.DatabaseName, points)
	}
	brk := *b
	if brk == nil {
		return false
	}
	if !heals(*j, pol) {
		c.raiseBreak(ctx, *j, it, brk, false)
		return false
	}
	active, err := c.cfg.DB.SetJobKind(ctx, j.ID, mssql.KindFull)
	if err != nil || active != 0 {
		// The catalog holds one active full per item: that one heals.
		other := "a full backup already queued or running"
		if active != 0 {
			other = fmt.Sprintf("full backup job %d, already queued or running,", active)
		}
		st.begin("Check the chain", fmt.Sprintf("%s: %s starts a new chain", brk.why, other))
		return true
	}
	j.Kind = mssql.KindFull
	st.begin("Auto-heal", brk.why+": running a full")
	c.raiseBreak(ctx, *j, it, brk, true)
	to := c.cfg.Now()
	if n := len(brk.foreign); n > 0 {
		to = brk.foreign[n-1].Finish
	}
	if _, err := c.cfg.DB.AddGap(ctx, db.Gap{ItemID: it.ID, JobID: &j.ID, From: brk.from, To: to, Breaks: true, Cause: brk.why}); err != nil {
		c.log.Warn("record chain gap", "item", it.ID, "err", err)
	}
	return false
}

// raiseBreak alerts on a break: healed, only when a foreign backup caused
// it (the alert names it and resolves when the full commits); not healed,
// always, saying the chain is broken.
func (c *Coordinator) raiseBreak(ctx context.Context, j db.Job, it db.Item, b *chainBreak, healed bool) {
	a := db.Alert{Code: string(cmp.Or(b.code, engine.CodeLogChainBroken)), ItemID: &it.ID, ServerID: &it.ServerID, JobID: &j.ID}
	switch {
	case healed && len(b.foreign) == 0:
		return
	case healed:
		a.Code, a.Severity = string(engine.CodeForeignBackup), "warning"
		a.Message = fmt.Sprintf("%s: %s; job %d runs a full backup to start a new chain", it.DatabaseName, b.why, j.ID)
	default:
		a.Message = fmt.Sprintf("%s: %s; restores past it need a new full backup (auto-heal does not turn this %s backup into one)",
			it.DatabaseName, b.why, j.Kind)
	}
	c.raise(ctx, a)
}

// serverBreak asks the instance whether a backup of kind can continue the
// vault's chain. A question it cannot answer is logged, not a failure.
func (c *Coordinator) serverBreak(ctx context.Context, conn *mssql.Conn, kind, database string, points []db.Point) *chainBreak {
	hist, err := conn.BackupHistory(ctx, database)
	if err != nil {
		c.log.Warn("read msdb backup history", "database", database, "err", err)
		return nil
	}
	if kind == mssql.KindDifferential {
		return c.diffBreak(points, hist)
	}
	next, ok, err := conn.NextLogLSN(ctx, database)
	if err != nil {
		c.log.Warn("read the next log backup LSN", "database", database, "err", err)
		return nil
	}
	if !ok {
		if end, has := newestLog(points); has {
			return &chainBreak{why: "SQL Server has no log chain to continue from the vault's last log backup " +
				"(the recovery model was switched to SIMPLE since)", from: end.EndTime}
		}
		return nil
	}
	b := c.logBreak(next, points, hist)
	if b != nil && b.fork {
		b.why = c.nameRestore(ctx, conn, database, hist, b.from) + b.why
	}
	return b
}

// nameRestore says who restored the database over itself after the
// vault's chain ended, from msdb's restore history: "a restore over the
// database at T by login L from DEVICE", or "a restore over the database".
func (c *Coordinator) nameRestore(ctx context.Context, conn *mssql.Conn, database string, hist []mssql.HistorySet, after time.Time) string {
	restores, err := conn.Restores(ctx, database)
	if err != nil {
		c.log.Warn("read msdb restore history", "database", database, "err", err)
	}
	for _, r := range restores {
		if r.Type != "D" || r.Date.Before(after) {
			continue
		}
		s := fmt.Sprintf("a restore over the database at %s by login %s", stamp(r.Date), cmp.Or(r.UserName, "(unknown)"))
		for _, h := range hist {
			if h.ID == r.BackupSetID && len(h.Devices) > 0 {
				s += " from " + h.Devices[0].String()
			}
		}
		return s
	}
	return "a restore over the database"
}

// logBreak describes what a log backup starting at LSN first does to the
// vault's chain, or nil when it continues it.
func (c *Coordinator) logBreak(first string, points []db.Point, hist []mssql.HistorySet) *chainBreak {
	cont, end := logContinuity(points, first)
	switch cont {
	case chainForked:
		return &chainBreak{from: end.EndTime, fork: true, why: fmt.Sprintf(" started a new recovery fork: its next log backup "+
			"starts at LSN %s, before the vault's last log backup ends (LSN %s, %s)", first, end.LastLSN, stamp(end.EndTime))}
	case chainBroken:
	default:
		return nil
	}
	b := &chainBreak{from: end.EndTime}
	var lost []mssql.HistorySet
	for _, h := range hist {
		if h.Type == "L" && !h.CopyOnly && lsnCmp(h.LastLSN, end.LastLSN) > 0 && lsnCmp(h.LastLSN, first) <= 0 {
			if c.ours(h) {
				lost = append(lost, h)
			} else {
				b.foreign = append(b.foreign, h)
			}
		}
	}
	slices.Reverse(b.foreign) // oldest first
	switch {
	case len(b.foreign) > 0:
		b.why = "log chain broken by " + describe(b.foreign, "log")
	case len(lost) > 0:
		b.why = fmt.Sprintf("log chain broken by a sqlvault log backup at %s that did not reach the vault", stamp(lost[0].Finish))
	default:
		b.why = fmt.Sprintf("log chain broken: the next log backup starts at LSN %s, after the vault's chain ends (LSN %s, %s), "+
			"and msdb names no backup that took the LSNs between", first, end.LastLSN, stamp(end.EndTime))
	}
	return b
}

// diffBreak finds the full a differential would be based on now (msdb's
// newest full that is not copy-only) and says so when it is not in the
// vault.
func (c *Coordinator) diffBreak(points []db.Point, hist []mssql.HistorySet) *chainBreak {
	for _, h := range hist {
		if h.Type != "D" || h.CopyOnly {
			continue
		}
		if slices.ContainsFunc(points, func(p db.Point) bool { return p.Kind == mssql.KindFull && p.CheckpointLSN == h.CheckpointLSN }) {
			return nil
		}
		b := &chainBreak{code: engine.CodeDiffBaseNotInVault}
		if full, ok := newestFull(points); ok {
			b.from = full.EndTime
		}
		if c.ours(h) {
			b.why = fmt.Sprintf("the differential base moved to a sqlvault full backup at %s that did not reach the vault", stamp(h.Finish))
		} else {
			b.foreign = []mssql.HistorySet{h}
			b.why = "differential base moved by " + describe(b.foreign, "full")
		}
		return b
	}
	return nil
}

// landed checks a backup SQL Server has just finished against the vault's
// chain and returns the gap it leaves, if any. b is what was found before
// it ran (its cause names the foreign backup).
func (c *Coordinator) landed(ctx context.Context, kind string, it db.Item, set mssql.BackupSet, b *chainBreak) *db.Gap {
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil {
		return nil
	}
	g := &db.Gap{ItemID: it.ID, To: set.Start, Breaks: true}
	switch kind {
	case mssql.KindLog:
		cont, end := logContinuity(points, set.FirstLSN)
		if cont == chainContinues {
			return nil
		}
		g.From, g.Breaks = end.EndTime, cont != chainLostSpan
		g.Cause = fmt.Sprintf("log backup from LSN %s does not continue the vault's chain (ends at LSN %s, %s)", set.FirstLSN, end.LastLSN, stamp(end.EndTime))
	case mssql.KindDifferential:
		if slices.ContainsFunc(points, func(p db.Point) bool {
			return p.Kind == mssql.KindFull && (p.CheckpointLSN == set.DatabaseBackupLSN || p.CheckpointLSN == set.DifferentialBaseLSN)
		}) {
			return nil
		}
		g.Cause = fmt.Sprintf("differential is based on a full backup not in the vault (base LSN %s)", cmp.Or(set.DifferentialBaseLSN, set.DatabaseBackupLSN))
	default:
		return nil
	}
	if b != nil {
		g.Cause = b.why // names the foreign backup
	}
	return g
}

// settle runs once a backup's point has committed. A full heals the
// item's gaps and clears every alert; anything else clears all but the
// chain's alerts, and records the gap it landed after, with an alert.
func (c *Coordinator) settle(ctx context.Context, j db.Job, it db.Item, pol policy.Policy, p db.Point, gap *db.Gap) {
	if p.Kind == mssql.KindFull {
		c.cfg.DB.HealGaps(ctx, it.ID)
		c.cfg.DB.ResolveAlerts(ctx, 0, it.ID)
		return
	}
	c.cfg.DB.ResolveAlertsExcept(ctx, it.ID, chainCodes...)
	if gap == nil {
		return
	}
	gap.PointID, gap.JobID = &p.ID, &j.ID
	if _, err := c.cfg.DB.AddGap(ctx, *gap); err != nil {
		c.log.Warn("record chain gap", "item", it.ID, "err", err)
	}
	if !gap.Breaks {
		return // the chain goes on from a later full; only a span is lost
	}
	next := "run a full backup to start a new chain"
	if pol.Heals() {
		next = "the next scheduled log or differential backup runs as a full"
	}
	code := engine.CodeLogChainBroken
	if p.Kind == mssql.KindDifferential {
		code = engine.CodeDiffBaseNotInVault
	}
	c.raise(ctx, db.Alert{Code: string(code), ItemID: &it.ID, ServerID: &it.ServerID, JobID: &j.ID,
		Message: fmt.Sprintf("%s: the chain is broken before the %s backup of %s: %s; no restore reaches past %s until a full backup: %s",
			it.DatabaseName, p.Kind, stamp(p.EndTime), gap.Cause, stamp(gap.From), next)})
}

// continuity is how a log backup relates to the vault's chain.
type continuity int

const (
	chainContinues continuity = iota
	chainLostSpan             // after the vault's last log, but a later full or differential starts the chain again
	chainBroken               // after everything the vault holds
	chainForked               // before the vault's last log ends: a restore started a new fork
)

// logContinuity says how a log backup starting at LSN first relates to the
// vault's chain, as the restore planner follows it, with the point it is
// measured against. The chain is followed from the newest full or
// differential (by time: a restore's new fork numbers LSNs again): a log
// continues the newest log after it, or, when there is none, reaches the
// start's last LSN.
func logContinuity(points []db.Point, first string) (continuity, db.Point) {
	var start, before, after db.Point // the start, the newest log before it, the newest log after it
	for _, p := range points {
		if p.Kind != mssql.KindLog && (start.ID == 0 || p.EndTime.After(start.EndTime)) {
			start = p
		}
	}
	for _, p := range points {
		switch {
		case p.Kind != mssql.KindLog:
		case start.ID != 0 && p.EndTime.After(start.EndTime):
			if after.ID == 0 || lsnCmp(p.LastLSN, after.LastLSN) > 0 {
				after = p
			}
		case before.ID == 0 || p.EndTime.After(before.EndTime):
			before = p
		}
	}
	switch {
	case after.ID != 0 && lsnCmp(first, after.LastLSN) > 0:
		return chainBroken, after
	case after.ID != 0 && lsnCmp(first, after.LastLSN) < 0:
		return chainForked, after
	case after.ID != 0, start.ID == 0:
		return chainContinues, after
	case lsnCmp(first, start.LastLSN) > 0:
		return chainBroken, start
	case before.ID != 0 && lsnCmp(first, before.LastLSN) > 0:
		return chainLostSpan, before
	}
	return chainContinues, start
}

func newestLog(points []db.Point) (db.Point, bool) {
	var out db.Point
	for _, p := range points {
		if p.Kind == mssql.KindLog && (out.ID == 0 || lsnCmp(p.LastLSN, out.LastLSN) > 0) {
			out = p
		}
	}
	return out, out.ID != 0
}

// newestFull is the newest full that can base a differential (not copy-only).
func newestFull(points []db.Point) (db.Point, bool) {
	var out db.Point
	for _, p := range points {
		if p.Kind == mssql.KindFull && (out.ID == 0 || p.EndTime.After(out.EndTime)) {
			out = p
		}
	}
	return out, out.ID != 0
}

// ours reports whether a backup went to this device (a URL on its name):
// one of sqlvault's, committed or not.
func (c *Coordinator) ours(h mssql.HistorySet) bool {
	for _, d := range h.Devices {
		u, err := url.Parse(d.Name)
		if d.Type == 9 && err == nil && (strings.EqualFold(u.Hostname(), c.cfg.DeviceName) ||
			(c.cfg.Device != nil && strings.HasPrefix(strings.ToLower(d.Name), strings.ToLower(c.cfg.Device.ContainerURL(""))))) {
			return true
		}
	}
	return false
}

// describe names backups taken outside sqlvault as msdb records them: when,
// where to and by whom.
func describe(sets []mssql.HistorySet, kind string) string {
	h := sets[0]
	devices := make([]string, len(h.Devices))
	for i, d := range h.Devices {
		devices[i] = d.String()
	}
	s := fmt.Sprintf("a %s backup taken outside sqlvault at %s to %s by login %s", kind, stamp(h.Finish), strings.Join(devices, ", "), cmp.Or(h.UserName, "(unknown)"))
	if n := len(sets) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more, the last at %s)", n, stamp(sets[n].Finish))
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// lsnCmp compares LSNs, numeric(25,0) written in decimal.
func lsnCmp(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
