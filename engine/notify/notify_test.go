package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/notify"
	"github.com/sqlvault/sqlvault/engine/notify/notifytest"
	"github.com/sqlvault/sqlvault/engine/secret"
)

func newNotifier(t *testing.T, o notify.Options) (*notify.Notifier, *db.DB) {
	t.Helper()
	d, err := db.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	o.DB, o.Secrets = d, box
	return notify.New(o), d
}

func wait[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("%s never arrived", what)
	}
	var zero T
	return zero
}

// TestEmailOverStartTLSWithAuth: the test message goes to an SMTP server
// that requires STARTTLS and AUTH; the password is sealed at rest and
// never handed back.
func TestEmailOverStartTLSWithAuth(t *testing.T) {
	sink := notifytest.StartSink(t, notifytest.SinkOptions{StartTLS: true, Username: "alerts", Password: "Smtp-Secret-1"})
	n, d := newNotifier(t, notify.Options{TLS: sink.Roots})
	pw := "Smtp-Secret-1"
	cfg := notify.Config{Email: &notify.Email{Host: "127.0.0.1", Port: sink.Port, TLS: notify.TLSStartTLS, Username: "alerts",
		Password: &pw, From: "sqlvault@example.com", To: []string{"dba@example.com"}}}
	if err := n.Save(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	out := n.Test(context.Background())
	if len(out) != 1 || !out[0].OK {
		t.Fatalf("test outcome = %+v", out)
	}
	m := wait(t, sink.Mails, "the test mail")
	if !m.TLS || m.User != "alerts" || m.To[0] != "dba@example.com" || !strings.Contains(m.Data, "test message from sqlvault") {
		t.Fatalf("mail = %+v", m)
	}
	stored, _ := d.NotifySettings(context.Background())
	if strings.Contains(stored.Config, pw) || len(stored.SealedSMTP) == 0 || strings.Contains(string(stored.SealedSMTP), pw) {
		t.Fatal("the SMTP password is stored in the clear")
	}
	got := n.Config()
	if got.Email.Password != nil || !got.Email.PasswordSet {
		t.Fatalf("config hands back %+v", got.Email)
	}
	// Saving again without a password keeps it; a wrong one fails the test
	// with the code and its action.
	cfg.Email.Password = nil
	if err := n.Save(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if out := n.Test(context.Background()); !out[0].OK {
		t.Fatalf("after a save without the password: %+v", out[0].Error)
	}
	wrong := "nope"
	cfg.Email.Password = &wrong
	n.Save(context.Background(), cfg)
	if out := n.Test(context.Background()); out[0].OK || out[0].Error.Code != "UserErrorNotificationDeliveryFailed" || out[0].Error.Action == "" {
		t.Fatalf("wrong password outcome = %+v", out[0])
	}
}

// TestWebhookFormatsAndRetries: a new alert reaches a Teams webhook as an
// Adaptive Card, a Slack one as text and blocks and the generic one as
// sqlvault's JSON; a receiver answering 503 twice gets it on the third
// attempt, and the outbox says so.
func TestWebhookFormatsAndRetries(t *testing.T) {
	teams, slack, generic := notifytest.StartHook(t, 0), notifytest.StartHook(t, 0), notifytest.StartHook(t, 2)
	n, d := newNotifier(t, notify.Options{Backoff: 5 * time.Millisecond, CLIWebhook: generic.URL})
	cfg := notify.Config{Webhooks: []notify.Webhook{{URL: teams.URL, Format: notify.FormatTeams}, {URL: slack.URL, Format: notify.FormatSlack}}}
	if err := n.Save(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	a, _, err := d.RaiseAlert(context.Background(), db.Alert{Severity: "critical", Code: "UserErrorLogChainBroken", Message: "Sales: the log chain is broken"})
	if err != nil {
		t.Fatal(err)
	}
	n.Alert(context.Background(), a)

	var card struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string           `json:"type"`
				Body []map[string]any `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	json.Unmarshal(wait(t, teams.Bodies, "the Teams card"), &card)
	if card.Type != "message" || len(card.Attachments) != 1 || card.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
		card.Attachments[0].Content.Type != "AdaptiveCard" || !strings.Contains(card.Attachments[0].Content.Body[1]["text"].(string), "log chain") {
		t.Fatalf("Teams payload = %+v", card)
	}
	var sl struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	json.Unmarshal(wait(t, slack.Bodies, "the Slack message"), &sl)
	if !strings.Contains(sl.Text, "UserErrorLogChainBroken") || len(sl.Blocks) < 2 {
		t.Fatalf("Slack payload = %+v", sl)
	}
	var g notify.GenericPayload
	json.Unmarshal(wait(t, generic.Bodies, "the generic webhook after two 503s"), &g)
	if g.Alert.Code != "UserErrorLogChainBroken" || g.Action == "" || g.Source != "sqlvault" || g.Kind != "alert" {
		t.Fatalf("generic payload = %+v", g)
	}
	// The outbox records the third attempt right after the hook got it.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := deliveryOf(t, n, notify.ChannelCLI)
		if m.Status == db.DeliverySent {
			if m.Attempts != 3 {
				t.Fatalf("cli delivery = %+v", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cli delivery still %+v", m)
		}
	}
}

func deliveryOf(t *testing.T, n *notify.Notifier, channel string) db.Delivery {
	list, err := n.Deliveries(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Channel == channel {
			return m
		}
	}
	t.Fatalf("no delivery to %s", channel)
	return db.Delivery{}
}

// TestRefusedWebhookFailsAtOnce: a 4xx is a refusal a retry cannot fix:
// the message is failed after one attempt, with the answer as its error.
func TestRefusedWebhookFailsAtOnce(t *testing.T) {
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	n, _ := newNotifier(t, notify.Options{Backoff: time.Millisecond, CLIWebhook: gone.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	n.Alert(context.Background(), db.Alert{Severity: "error", Code: "UserErrorInstanceUnreachable", Message: "SQL01 is unreachable"})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := deliveryOf(t, n, notify.ChannelCLI)
		if m.Status == db.DeliveryFailed {
			if m.Attempts != 1 || !strings.Contains(m.LastError, "410") {
				t.Fatalf("refused delivery = %+v", m)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused delivery still %+v", m)
		}
	}
}

// TestRules: a channel without rules takes every alert; with rules, only
// those they name; job failures only when asked; a summary-only rule no alert.
func TestRules(t *testing.T) {
	hook := notifytest.StartHook(t, 0)
	n, _ := newNotifier(t, notify.Options{})
	err := n.Save(context.Background(), notify.Config{
		Webhooks: []notify.Webhook{{URL: hook.URL, Format: notify.FormatGeneric}, {URL: hook.URL + "/all", Format: notify.FormatGeneric}, {URL: hook.URL + "/sum", Format: notify.FormatGeneric}},
		Rules: []notify.Rule{{Channel: "webhook:1", Severities: []string{"critical"}}, {Channel: "webhook:1", Codes: []string{"UserErrorBackupFailed"}, JobFailures: true},
			{Channel: "webhook:3", DailySummary: true}}})
	if err != nil {
		t.Fatal(err)
	}
	job := int64(7)
	for _, tc := range []struct {
		a    db.Alert
		want []string
	}{
		{db.Alert{Severity: "critical", Code: "UserErrorRPOBreached"}, []string{"webhook:1", "webhook:2"}},
		{db.Alert{Severity: "warning", Code: "UserErrorRPOBreached"}, []string{"webhook:2"}},
		{db.Alert{Severity: "error", Code: "UserErrorBackupFailed", JobID: &job}, []string{"webhook:1", "webhook:2"}},
		{db.Alert{Severity: "critical", Code: "UserErrorRestoreFailed", JobID: &job}, []string{"webhook:2"}},
	} {
		if got := n.Channels(tc.a); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s %s job=%v goes to %v, want %v", tc.a.Severity, tc.a.Code, tc.a.JobID != nil, got, tc.want)
		}
	}
	if err := n.Save(context.Background(), notify.Config{Rules: []notify.Rule{{Channel: "webhook:4"}}}); err == nil || !strings.Contains(err.Error(), "rules[0].channel") {
		t.Fatalf("a rule for a missing channel: %v", err)
	}
	if err := n.Save(context.Background(), notify.Config{Email: &notify.Email{Host: "mail", Port: 587, TLS: "ssl", From: "a@b.c", To: []string{"d@e.f"}}}); err == nil ||
		!strings.Contains(err.Error(), "email.tls") {
		t.Fatalf("a bad TLS mode: %v", err)
	}
}
