package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserMUAApproval: with multi-user authorization on, admin's stop
// with delete data waits as a request; a second admin signs in, finds it
// on the Vault settings page and approves it, and the item's points are
// then soft-deleted and listed there with Undelete.
func TestBrowserMUAApproval(t *testing.T) {
	ts := newTestServer(t)
	dir := shots(t)
	admin := adminToken(t, ts, "admin", "a1")
	adminToken(t, ts, "bea", "b1")
	itemID, _, _ := protected(t, ts, admin)
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": true}), 200)
	req := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", itemID), map[string]any{"delete_data": true}), 202, "UserErrorApprovalRequired")
	id := req.num("approval_id")

	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	do("sign in as bea", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(css(`#username`)),
		chromedp.SendKeys(css(`#username`), "bea"),
		chromedp.SendKeys(css(`#password`), "bea-pw"),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`nav.side`)),
	)
	row := fmt.Sprintf(`#approval-list tr[data-approval="%d"]`, id)
	do("open vault settings", navBoosted,
		chromedp.Click(`//nav//a[normalize-space(.)="Vault settings"]`),
		chromedp.WaitVisible(css(row+` button`)),
		htmxReady(row+` form`),
		screenshot(dir, "approvals"),
	)
	do("approve",
		chromedp.Click(css(row+` form[action$="/approve"] button`)),
		chromedp.WaitVisible(css(`.notice`)),
		chromedp.WaitVisible(css(`#deleted-points tr[data-point]`)),
		screenshot(dir, "approved"),
	)
	notice, err := chromedp.Run(ctx, chromedp.Text(css(`.notice`)))
	if err != nil || !strings.Contains(notice, "approved (completed)") {
		t.Fatalf("notice = %q, %v", notice, err)
	}
	if l := admin.points(itemID, false); len(l) != 0 {
		t.Fatalf("live points after approval: %v", l)
	}
}
