package web

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/sqlsim"
)

// newBrowser starts headless Chromium, or skips when it is not installed
// (.ci/run installs it).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed; .ci/run installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestBrowserSignInAndBoostedNavigation signs in through the form and walks
// the navigation; a marker set on window survives, which proves htmx swapped
// the pages in place instead of reloading them.
func TestBrowserSignInAndBoostedNavigation(t *testing.T) {
	ts := newTestServer(t)
	ctx := newBrowser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "rita"),
		chromedp.SendKeys(`#password`, "rita-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`nav.side`),
	)
	if err != nil {
		t.Fatal(err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main h1`)))
	if err != nil || heading != "Overview" {
		t.Fatalf("after sign-in the page is %q (%v), want Overview", heading, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__kept = "still here"`)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Jobs", "Protected servers", "Backup items", "Policies", "Restore", "Alerts"} {
		err := chromedp.Do(ctx,
			chromedp.Click(`//nav//a[normalize-space(.)="`+n+`"]`),
			chromedp.WaitVisible(`//main/h1[normalize-space(.)="`+n+`"]`),
		)
		if err != nil {
			t.Fatalf("navigate to %s: %v", n, err)
		}
		marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__kept || ""`))
		if err != nil || marker != "still here" {
			t.Fatalf("navigating to %s reloaded the page (htmx boost not active): %q %v", n, marker, err)
		}
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(url, "/alerts") {
		t.Fatalf("address bar shows %s, want /alerts (history pushed)", url)
	}
}

// shots is where page screenshots go: docs/screenshots with
// SQLVAULT_SCREENSHOTS=1 (to refresh the README's), else a temp dir.
func shots(t *testing.T) string {
	if os.Getenv("SQLVAULT_SCREENSHOTS") == "1" {
		dir, _ := filepath.Abs("../docs/screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func screenshot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// waitFor polls a JavaScript condition until it holds or the test's
// browser deadline passes.
func waitFor(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
}

func sqlExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

type css = chromedp.CSS

// clear empties an input, so that typing replaces its value.
func clear(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(() => { const e = document.querySelector('`+sel+`'); if (!e) return false; e.value = ''; return true })()`)
}

