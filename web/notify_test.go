package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/notify/notifytest"
	"github.com/sqlvault/sqlvault/handlers"
)

// newServerWithWebhook is newTestServer started with --alert-webhook.
func newServerWithWebhook(t *testing.T, hook string) *testServer {
	t.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	for _, u := range []struct {
		name string
		role db.Role
	}{{"admin", db.RoleAdmin}, {"rita", db.RoleReader}} {
		hash, _ := auth.HashPassword(u.name + "-pw")
		if _, err := catalog.CreateUser(ctx, u.name, hash, u.role); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := enginetest.Start(t)
	coord := env.Coordinator(catalog, func(c *coordinator.Config) { c.Logger, c.Webhook = log, hook })
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}
	srv := New(Config{Handlers: h, DB: catalog, Logger: log})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, db: catalog, env: env, coord: coord, srv: srv}
}

// TestNotificationSettingsAPI: an admin saves email (with a password),
// a Teams webhook and a rule through PUT /settings; the password never
// comes back, readers see no notifications at all, a bad format is
// refused by its field, and the test route sends to the SMTP sink, the
// Teams webhook and --alert-webhook, answering each one's outcome.
func TestNotificationSettingsAPI(t *testing.T) {
	sink := notifytest.StartSink(t, notifytest.SinkOptions{})
	teams, cli := notifytest.StartHook(t, 0), notifytest.StartHook(t, 0)
	ts := newServerWithWebhook(t, cli.URL)
	admin, reader := ts.client(t, db.RoleAdmin), ts.client(t, db.RoleReader)
	before := admin.want(admin.do("GET", "/api/v1/settings", nil), 200)
	if n, _ := before.m["notifications"].(map[string]any); n == nil || n["cli_webhook"] != cli.URL {
		t.Fatalf("--alert-webhook not shown: %s", before)
	}
	body := map[string]any{"notifications": map[string]any{
		"email": map[string]any{"host": "127.0.0.1", "port": sink.Port, "tls": "none", "password": "Smtp-Secret-1",
			"from": "sqlvault@example.com", "to": []string{"dba@example.com"}},
		"webhooks": []map[string]any{{"url": teams.URL, "format": "teams"}},
		"rules":    []map[string]any{{"channel": "webhook:1", "severities": []string{"critical"}, "job_failures": true}},
	}}
	saved := admin.want(admin.do("PUT", "/api/v1/settings", body), 200)
	if strings.Contains(string(saved.raw), "Smtp-Secret-1") || !strings.Contains(string(saved.raw), `"password_set":true`) {
		t.Fatalf("PUT answer = %s", saved)
	}
	if saved.num("soft_delete_days") != before.num("soft_delete_days") || saved.str("immutability") != before.str("immutability") {
		t.Fatalf("a notifications-only PUT changed the vault settings: %s", saved)
	}
	// Sending back what GET answered keeps the password.
	var round map[string]any
	json.Unmarshal(admin.want(admin.do("GET", "/api/v1/settings", nil), 200).raw, &round)
	admin.want(admin.do("PUT", "/api/v1/settings", round), 200)
	if r := reader.want(reader.do("GET", "/api/v1/settings", nil), 200); r.m["notifications"] != nil {
		t.Fatalf("a reader sees the notification settings: %s", r)
	}
	for field, n := range map[string]any{
		"webhooks[0].format": map[string]any{"webhooks": []map[string]any{{"url": teams.URL, "format": "discord"}}},
		"email.tls": map[string]any{"email": map[string]any{"host": "127.0.0.1", "port": 25, "tls": "none", "username": "alerts",
			"from": "sqlvault@example.com", "to": []string{"dba@example.com"}}},
	} {
		r := admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"notifications": n}), 422, "UserErrorInvalidRequest")
		if !strings.Contains(r.str("message"), field) {
			t.Fatalf("answer = %s, want the field %s", r, field)
		}
	}

	out := admin.want(admin.do("POST", "/api/v1/settings/notifications/test", nil), 200)
	got := map[string]bool{}
	for _, o := range out.list("channels") {
		m := o.(map[string]any)
		got[m["channel"].(string)] = m["ok"] == true
	}
	if len(got) != 3 || !got["email"] || !got["webhook:1"] || !got["cli"] {
		t.Fatalf("test outcomes = %s", out)
	}
	if m := <-sink.Mails; m.To[0] != "dba@example.com" || !strings.Contains(m.Data, "Subject: sqlvault test message") {
		t.Fatalf("mail = %+v", m)
	}
	if b := <-teams.Bodies; !strings.Contains(string(b), "AdaptiveCard") {
		t.Fatalf("Teams body = %s", b)
	}
	var g struct {
		Kind  string `json:"kind"`
		Alert struct {
			Code string `json:"code"`
		} `json:"alert"`
	}
	json.Unmarshal(<-cli.Bodies, &g)
	if g.Kind != "test" || g.Alert.Code != "NotificationTest" {
		t.Fatalf("--alert-webhook body = %+v", g)
	}
}
