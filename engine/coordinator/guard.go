package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// The guards of destructive operations. The vault's settings (kept in the
// vault itself) decide: an immutable vault refuses what would lose a
// recovery point before its expiry (Azure Backup's restricted operations:
// stop protection with delete data, reducing a policy's retention, moving
// an item to a policy of lower retention); with multi-user authorization
// on, the destructive operations need a second admin's approval, which
// the caller carries in its context (WithApproval).

type approvalKey struct{}

// WithApproval marks ctx as running an operation a second admin approved.
func WithApproval(ctx context.Context, approvalID int64) context.Context {
	return context.WithValue(ctx, approvalKey{}, approvalID)
}

func approved(ctx context.Context) bool {
	id, _ := ctx.Value(approvalKey{}).(int64)
	return id > 0
}

// Settings answers the vault's settings.
func (c *Coordinator) Settings() vault.Settings { return c.cfg.Vault.Settings() }

// softDelete is how long deleted points stay recoverable before their
// data is collected: the vault's setting, 14 to 180 days.
func (c *Coordinator) softDelete() time.Duration { return c.Settings().SoftDelete() }

// UpdateSettings saves the vault's settings. Turning immutability or
// multi-user authorization off, or shortening soft delete, needs approval
// while multi-user authorization is on; the vault refuses unlocking.
func (c *Coordinator) UpdateSettings(ctx context.Context, next vault.Settings) (vault.Settings, error) {
	cur := c.Settings()
	next.UpdatedAt = c.cfg.Now().UTC()
	if err := settingsError(c.cfg.Vault.CheckSettings(next)); err != nil {
		return cur, err
	}
	weaker := (cur.Immutable() && !next.Immutable()) || (cur.MultiUserAuth && !next.MultiUserAuth) ||
		next.SoftDeleteDays < cur.SoftDeleteDays
	if weaker {
		if err := c.needApproval(ctx, "weakening the vault's settings"); err != nil {
			return cur, err
		}
	}
	if err := settingsError(c.cfg.Vault.SaveSettings(ctx, next)); err != nil {
		return cur, err
	}
	return c.Settings(), nil
}

func settingsError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vault.ErrImmutabilityLocked):
		return engine.Wrap(engine.CodeImmutabilityLocked, err, "the vault's immutability is locked; it cannot be turned off")
	case errors.Is(err, vault.ErrSoftDeleteShortened):
		return invalid("soft_delete_days", "%s", err.Error())
	case errors.Is(err, vault.ErrBadSettings):
		field := "immutability"
		if strings.Contains(err.Error(), "soft_delete_days") {
			field = "soft_delete_days"
		}
		return invalid(field, "%s", err.Error())
	}
	return err
}

// needApproval refuses what is unapproved while multi-user authorization
// is on; the API turns the refusal into a request for approval.
func (c *Coordinator) needApproval(ctx context.Context, what string) error {
	if !c.Settings().MultiUserAuth || approved(ctx) {
		return nil
	}
	return engine.Errorf(engine.CodeApprovalNeeded, "%s needs a second admin's approval: multi-user authorization is on", what)
}

func (c *Coordinator) refuseImmutable(what string) error {
	if s := c.Settings(); s.Immutable() {
		return engine.Errorf(engine.CodeVaultImmutable, "the vault is immutable (%s): %s is not allowed", s.Immutability, what)
	}
	return nil
}

// guardStopDelete guards stop protection; only deleting data is guarded.
func (c *Coordinator) guardStopDelete(ctx context.Context, deleteData bool) error {
	if !deleteData {
		return nil
	}
	if err := c.refuseImmutable("stopping protection with delete data"); err != nil {
		return err
	}
	return c.needApproval(ctx, "stopping protection with delete data")
}

// guardPolicyUpdate guards a policy edit that shortens retention: an
// immutable vault refuses it; with multi-user authorization on, so does
// one of a policy in use, until approved.
func (c *Coordinator) guardPolicyUpdate(ctx context.Context, id int64, next policy.Policy) error {
	cur, err := c.Policy(ctx, id)
	if err != nil {
		return err
	}
	short := Shortened(cur.Retention, next.Retention)
	if len(short) == 0 {
		return nil
	}
	what := fmt.Sprintf("shortening the retention of policy %q (%v)", cur.Name, short)
	if err := c.refuseImmutable(what); err != nil {
		return err
	}
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{PolicyID: id, Limit: 1, NoPointTimes: true})
	if err != nil || len(items) == 0 {
		return err
	}
	return c.needApproval(ctx, what)
}

// guardPolicyChange guards moving an item to a policy that keeps points
// for less time than its own.
func (c *Coordinator) guardPolicyChange(ctx context.Context, it db.Item, policyID int64) error {
	if it.PolicyID == nil || *it.PolicyID == policyID {
		return nil
	}
	cur, err := c.Policy(ctx, *it.PolicyID)
	if err != nil {
		return nil // the old policy is gone: nothing to compare
	}
	next, err := c.Policy(ctx, policyID)
	if err != nil {
		return nil // ChangePolicy names the missing policy
	}
	short := Shortened(cur.Retention, next.Retention)
	if len(short) == 0 {
		return nil
	}
	what := fmt.Sprintf("moving %s to policy %q of shorter retention (%v)", it.DatabaseName, next.Name, short)
	if err := c.refuseImmutable(what); err != nil {
		return err
	}
	return c.needApproval(ctx, what)
}

// guardRemoveServer guards removing a server that still holds data.
func (c *Coordinator) guardRemoveServer(ctx context.Context, points int) error {
	if points == 0 {
		return nil
	}
	if err := c.refuseImmutable("removing a server with its backup data"); err != nil {
		return err
	}
	return c.needApproval(ctx, "removing a server with its backup data")
}

// Shortened names the retention fields next keeps for less time than
// cur (a tier turned off counts as shorter).
func Shortened(cur, next policy.Retention) []string {
	var out []string
	for _, f := range []struct {
		name      string
		cur, next int
	}{
		{"daily_days", cur.DailyDays, next.DailyDays},
		{"weekly_weeks", cur.WeeklyWeeks, next.WeeklyWeeks},
		{"monthly_months", cur.MonthlyMonths, next.MonthlyMonths},
		{"yearly_years", cur.YearlyYears, next.YearlyYears},
		{"differential_days", cur.DifferentialDays, next.DifferentialDays},
		{"log_days", cur.LogDays, next.LogDays},
	} {
		if f.next < f.cur {
			out = append(out, f.name)
		}
	}
	return out
}

// Storage says what keeps the vault and whether it enforces write-once.
func (c *Coordinator) Storage() (kind string, enforcesWriteOnce bool) { return c.cfg.Vault.Storage() }
