package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// alertHidden raises an alert when the vault, during a job, read objects
// that a delete marker hid (vault/hidden.go): the data was intact, but
// someone with the bucket's delete permission tried to remove it.
func (c *Coordinator) alertHidden(ctx context.Context, j db.Job) {
	if c.cfg.Vault == nil {
		return
	}
	names := c.cfg.Vault.TakeHidden()
	if len(names) == 0 {
		return
	}
	shown := names[:min(len(names), 5)]
	more := ""
	if len(names) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(names)-len(shown))
	}
	msg := fmt.Sprintf("%d vault objects were hidden by delete markers and read from their retained versions during %s job %d: %s%s",
		len(names), j.Operation, j.ID, strings.Join(shown, ", "), more)
	c.log.Warn("vault objects hidden by delete markers", "job", j.ID, "objects", names)
	c.raise(ctx, db.Alert{Severity: "critical", Code: string(engine.CodeVaultObjectHidden), Message: msg, JobID: &j.ID})
}
