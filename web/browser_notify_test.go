package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/notify/notifytest"
)

// TestBrowserModifyPolicyUnregisterAndNotify walks issue 20's admin tasks
// in the portal: deleting a policy in use is refused with a link to its
// items, where both are moved in bulk to a policy of shorter retention
// (the confirmation says existing points keep their expiry and which
// retention shortens); one item is moved back from its own page; the
// Settings page saves an SMTP server and a Slack webhook beside
// --alert-webhook, and Test reaches the local SMTP sink and both webhooks,
// each listed as sent; Unregister is refused while the server protects
// databases, saying how to get out, and works once their data is deleted.
func TestBrowserModifyPolicyUnregisterAndNotify(t *testing.T) {
	sink := notifytest.StartSink(t, notifytest.SinkOptions{})
	slack, cli := notifytest.StartHook(t, 0), notifytest.StartHook(t, 0)
	ts := newServerWithWebhook(t, cli.URL)
	admin := ts.client(t, db.RoleAdmin)
	sim := ts.startSim(t)
	simExec(t, saDB(t, sim), "CREATE DATABASE [Sales]", "CREATE DATABASE [HR]")
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": sim.Port(),
		"username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	admin.mustComplete(reg.num("discovery_job_id"))
	long := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Long")), 201).num("id")
	shortP := goodPolicy("Short")
	shortP["retention"] = map[string]any{"daily_days": 7, "log_days": 7}
	short := admin.want(admin.do("POST", "/api/v1/policies", shortP), 201).num("id")
	dbs := admin.do("GET", "/api/v1/databases", nil).list("databases")
	var items []int64
	for _, name := range []string{"Sales", "HR"} {
		it := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(find(t, dbs, "name", name), "id"), "policy_id": long}), 201)
		admin.mustComplete(it.num("job_id"))
		items = append(items, it.num("id"))
	}
	policyOf := func(id int64) int64 {
		return admin.want(admin.do("GET", fmt.Sprintf("/api/v1/items/%d", id), nil), 200).num("policy_id")
	}

	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// hx-confirm asks through window.confirm: the person says yes.
	confirmYes := chromedp.Evaluate[any](`window.confirm = () => true`)
	do("sign in", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(css(`#username`)), chromedp.SendKeys(css(`#username`), "admin"),
		chromedp.SendKeys(css(`#password`), "admin-pw"), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`nav.side`)))

	// Delete refused, the way out linked; bulk Modify policy from there.
	del := fmt.Sprintf(`form[action="/policies/%d/delete"]`, long)
	do("delete a policy in use", chromedp.Navigate(ts.URL+"/policies"), htmxReady(del), voidOf(confirmYes),
		chromedp.Click(css(del+` button`)), chromedp.WaitVisible(css(`#move-items a`)))
	if b := text(`.alert-box`); !strings.Contains(b, "UserErrorPolicyInUse") {
		t.Fatalf("refusal = %q", b)
	}
	do("follow the way out", chromedp.Click(css(`#move-items a`)),
		chromedp.WaitVisible(css(`input[name=item][form=bulk-policy]`)))
	for _, id := range items {
		do("tick an item", chromedp.Click(css(fmt.Sprintf(`input[name=item][value="%d"]`, id))))
	}
	do("modify policy of both", chromedp.SetValue(css(`#mp-polbulk-policy`), fmt.Sprint(short)),
		chromedp.Click(css(`button[form=bulk-policy]`)), chromedp.WaitVisible(css(`#confirm-policy`)))
	if s := text(`#existing-points`); !strings.Contains(s, "keep the expiry they were given") {
		t.Fatalf("the confirmation says %q about existing points", s)
	}
	if s := text(`#policy-change tbody`); strings.Count(s, "shorter: daily_days, log_days") != 2 {
		t.Fatalf("the confirmation does not say retention shortens for both: %q", s)
	}
	do("confirm the move", chromedp.Click(css(`#confirm-policy`)), chromedp.WaitVisible(css(`td.outcome`)))
	if s := text(`#policy-change tbody`); strings.Count(s, "moved") != 2 {
		t.Fatalf("outcomes = %q", s)
	}
	for _, id := range items {
		if got := policyOf(id); got != short {
			t.Fatalf("item %d has policy %d after the bulk move, want %d", id, got, short)
		}
	}
	do("modify policy on the item page", chromedp.Navigate(fmt.Sprintf("%s/items/%d", ts.URL, items[0])),
		chromedp.WaitVisible(css(`#mp-polpolicy-form`)), chromedp.SetValue(css(`#mp-polpolicy-form`), fmt.Sprint(long)),
		chromedp.Click(css(`button[form=policy-form]`)), chromedp.WaitVisible(css(`#confirm-policy`)),
		chromedp.Click(css(`#confirm-policy`)), chromedp.WaitVisible(css(`#mp-polpolicy-form`)))
	if got := policyOf(items[0]); got != long {
		t.Fatalf("item page move left policy %d, want %d", got, long)
	}

	// Notifications: save the channels, then Test each.
	do("fill the notification form", chromedp.Navigate(ts.URL+"/settings"), chromedp.WaitVisible(css(`#notify-form`)),
		chromedp.SendKeys(css(`#n-host`), "127.0.0.1"), clear(`#n-port`), chromedp.SendKeys(css(`#n-port`), fmt.Sprint(sink.Port)),
		chromedp.SetValue(css(`#n-tls`), "none"), chromedp.SendKeys(css(`#n-from`), "sqlvault@example.com"),
		chromedp.SendKeys(css(`#n-to`), "dba@example.com"), chromedp.SendKeys(css(`#n-wh-1`), slack.URL),
		chromedp.SetValue(css(`#n-whf-1`), "slack"), chromedp.Click(css(`#notify-form button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-rule="webhook:1"]`)))
	if s := text(`#cli-webhook`); !strings.Contains(s, cli.URL) {
		t.Fatalf("--alert-webhook not shown: %q", s)
	}
	do("test the channels", chromedp.Click(css(`#notify-test`)), chromedp.WaitVisible(css(`#notify-outcomes`)))
	if s := text(`#notify-outcomes`); strings.Count(s, "sent") != 3 || strings.Contains(s, "failed") {
		t.Fatalf("test outcomes = %q", s)
	}
	if m := <-sink.Mails; m.To[0] != "dba@example.com" || !strings.Contains(m.Data, "test message from sqlvault") {
		t.Fatalf("mail = %+v", m)
	}
	var sl struct {
		Text   string `json:"text"`
		Blocks []any  `json:"blocks"`
	}
	json.Unmarshal(<-slack.Bodies, &sl)
	if !strings.Contains(sl.Text, "test message") || len(sl.Blocks) == 0 {
		t.Fatalf("Slack body = %+v", sl)
	}
	if b := <-cli.Bodies; !strings.Contains(string(b), `"kind":"test"`) {
		t.Fatalf("--alert-webhook body = %s", b)
	}
	if s := text(`#delivery-list tbody`); strings.Count(s, "sent") != 3 {
		t.Fatalf("deliveries = %q", s)
	}

	// Unregister: refused with the way out, then done.
	unreg := fmt.Sprintf(`form[action="/servers/%d/unregister"]`, reg.num("id"))
	do("unregister while protecting", chromedp.Navigate(ts.URL+"/servers"), htmxReady(unreg), voidOf(confirmYes),
		chromedp.Click(css(unreg+` button`)), waitFor(`document.querySelector('main').innerText.includes('UserErrorConflict')`))
	if s := text(fmt.Sprintf(`#server-%d`, reg.num("id"))); !strings.Contains(s, "stop its protection first") || !strings.Contains(s, "Recommended action") {
		t.Fatalf("the card says %q", s)
	}
	for _, id := range items {
		admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", id), map[string]any{"delete_data": true}), 200)
	}
	do("unregister", chromedp.Navigate(ts.URL+"/servers"), htmxReady(unreg), voidOf(confirmYes),
		chromedp.Click(css(unreg+` button`)), chromedp.WaitNotPresent(css(unreg)))
	if l := admin.do("GET", "/api/v1/servers", nil).list("servers"); len(l) != 0 {
		t.Fatalf("servers after unregister = %v", l)
	}
}

// voidOf runs an action for its effect only.
func voidOf[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}