// TestBrowserUserJourney walks the portal as an administrator would, with
// a real coordinator, vault, device and a simulated SQL Server: register
// the instance through the form (a wrong password is shown by its field),
// rediscover, create a policy (its schedule described live, a bad field
// shown by the field), protect the database, back up the log with Backup
// now and watch the progress bar finish, and restore to a second in time
// through the wizard under a new name. Then SQL Server itself is asked
// what the restored database holds: exactly the rows committed by then.
func TestBrowserUserJourney(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t, sqlsim.Login{Name: "backup_op", Password: "Op-Passw0rd!"})
	port := strconv.Itoa(sim.Port())
	dsn := "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:" + port + "?encrypt=disable"
	sqlExec(t, dsn, "CREATE DATABASE Sales", "USE Sales; CREATE TABLE t (id int, at datetime2)",
		"INSERT INTO Sales.dbo.t VALUES (1, SYSUTCDATETIME()), (2, SYSUTCDATETIME()), (3, SYSUTCDATETIME())")
	dir := shots(t)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx); err != nil { // start the browser on the long-lived context
		t.Fatal(err)
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.querySelector('main') ? document.querySelector('main').innerText : document.documentElement.outerHTML)`))
			t.Fatalf("%s: %v\nthe page shows:\n%.3000s", step, err, html)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	do("sign in", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`#username`)),
		chromedp.SendKeys(css(`#username`), "admin"),
		chromedp.SendKeys(css(`#password`), "admin-pw"),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`#register`)),
	)

	// A wrong password is shown next to the password field.
	do("register with a wrong password",
		chromedp.SendKeys(css(`#f-host`), "127.0.0.1"),
		chromedp.SetValue(css(`#f-port`), port),
		chromedp.SendKeys(css(`#f-name`), "SQLPROD01"),
		chromedp.SendKeys(css(`#f-username`), "sa"),
		chromedp.SendKeys(css(`#f-password`), "wrong"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#err-password`)),
	)
	if msg := text(`#err-password`); !strings.Contains(strings.ToLower(msg), "login") {
		t.Fatalf("password field message = %q", msg)
	}
	do("register", chromedp.SendKeys(css(`#f-password`), "Sa-Passw0rd!"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#server-1`)),
	)
	// A second instance whose login lacks sysadmin: registered, with the
	// permission script offered and an alert raised.
	do("register without sysadmin",
		chromedp.SendKeys(css(`#f-host`), "127.0.0.1"),
		chromedp.SetValue(css(`#f-port`), port),
		chromedp.SendKeys(css(`#f-name`), "SQLPROD02"),
		chromedp.SendKeys(css(`#f-username`), "backup_op"),
		chromedp.SendKeys(css(`#f-password`), "Op-Passw0rd!"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#server-2 a[href="/api/v1/servers/2/permission-script"]`)),
	)

	// Rediscover shows the job in place and then refreshes the list.
	do("rediscover",
		chromedp.Click(css(`#server-1 form button[type=submit]`)),
		chromedp.WaitVisible(css(`#rediscover-1 .jobprog[data-status=completed]`)),
		chromedp.WaitVisible(css(`#dbs-1 tr[data-db="Sales"]`)),
		screenshot(dir, "servers"),
	)

	// A policy: the description follows the fields; a bad time is refused
	// by its field.
	do("new policy", chromedp.Navigate(ts.URL+"/policies/new"),
		chromedp.WaitVisible(css(`#f-name`)),
		chromedp.SendKeys(css(`#f-name`), "Hourly logs"),
		clear(`#f-log-every-minutes`),
		chromedp.SendKeys(css(`#f-log-every-minutes`), "30"),
		waitFor(`document.querySelector('#policy-desc').textContent.includes('logs every 30 minutes')`),
		clear(`#f-full-time`),
		chromedp.SendKeys(css(`#f-full-time`), "25:00"),
		waitFor(`document.querySelector('#policy-desc').textContent.includes('full.time')`),
		screenshot(dir, "policy-form"),
		chromedp.Click(css(`main form button[type=submit]`)),
		chromedp.WaitVisible(css(`#err-full-time`)),
		clear(`#f-full-time`),
		chromedp.SendKeys(css(`#f-full-time`), "23:30"),
		chromedp.Click(css(`main form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//td/a[normalize-space(.)="Hourly logs"]`)),
		screenshot(dir, "policies"),
	)

	// Protect: the item page shows the first full backup until it lands.
	do("protect", chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`#dbs-1 tr[data-db="Sales"] button`)),
		chromedp.Click(css(`#dbs-1 tr[data-db="Sales"] button`)),
		chromedp.WaitVisible(css(`#item-summary`)),
		waitFor(`document.querySelector('[data-testid=latest]').textContent.trim() !== '—'`),
	)
	// Rows committed after the full and before T are in the restore; those
	// after T are not.
	sqlExec(t, dsn, "INSERT INTO Sales.dbo.t VALUES (4, SYSUTCDATETIME()), (5, SYSUTCDATETIME())")
	at := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at.Add(150 * time.Millisecond))) // let the clock pass T before the next commit
	sqlExec(t, dsn, "INSERT INTO Sales.dbo.t VALUES (6, SYSUTCDATETIME()), (7, SYSUTCDATETIME())")

	do("backup now", chromedp.SetValue(css(`#bn-type`), "log"),
		chromedp.Click(css(`#bn-type ~ p button`)),
		waitFor(`(document.querySelector('#item-job .jobprog[data-status=completed]')?.textContent || '').includes('backup (log)')`),
	)
	if v, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`#item-job [role=progressbar]`), "aria-valuenow")); err != nil || v.Value != "100" {
		t.Fatalf("progress bar at %q (%v) after completion, want 100", v.Value, err)
	}
	do("item page", waitFor(`document.querySelector('#item-summary').textContent.includes('Last log') && !document.querySelector('#item-summary').textContent.match(/Last log\s*—/)`),
		screenshot(dir, "item"))

	// The wizard: a time outside the ranges is refused inline; one inside
	// shows the plan; the target is a new name.
	atText := at.Format("2006-01-02 15:04:05")
	do("restore wizard", chromedp.Click(chromedp.Search(`//a[normalize-space(.)="Restore…"]`)),
		chromedp.WaitVisible(css(`#r-at`)),
		clear(`#r-at`),
		chromedp.SendKeys(css(`#r-at`), "2001-01-01 00:00:00"),
		waitFor(`document.querySelector('#restore-plan').textContent.includes('UserErrorPointInTimeNotCovered')`),
		clear(`#r-at`),
		chromedp.SendKeys(css(`#r-at`), atText),
		waitFor(`document.querySelector('#restore-plan').textContent.includes('stopping at `+atText+`')`),
		clear(`#r-name`),
		chromedp.SendKeys(css(`#r-name`), "Sales_at_T"),
		screenshot(dir, "restore"),
		chromedp.Click(css(`#restore-form > p > button`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space(.)="Start restore"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Start restore"]`)),
		chromedp.WaitVisible(css(`#job-detail[data-status=completed]`)),
		screenshot(dir, "job"),
	)

	conn, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n, top int
	if err := conn.QueryRow("SELECT count(*), max(id) FROM Sales_at_T.dbo.t").Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	if n != 5 || top != 5 {
		t.Fatalf("restored to %s: %d rows up to id %d, want 5 rows (ids 1-5)", atText, n, top)
	}

	// The remaining pages, for the record.
	for _, p := range []struct{ path, name, ready string }{
		{"/", "overview", `svg.chart`},
		{"/items", "items", `main table`},
		{"/jobs", "jobs", `#jobs-table table`},
		{"/alerts", "alerts", `ul.alerts`},
	} {
		do(p.name, chromedp.Navigate(ts.URL+p.path), chromedp.WaitVisible(css(p.ready)), screenshot(dir, p.name))
	}
	do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(css(`svg.chart`)),
		screenshot(dir, "overview-phone"))
}
