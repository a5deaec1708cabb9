package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// Policy returns one policy.
func (c *Coordinator) Policy(ctx context.Context, id int64) (policy.Policy, error) {
	row, err := c.cfg.DB.PolicyByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return policy.Policy{}, engine.Errorf(engine.CodeNotFound, "policy %d does not exist", id)
	}
	if err != nil {
		return policy.Policy{}, err
	}
	return decodePolicy(row)
}

// PolicyInfo is a policy with how many items use it.
type PolicyInfo struct {
	policy.Policy
	Items    int    `json:"items"`
	Schedule string `json:"schedule"` // the schedule in words
	RPO      string `json:"rpo"`
}

// Policies lists every policy.
func (c *Coordinator) Policies(ctx context.Context) ([]PolicyInfo, error) {
	rows, err := c.cfg.DB.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PolicyInfo, 0, len(rows))
	for _, r := range rows {
		p, err := decodePolicy(r)
		if err != nil {
			return nil, err
		}
		out = append(out, PolicyInfo{Policy: p, Items: r.Items, Schedule: p.Describe(), RPO: p.RPO().String()})
	}
	return out, nil
}

func decodePolicy(r db.PolicyRow) (policy.Policy, error) {
	var p policy.Policy
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
		return p, fmt.Errorf("policy %d: %w", r.ID, err)
	}
	p.ID, p.Name = r.ID, r.Name
	return p, nil
}

// CreatePolicy validates and stores a policy.
func (c *Coordinator) CreatePolicy(ctx context.Context, p policy.Policy) (policy.Policy, error) {
	p.Defaults()
	if err := p.ValidateWith(c.cfg.Limits); err != nil {
		return p, err
	}
	body, _ := json.Marshal(p)
	row, err := c.cfg.DB.CreatePolicy(ctx, p.Name, string(body))
	if errors.Is(err, db.ErrDuplicate) {
		return p, policyNameTaken(p.Name)
	}
	if err != nil {
		return p, err
	}
	p.ID = row.ID
	return p, c.schedulePolicy(p)
}

func policyNameTaken(name string) error {
	fe := policy.FieldErrors{{Field: "name", Message: "another policy has this name"}}
	return &engine.Error{Code: engine.CodePolicyInvalid, Message: fmt.Sprintf("a policy named %q exists", name), Err: fe}
}

// UpdatePolicy replaces a policy and reschedules its items at once.
func (c *Coordinator) UpdatePolicy(ctx context.Context, id int64, p policy.Policy) (policy.Policy, error) {
	if _, err := c.Policy(ctx, id); err != nil {
		return p, err
	}
	p.Defaults()
	p.ID = id
	if err := p.ValidateWith(c.cfg.Limits); err != nil {
		return p, err
	}
	if err := c.guardPolicyUpdate(ctx, id, p); err != nil {
		return p, err
	}
	body, _ := json.Marshal(p)
	if err := c.cfg.DB.UpdatePolicy(ctx, id, p.Name, string(body)); errors.Is(err, db.ErrDuplicate) {
		return p, policyNameTaken(p.Name)
	} else if err != nil {
		return p, err
	}
	if err := c.RefreshHealth(ctx, db.ItemFilter{PolicyID: id}); err != nil { // its RPO target may have changed
		c.log.Warn("store item health", "policy", id, "err", err)
	}
	return p, c.schedulePolicy(p)
}

// DeletePolicy removes a policy; one that protects items is refused.
func (c *Coordinator) DeletePolicy(ctx context.Context, id int64) error {
	if _, err := c.Policy(ctx, id); err != nil {
		return err
	}
	err := c.cfg.DB.DeletePolicy(ctx, id)
	if errors.Is(err, db.ErrInUse) {
		return engine.Wrap(engine.CodePolicyInUse, err, "the policy still protects databases; move them to another policy or stop their protection first")
	}
	if err != nil {
		return err
	}
	c.unschedulePolicy(id)
	return nil
}

