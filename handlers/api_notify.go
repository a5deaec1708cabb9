package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine/notify"
)

// notificationsJSON is the notification settings as the API shows and
// takes them; the password is write-only and --alert-webhook read-only.
type notificationsJSON struct {
	notify.Config
	CLIWebhook string `json:"cli_webhook,omitempty"` // --alert-webhook: the "cli" channel
}

func (h *Handlers) notificationsJSON() *notificationsJSON {
	n := h.Coord.Notifier()
	out := &notificationsJSON{Config: n.Config(), CLIWebhook: n.CLIWebhook()}
	if out.Webhooks == nil {
		out.Webhooks = []notify.Webhook{}
	}
	if out.Rules == nil {
		out.Rules = []notify.Rule{}
	}
	return out
}

// TestNotificationsAPI sends a test message to every channel now and
// answers each one's outcome: POST /settings/notifications/test.
func (h *Handlers) TestNotificationsAPI(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"channels": h.Coord.Notifier().Test(c.Request().Context())})
}
