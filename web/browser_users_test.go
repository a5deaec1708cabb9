package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserUsersTokensAndAudit: an admin adds a user through the form
// (a weak password is shown by its field), makes a token (its text shown
// once, and it works against the API), and finds both, and the sign-in,
// on the audit page.
func TestBrowserUsersTokensAndAudit(t *testing.T) {
	ts := newTestServer(t)
	dir := shots(t)
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	do("sign in", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(css(`#username`)),
		chromedp.SendKeys(css(`#username`), "admin"),
		chromedp.SendKeys(css(`#password`), "admin-pw"),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`nav.side`)),
	)
	do("open users", navBoosted,
		chromedp.Click(`//nav//a[normalize-space(.)="Users"]`),
		chromedp.WaitVisible(css(`#add-user`)),
		htmxReady(`#add-user`),
	)
	do("add a user with a weak password",
		chromedp.SendKeys(css(`#f-username`), "dora"),
		chromedp.SendKeys(css(`#f-password`), "Password2024!"),
		chromedp.SetValue(css(`#f-role`), "operator"),
		chromedp.Click(css(`#add-user button[type=submit]`)),
		chromedp.WaitVisible(css(`#err-password`)),
	)
	if msg := text(`#err-password`); !strings.Contains(msg, "common") {
		t.Fatalf("password field message = %q", msg)
	}
	do("add the user",
		htmxReady(`#add-user`),
		clear(`#f-password`),
		chromedp.SendKeys(css(`#f-password`), "a long and quiet river"),
		chromedp.SetValue(css(`#f-role`), "operator"),
		chromedp.Click(css(`#add-user button[type=submit]`)),
		chromedp.WaitVisible(`//main/h1[normalize-space(.)="User dora"]`),
		screenshot(dir, "user"),
	)
	if sub := text(`main p.sub`); !strings.Contains(sub, "operator") || !strings.Contains(sub, "enabled") {
		t.Fatalf("the new user's page says %q", sub)
	}
	if u, err := ts.db.UserByName(t.Context(), "dora"); err != nil || u.Role != "operator" {
		t.Fatalf("dora in the catalog: %+v, %v", u, err)
	}

	do("make a token", navBoosted,
		chromedp.Click(`//nav//a[normalize-space(.)="API tokens"]`),
		chromedp.WaitVisible(css(`#add-token`)),
		htmxReady(`#add-token`),
		chromedp.SendKeys(css(`#f-name`), "backup report"),
		chromedp.SetValue(css(`#t-role`), "reader"),
		chromedp.Click(css(`#add-token button[type=submit]`)),
		chromedp.WaitVisible(css(`#token-secret`)),
		chromedp.WaitVisible(css(`#tokens tr[data-token="backup report"]`)),
		screenshot(dir, "tokens"),
	)
	secret := text(`#token-secret`)
	api := &apiClient{t: t, base: ts.URL, token: secret}
	if me := api.want(api.do("GET", "/api/v1/me", nil), 200); me.str("role") != "reader" {
		t.Fatalf("the token shown works as %s", me)
	}
	do("reload the tokens", chromedp.Navigate(ts.URL+"/tokens"), chromedp.WaitVisible(css(`#tokens`)))
	if page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerHTML`)); strings.Contains(page, secret) {
		t.Fatal("the token's text is shown again")
	}

	do("audit log", navBoosted,
		chromedp.Click(`//nav//a[normalize-space(.)="Audit log"]`),
		chromedp.WaitVisible(css(`#audit tr[data-action="user.create"]`)),
		chromedp.WaitVisible(css(`#audit tr[data-action="token.create"]`)),
		chromedp.WaitVisible(css(`#audit tr[data-action="auth.sign_in"]`)),
		screenshot(dir, "audit"),
	)
	if row := text(`#audit tr[data-action="user.create"]`); !strings.Contains(row, "admin") || !strings.Contains(row, "dora") || !strings.Contains(row, "success") {
		t.Fatalf("user creation row = %q", row)
	}
	tok, _ := ts.db.TokenByName(t.Context(), "backup report")
	if row := text(`#audit tr[data-action="token.create"]`); !strings.Contains(row, "backup report") || !strings.Contains(row, "127.0.0.1") ||
		!strings.Contains(row, fmt.Sprintf("token %d", tok.ID)) {
		t.Fatalf("token creation row = %q", row)
	}
	// The weak attempt is there too, as failed.
	do("filter by action",
		chromedp.SendKeys(css(`#a-action`), "user."),
		chromedp.Click(css(`#audit-filter button[type=submit]`)),
		waitFor(`document.querySelectorAll('#audit tbody tr').length === 2`),
	)
	if rows := text(`#audit tbody`); !strings.Contains(rows, "failed") || strings.Contains(rows, "token.create") {
		t.Fatalf("user.* entries = %q", rows)
	}
}