// Protect puts a database under a policy and queues its first full backup
// right away; the schedule takes over from there.
func (c *Coordinator) Protect(ctx context.Context, databaseID, policyID int64) (db.Item, int64, error) {
	d, err := c.cfg.DB.DatabaseByID(ctx, databaseID)
	if errors.Is(err, db.ErrNotFound) {
		return db.Item{}, 0, engine.Errorf(engine.CodeNotFound, "database %d does not exist", databaseID)
	}
	if err != nil {
		return db.Item{}, 0, err
	}
	p, err := c.Policy(ctx, policyID)
	if err != nil {
		return db.Item{}, 0, err
	}
	if err := ProtectabilityOf(d).refusal(d.Name, ""); err != nil {
		return db.Item{}, 0, err
	}
	if d.ItemID != nil {
		return db.Item{}, 0, alreadyProtected(d, *d.ItemID)
	}
	if m, ok, err := c.cfg.DB.DatabaseAG(ctx, d.ID); err != nil {
		return db.Item{}, 0, err
	} else if ok {
		return c.protectGroupDatabase(ctx, d, p.ID, m)
	}
	note := ""
	if strings.EqualFold(d.RecoveryModel, "SIMPLE") {
		note = simpleNote
	}
	if d.IsReadOnly {
		note = protectNote(d)
	}
	it, err := c.cfg.DB.CreateItem(ctx, d.ID, p.ID, note)
	if errors.Is(err, db.ErrDuplicate) {
		// Protected by a concurrent request since it was read.
		if again, err := c.cfg.DB.DatabaseByID(ctx, d.ID); err == nil && again.ItemID != nil {
			return db.Item{}, 0, alreadyProtected(d, *again.ItemID)
		}
		return db.Item{}, 0, engine.Errorf(engine.CodeDatabaseAlreadyProtd, "database %s is already protected", d.Name)
	}
	if err != nil {
		return db.Item{}, 0, err
	}
	c.refreshItemHealth(ctx, it.ID)
	jobID, err := c.enqueueBackup(ctx, it, mssql.KindFull, 0, "protection configured")
	return it, jobID, err
}

// alreadyProtected refuses a second item for a database, naming the item
// that protects it.
func alreadyProtected(d db.Database, itemID int64) error {
	return engine.Errorf(engine.CodeDatabaseAlreadyProtd, "database %s on %s is already protected by backup item %d", d.Name, d.ServerName, itemID)
}

// BackupNow queues an on-demand backup; retainDays sets how long its point
// is kept (0: by the policy).
func (c *Coordinator) BackupNow(ctx context.Context, itemID int64, kind string, retainDays int) (int64, error) {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return 0, err
	}
	switch kind {
	case mssql.KindFull, mssql.KindDifferential, mssql.KindLog, mssql.KindCopyOnlyFull:
	default:
		return 0, invalid("type", "choose full, differential, log or copy_only_full")
	}
	if retainDays < 0 || retainDays > 36500 {
		return 0, invalid("retain_days", "between 1 and 36500 days, or 0 for the policy's retention")
	}
	if it.State != db.ItemProtected {
		return 0, engine.Errorf(engine.CodeProtectionStopped, "protection of %s is stopped; resume it first", it.DatabaseName)
	}
	if kind == mssql.KindLog && strings.EqualFold(it.RecoveryModel, "SIMPLE") {
		return 0, engine.Errorf(engine.CodeLogBackupSimple, "%s uses the SIMPLE recovery model, which allows no log backups", it.DatabaseName)
	}
	d, err := c.cfg.DB.DatabaseByID(ctx, it.DatabaseID)
	if err != nil {
		return 0, err
	}
	// A group database's backup is judged on the replica chosen to run it.
	if _, inGroup, err := c.cfg.DB.ItemAG(ctx, it.ID); err != nil {
		return 0, err
	} else if !inGroup {
		if err := ProtectabilityOf(d).refusal(d.Name, kind); err != nil {
			return 0, err
		}
	}
	return c.enqueueBackup(ctx, it, kind, retainDays, "on demand")
}

