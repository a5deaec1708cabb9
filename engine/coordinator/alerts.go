package coordinator

import (
	"context"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/notify"
)

// raise opens an alert (once per cause) and, for a new one, hands it to
// the notifier's outbox.
func (c *Coordinator) raise(ctx context.Context, a db.Alert) {
	a, opened, err := c.cfg.DB.RaiseAlert(ctx, a)
	if err != nil {
		c.log.Error("raise alert", "code", a.Code, "err", err)
		return
	}
	if opened {
		c.notifier.Alert(ctx, a)
	}
}

// WebhookPayload is what the generic alert webhook receives.
type WebhookPayload = notify.GenericPayload

// newNotifier is cfg's notifier, or one for its --alert-webhook.
func newNotifier(cfg Config) *notify.Notifier {
	if cfg.Notifier != nil {
		return cfg.Notifier
	}
	return notify.New(notify.Options{DB: cfg.DB, Secrets: cfg.Secrets, CLIWebhook: cfg.Webhook,
		Backoff: cfg.WebhookBackoff, Logger: cfg.Logger})
}

// Notifier sends notifications; the Settings page and API configure it.
func (c *Coordinator) Notifier() *notify.Notifier { return c.notifier }
