package handlers

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/notify"
	"github.com/sqlvault/sqlvault/templates"
)

// notifyView is the Notifications section, for admins only: it shows
// webhook URLs, which carry their tokens.
func (h *Handlers) notifyView(c echo.Context, outcomes []notify.Outcome) (*templates.NotifyView, error) {
	if p, _ := PrincipalOf(c); p.Role != db.RoleAdmin {
		return nil, nil
	}
	n := h.Coord.Notifier()
	list, err := n.Deliveries(c.Request().Context(), 20)
	if err != nil {
		return nil, err
	}
	return &templates.NotifyView{Config: n.Config(), CLIWebhook: n.CLIWebhook(), Deliveries: list, Outcomes: outcomes}, nil
}

// SaveNotifications handles the Notifications form.
func (h *Handlers) SaveNotifications(c echo.Context) error {
	cfg, err := notifyForm(c)
	if err == nil {
		err = h.Coord.Notifier().Save(c.Request().Context(), cfg)
	}
	if err != nil {
		return h.renderSettings(c, statusFor(err), "", err)
	}
	return h.renderSettings(c, http.StatusOK, "Notifications saved.", nil)
}

// TestNotifications is the Test button: every channel gets a message now.
func (h *Handlers) TestNotifications(c echo.Context) error {
	out := h.Coord.Notifier().Test(c.Request().Context())
	ok := 0
	for _, o := range out {
		if o.OK {
			ok++
		}
	}
	msg := fmt.Sprintf("Test message sent to %d of %d channels.", ok, len(out))
	if len(out) == 0 {
		msg = "No channel is configured: add an email server or a webhook first."
	}
	pushURL(c, "/settings#notifications")
	return h.renderSettingsWith(c, http.StatusOK, msg, nil, out)
}

// notifyForm reads the form into a configuration: the form edits one
// rule per channel.
func notifyForm(c echo.Context) (notify.Config, error) {
	var cfg notify.Config
	if host := strings.TrimSpace(c.FormValue("email_host")); host != "" {
		port, err := strconv.Atoi(strings.TrimSpace(c.FormValue("email_port")))
		if err != nil {
			return cfg, invalidField("notifications.email.port", "a port from 1 to 65535")
		}
		e := &notify.Email{Host: host, Port: port, TLS: c.FormValue("email_tls"), Username: strings.TrimSpace(c.FormValue("email_username")),
			From: strings.TrimSpace(c.FormValue("email_from")), To: splitList(c.FormValue("email_to"))}
		if pw := c.FormValue("email_password"); pw != "" {
			e.Password = &pw // empty keeps the stored one
		}
		cfg.Email = e
	}
	form, _ := c.FormParams()
	// Rule fields are named after the channels as the page showed them; a
	// webhook emptied out renumbers the ones after it.
	shown := map[string]string{notify.ChannelEmail: notify.ChannelEmail, notify.ChannelCLI: notify.ChannelCLI}
	urls, formats := form["webhook_url"], form["webhook_format"]
	for i, u := range urls {
		if u = strings.TrimSpace(u); u != "" && i < len(formats) {
			shown[notify.WebhookChannel(i)] = notify.WebhookChannel(len(cfg.Webhooks))
			cfg.Webhooks = append(cfg.Webhooks, notify.Webhook{URL: u, Format: formats[i]})
		}
	}
	for _, from := range slices.Sorted(maps.Keys(shown)) {
		if r, ok := ruleForm(form, from); ok {
			r.Channel = shown[from]
			cfg.Rules = append(cfg.Rules, r)
		}
	}
	return cfg, nil
}

// ruleForm is a channel's rule from the form; "every alert" without a
// daily summary is no rule at all.
func ruleForm(form map[string][]string, ch string) (notify.Rule, bool) {
	get := func(k string) []string { return form["rule_"+ch+"_"+k] }
	mode := get("mode")
	if len(mode) == 0 {
		return notify.Rule{}, false
	}
	summary := len(get("summary")) > 0
	r := notify.Rule{Channel: ch, DailySummary: summary}
	if mode[0] != "filter" {
		if !summary {
			return r, false
		}
		r.Severities, r.JobFailures = notify.Severities, true
		return r, true
	}
	r.Severities, r.JobFailures = get("severity"), len(get("jobs")) > 0
	if codes := get("codes"); len(codes) > 0 {
		r.Codes = splitList(codes[0])
	}
	return r, true
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}
