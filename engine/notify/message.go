package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// Message kinds.
const (
	KindAlert   = "alert"
	KindSummary = "summary"
	KindTest    = "test"
)

// Message is what a channel is told, before its format.
type Message struct {
	Kind   string
	Title  string
	Text   string
	Alert  db.Alert // for an alert; a summary or test carries a stand-in
	Action string
	Facts  [][2]string
}

// alertMessage describes a new alert.
func alertMessage(a db.Alert) Message {
	action := engine.Code(a.Code).Action()
	return Message{Kind: KindAlert, Title: fmt.Sprintf("sqlvault %s: %s", a.Severity, a.Code), Text: a.Message,
		Alert: a, Action: action, Facts: [][2]string{{"Code", a.Code}, {"Severity", a.Severity},
			{"Raised (UTC)", a.CreatedAt.UTC().Format(time.RFC3339)}, {"Action", action}}}
}

// testMessage is what the Test button sends.
func testMessage(now time.Time) Message {
	text := "This is a test message from sqlvault: this channel receives its alerts."
	return Message{Kind: KindTest, Title: "sqlvault test message", Text: text,
		Alert: db.Alert{Severity: "info", Code: "NotificationTest", Message: text, CreatedAt: now}}
}

// summaryMessage reports the last day.
func summaryMessage(s db.DaySummary, now time.Time) Message {
	text := fmt.Sprintf("In the last 24 hours: %d jobs completed, %d failed; %d alerts open.", s.JobsCompleted, s.JobsFailed, s.OpenAlerts)
	return Message{Kind: KindSummary, Title: "sqlvault daily summary", Text: text,
		Alert: db.Alert{Severity: "info", Code: "DailySummary", Message: text, CreatedAt: now},
		Facts: [][2]string{{"Jobs completed", fmt.Sprint(s.JobsCompleted)}, {"Jobs failed", fmt.Sprint(s.JobsFailed)}, {"Open alerts", fmt.Sprint(s.OpenAlerts)}}}
}

// GenericPayload is the generic webhook's JSON, as --alert-webhook has
// always sent it; Kind tells a summary or test from an alert.
type GenericPayload struct {
	Alert  db.Alert `json:"alert"`
	Action string   `json:"action"`
	Source string   `json:"source"`
	Kind   string   `json:"kind"`
}

// render is the message's body in a webhook format.
func render(format string, m Message) string {
	var v any
	switch format {
	case FormatTeams:
		v = teamsPayload(m)
	case FormatSlack:
		v = slackPayload(m)
	default:
		v = GenericPayload{Alert: m.Alert, Action: m.Action, Source: "sqlvault", Kind: m.Kind}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// teamsPayload is a message with one Adaptive Card attachment, the form
// Teams incoming webhooks and the Workflows "post to a channel when a
// webhook request is received" trigger take (msteams-docs,
// webhooks-and-connectors/how-to/add-incoming-webhook.md).
func teamsPayload(m Message) map[string]any {
	facts := []map[string]string{}
	for _, f := range m.Facts {
		facts = append(facts, map[string]string{"title": f[0], "value": f[1]})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true},
		map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true},
	}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive",
		"contentUrl":  nil,
		"content": map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
			"type": "AdaptiveCard", "version": "1.4", "body": body},
	}}}
}

// slackPayload is a Slack incoming webhook's message: text is the
// notification's fallback, blocks what the channel shows
// (api.slack.com/messaging/webhooks).
func slackPayload(m Message) map[string]any {
	var fields strings.Builder
	for _, f := range m.Facts {
		fmt.Fprintf(&fields, "*%s:* %s\n", f[0], f[1])
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": m.Title}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": m.Text}},
	}
	if fields.Len() > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": fields.String()}})
	}
	return map[string]any{"text": m.Title + ": " + m.Text, "blocks": blocks}
}

// emailBody is the message as a plain-text mail.
func emailBody(m Message) string {
	var b strings.Builder
	b.WriteString(m.Text + "\n\n")
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	b.WriteString("\n-- sqlvault\n")
	return b.String()
}
