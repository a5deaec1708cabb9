package web

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
