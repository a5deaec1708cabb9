package web

import (
	"context"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestBrowserVerifyNow walks the verification panels as an operator: the
// item page shows its point never verified; Verify now (restore and DBCC
// CHECKDB) leads to the job's page, which shows CHECKDB clean and the
// table's rows beside the rows the source had at backup time; then the
// item page (still after a newer log lands), the points table, the items
// list and the overview tile say verified.
func TestBrowserVerifyNow(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	dsn := "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:" + strconv.Itoa(sim.Port()) + "?encrypt=disable"
	sqlExec(t, dsn, "CREATE DATABASE Sales", "USE Sales; CREATE TABLE Orders (id int)", "INSERT INTO Sales.dbo.Orders VALUES (1), (2), (3)")
	ctx := context.Background()
	srv := ts.registerSim(t, sim)
	// The policy names the verification instance but schedules nothing:
	// the only verification is the one clicked.
	it := ts.protect(t, srv, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Retention: policy.Retention{DailyDays: 30}, Verify: &policy.Verify{ServerID: srv.ID}}, "Sales")[0]

	bctx := newBrowser(t)
	do := browserSteps(t, bctx)
	item := "/items/" + strconvI(it.ID)
	// The points table's last column is Verified.
	pointVerified := `[...document.querySelectorAll('section[aria-labelledby=rp-h] tbody tr td:last-child')].map(td => td.innerText.trim())`
	do("the item page: never verified", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+item),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "olga"),
		chromedp.SendKeys(`#password`, "olga-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`[data-testid=verified]`),
		waitFor(`document.querySelector('[data-testid=verified]').innerText.includes('never')`),
		waitFor(`(() => { const v = `+pointVerified+`; return v.length === 1 && v[0] === 'never' })()`))
	do("Verify now: the job page shows CHECKDB clean and the rows beside the source's",
		chromedp.SetValue(css(`#vn-level`), "checkdb"),
		chromedp.Click(`//button[normalize-space(.)="Verify now"]`),
		chromedp.WaitVisible(`[data-testid=verification]`),
		waitFor(`(() => { const v = document.querySelector('[data-testid=verification]'); return v.querySelector('.badge').innerText.trim() === 'clean' && v.innerText.includes('CHECKDB clean') })()`),
		waitFor(`(() => { const cells = [...document.querySelectorAll('[data-testid=verification] tbody tr td')].map(td => td.innerText.trim());
			return cells.join('|') === 'Orders|3|3' })()`))
	// A log lands after the verification: the panel still shows the last
	// verification, the new point is not verified, the full is.
	job, err := ts.coord.BackupNow(ctx, it.ID, "log", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, ts, job)
	do("the item page and its points: verified, CHECKDB clean, 1 table, 3 rows; the newer log never",
		chromedp.Navigate(ts.URL+item),
		chromedp.WaitVisible(`[data-testid=verified]`),
		waitFor(`(() => { const t = document.querySelector('[data-testid=verified]').innerText; return t.includes('verified') && t.includes('CHECKDB clean, 1 tables, 3 rows') })()`),
		waitFor(`(() => { const v = `+pointVerified+`; return v.length === 2 && v[0] === 'never' && v[1].startsWith('verified') && v[1].includes('CHECKDB clean, 3 rows') })()`))
	do("the items list: verified",
		chromedp.Navigate(ts.URL+"/items"),
		waitFor(`(() => { const row = [...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes('Sales'));
			return !!row && row.querySelector('a.badge') && row.querySelector('a.badge').innerText.trim() === 'verified' })()`))
	do("the overview tile: 1 of 1 items verified in the last 7 days",
		chromedp.Navigate(ts.URL+"/"),
		waitFor(`(() => { const tile = [...document.querySelectorAll('a.tile')].find(a => a.textContent.includes('Verified in the last 7 days'));
			return !!tile && tile.querySelector('.n').textContent.trim() === '1' && tile.querySelector('.l').textContent.includes('of 1 items') })()`))
}
