package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// verifyNamePattern matches exactly the names verifyName makes.
var verifyNamePattern = regexp.MustCompile(`^sqlvault_verify_([1-9][0-9]*)_([1-9][0-9]*)$`)

// parseVerifyName returns the item and job a verification copy's name
// carries; ok is false for any other name.
func parseVerifyName(name string) (itemID, jobID int64, ok bool) {
	m := verifyNamePattern.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	itemID, err1 := strconv.ParseInt(m[1], 10, 64)
	jobID, err2 := strconv.ParseInt(m[2], 10, 64)
	return itemID, jobID, err1 == nil && err2 == nil
}

// leftoverOf reports whether a database named like a verification copy
// is one sqlvault made and may drop: its job is in the catalog, a
// verification of that item on this instance, no longer queued or
// running, and did not ask to keep its copy. A verification interrupted
// by a restart (or whose drop failed) leaves such a copy.
func (c *Coordinator) leftoverOf(ctx context.Context, name string, serverID, self int64) (db.Job, bool) {
	itemID, jobID, ok := parseVerifyName(name)
	if !ok || jobID == self {
		return db.Job{}, false
	}
	j, err := c.cfg.DB.JobByID(ctx, jobID)
	switch {
	case err != nil, j.Operation != "verify", j.ItemID == nil || *j.ItemID != itemID,
		j.ServerID == nil || *j.ServerID != serverID, j.Status == db.JobQueued || j.Status == db.JobInProgress:
		return db.Job{}, false
	}
	var r VerifyRequest
	if json.Unmarshal([]byte(j.Params), &r) != nil || r.Keep {
		return db.Job{}, false
	}
	return j, true
}

// dropLeftovers drops the verification copies earlier jobs left on the
// instance, saying so in the job's steps and the audit log. Failing to
// list or drop them never fails the verification that found them.
func (c *Coordinator) dropLeftovers(ctx context.Context, st *steps, conn *mssql.Conn, serverID, self int64) {
	dbs, err := conn.Databases(ctx)
	if err != nil {
		return
	}
	for _, d := range dbs {
		old, ok := c.leftoverOf(ctx, d.Name, serverID, self)
		if !ok {
			continue
		}
		detail := fmt.Sprintf("%s, left by job %d (%s)", d.Name, old.ID, old.Status)
		st.begin("Drop a leftover verification copy", detail)
		entry := db.AuditEntry{Actor: "sqlvault", Addr: "local", Action: "verify.drop_leftover", TargetType: "database",
			TargetID: d.Name, Outcome: db.AuditSuccess, Detail: fmt.Sprintf("dropped by job %d: %s", self, detail)}
		if err := conn.DropDatabase(ctx, d.Name); err != nil {
			st.detail(detail + ": " + engine.MessageOf(err))
			entry.Outcome, entry.Detail = db.AuditFailed, entry.Detail+": "+engine.MessageOf(err)
		}
		c.log.Warn("leftover verification copy", "database", d.Name, "job", old.ID, "outcome", entry.Outcome)
		if err := c.cfg.DB.RecordAudit(context.WithoutCancel(ctx), entry); err != nil {
			c.log.Error("audit the leftover verification copy", "database", d.Name, "err", err)
		}
	}
}