type backupParams struct {
	RetainDays int        `json:"retain_days,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Slot       *time.Time `json:"slot,omitempty"`     // a scheduled backup's slot (the minute it was queued)
	CatchUp    bool       `json:"catch_up,omitempty"` // queued at start for a slot missed while down
}

func (c *Coordinator) enqueueBackup(ctx context.Context, it db.Item, kind string, retainDays int, reason string) (int64, error) {
	p := backupParams{RetainDays: retainDays, Reason: reason}
	if reason == "scheduled" {
		slot := c.cfg.Now().UTC().Truncate(time.Minute)
		p.Slot, p.CatchUp = &slot, ctx.Value(catchUpKey{}) != nil
	}
	return c.enqueue(ctx, db.NewJob{Operation: "backup", Kind: kind, ItemID: it.ID, ServerID: it.ServerID, Params: p})
}

// StopProtection stops scheduled backups of an item. With deleteData its
// recovery points are deleted too; otherwise they are kept indefinitely.
func (c *Coordinator) StopProtection(ctx context.Context, itemID int64, deleteData bool) error {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return err
	}
	if err := c.guardStopDelete(ctx, deleteData); err != nil {
		return err
	}
	defer c.refreshItemHealth(ctx, it.ID)
	if !deleteData {
		return c.cfg.DB.SetItemState(ctx, it.ID, db.ItemStopped, nil)
	}
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil {
		return err
	}
	ids := make([]int64, len(points))
	for i, p := range points {
		ids[i] = p.ID
	}
	if err := c.cfg.DB.SetItemState(ctx, it.ID, db.ItemStoppedDeleted, nil); err != nil {
		return err
	}
	// Soft-deleted now, collected after the grace period like expired points.
	return c.cfg.DB.SoftDeletePoints(ctx, ids)
}

// ResumeProtection restarts scheduled backups of a stopped item, with
// policyID (0 keeps its policy). A full backup starts the chain again if
// its data was deleted.
func (c *Coordinator) ResumeProtection(ctx context.Context, itemID, policyID int64) (int64, error) {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return 0, err
	}
	if policyID == 0 && it.PolicyID != nil {
		policyID = *it.PolicyID
	}
	if d, err := c.cfg.DB.DatabaseByID(ctx, it.DatabaseID); err == nil && d.Gone {
		return 0, engine.Errorf(engine.CodeDatabaseNotFound, "%s (%s) is no longer on %s: its points stay restorable, but it cannot be backed up", d.Name, strings.ToLower(d.State), d.ServerName)
	}
	if _, err := c.Policy(ctx, policyID); err != nil {
		return 0, err
	}
	if err := c.cfg.DB.SetItemState(ctx, it.ID, db.ItemProtected, &policyID); err != nil {
		return 0, err
	}
	defer c.refreshItemHealth(ctx, it.ID)
	if it.State == db.ItemStoppedDeleted || it.LastFull == nil {
		return c.enqueueBackup(ctx, it, mssql.KindFull, 0, "protection resumed")
	}
	return 0, nil
}

func (c *Coordinator) item(ctx context.Context, id int64) (db.Item, error) {
	it, err := c.cfg.DB.ItemByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return it, engine.Errorf(engine.CodeNotFound, "backup item %d does not exist", id)
	}
	return it, err
}

// retainUntil is when an on-demand point is released.
func retainUntil(end time.Time, days int) *time.Time {
	if days <= 0 {
		return nil
	}
	t := end.AddDate(0, 0, days)
	return &t
}

// ChangePolicy moves a protected item to another policy; its next backups
// follow the new schedule and new points its retention.
func (c *Coordinator) ChangePolicy(ctx context.Context, itemID, policyID int64) error {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return err
	}
	if it.State != db.ItemProtected {
		return engine.Errorf(engine.CodeProtectionStopped, "protection of %s is stopped; resume it with the policy instead", it.DatabaseName)
	}
	if _, err := c.Policy(ctx, policyID); err != nil {
		return invalid("policy_id", "%s", engine.MessageOf(err))
	}
	if err := c.guardPolicyChange(ctx, it, policyID); err != nil {
		return err
	}
	defer c.refreshItemHealth(ctx, it.ID)
	return c.cfg.DB.SetItemPolicy(ctx, it.ID, policyID)
}
