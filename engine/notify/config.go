// Package notify tells people about alerts, failed jobs and the day's
// backups through their channels: email (SMTP), Microsoft Teams and Slack
// incoming webhooks and a generic JSON webhook. Messages wait in the
// catalog's outbox and are retried with backoff until delivered.
package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sqlvault/sqlvault/engine"
)

// Webhook formats.
const (
	FormatGeneric = "generic" // sqlvault's own JSON: {"alert", "action", "source"}
	FormatTeams   = "teams"   // a Teams incoming webhook or Workflows trigger: an Adaptive Card
	FormatSlack   = "slack"   // a Slack incoming webhook: {"text", "blocks"}
	formatEmail   = "email"
)

// SMTP transport security.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, usually port 465)
	TLSNone     = "none"     // no encryption: only for a relay on a trusted network
)

// Channel names used by rules and delivery records.
const (
	ChannelEmail = "email"
	ChannelCLI   = "cli" // the --alert-webhook of the command line
)

// Config is the notification settings. Secrets are write-only: the
// password is taken on save and never returned (PasswordSet says whether
// one is stored).
type Config struct {
	Email    *Email    `json:"email,omitempty"`
	Webhooks []Webhook `json:"webhooks"`
	Rules    []Rule    `json:"rules"`
}

// Email is the SMTP channel.
type Email struct {
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	TLS         string   `json:"tls"`
	Username    string   `json:"username,omitempty"`
	Password    *string  `json:"password,omitempty"` // write-only; absent keeps the stored one
	PasswordSet bool     `json:"password_set"`
	From        string   `json:"from"`
	To          []string `json:"to"`
}

// Webhook is one incoming-webhook channel.
type Webhook struct {
	URL    string `json:"url"`
	Format string `json:"format"`
}

// Rule says what a channel receives. A channel without a rule receives
// every new alert; with rules, an alert goes if any rule matches it.
type Rule struct {
	Channel      string   `json:"channel"`              // email, webhook:N (1-based), cli
	Codes        []string `json:"codes,omitempty"`      // alert codes; empty: any
	Severities   []string `json:"severities,omitempty"` // critical, error, warning; empty: any
	JobFailures  bool     `json:"job_failures"`         // alerts of failed jobs (else only other alerts)
	DailySummary bool     `json:"daily_summary"`        // a summary of the last day, once a day
}

// Severities an alert can have.
var Severities = []string{"critical", "error", "warning"}

// WebhookChannel names the i-th (0-based) webhook.
func WebhookChannel(i int) string { return "webhook:" + strconv.Itoa(i+1) }

func invalid(field, format string, args ...any) error {
	return engine.Errorf(engine.CodeInvalidRequest, "notifications.%s: %s", field, fmt.Sprintf(format, args...))
}

// Validate checks the configuration as a person typed it.
func (c Config) Validate() error {
	if e := c.Email; e != nil {
		if err := e.validate(); err != nil {
			return err
		}
	}
	for i, w := range c.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return invalid(fmt.Sprintf("webhooks[%d].url", i), "an http(s) URL, e.g. https://hooks.slack.com/services/...")
		}
		if !slices.Contains([]string{FormatGeneric, FormatTeams, FormatSlack}, w.Format) {
			return invalid(fmt.Sprintf("webhooks[%d].format", i), "generic, teams or slack")
		}
	}
	for i, r := range c.Rules {
		if !c.hasChannel(r.Channel) && r.Channel != ChannelCLI {
			return invalid(fmt.Sprintf("rules[%d].channel", i), "%q is not a configured channel (email, webhook:1 ... webhook:%d, cli)", r.Channel, len(c.Webhooks))
		}
		for _, s := range r.Severities {
			if !slices.Contains(Severities, s) {
				return invalid(fmt.Sprintf("rules[%d].severities", i), "%q is not one of %s", s, strings.Join(Severities, ", "))
			}
		}
	}
	return nil
}

func (e Email) validate() error {
	if strings.TrimSpace(e.Host) == "" {
		return invalid("email.host", "the SMTP server's host name")
	}
	if e.Port < 1 || e.Port > 65535 {
		return invalid("email.port", "a port from 1 to 65535 (587 for STARTTLS, 465 for TLS)")
	}
	if !slices.Contains([]string{TLSStartTLS, TLSImplicit, TLSNone}, e.TLS) {
		return invalid("email.tls", "starttls, tls or none")
	}
	if e.TLS == TLSNone && e.Username != "" {
		return invalid("email.tls", "starttls or tls when a username is set: over a plain connection the password could be read on the way")
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		return invalid("email.from", "an address such as sqlvault@example.com")
	}
	if len(e.To) == 0 {
		return invalid("email.to", "at least one recipient")
	}
	for _, to := range e.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return invalid("email.to", "%q is not an address", to)
		}
	}
	return nil
}

func (c Config) hasChannel(name string) bool {
	if name == ChannelEmail {
		return c.Email != nil
	}
	for i := range c.Webhooks {
		if name == WebhookChannel(i) {
			return true
		}
	}
	return false
}

// rulesOf are the rules of one channel.
func (c Config) rulesOf(channel string) []Rule {
	var out []Rule
	for _, r := range c.Rules {
		if r.Channel == channel {
			out = append(out, r)
		}
	}
	return out
}

// wants says whether a channel receives an alert; job says the alert is
// about a failed job. A rule takes job alerts only with JobFailures, and
// other alerts only when it names codes or severities, so a summary-only
// rule sends no alerts.
func wants(rules []Rule, code, severity string, job bool) bool {
	if len(rules) == 0 {
		return true
	}
	for _, r := range rules {
		narrowed := len(r.Codes) > 0 || len(r.Severities) > 0
		if job && !r.JobFailures || !job && !narrowed {
			continue
		}
		if (len(r.Codes) == 0 || slices.Contains(r.Codes, code)) && (len(r.Severities) == 0 || slices.Contains(r.Severities, severity)) {
			return true
		}
	}
	return false
}

// wantsSummary says whether a channel receives the daily summary.
func wantsSummary(rules []Rule) bool {
	return slices.ContainsFunc(rules, func(r Rule) bool { return r.DailySummary })
}
