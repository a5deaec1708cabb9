package web

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestBrowserTimelineClickAndPicker: in the restore wizard a click on the
// middle of the log range's bar fills the point-in-time field with the
// second under the pointer (from the timeline's own scale) and the plan
// stops there; the date-time picker does the same for the second it is
// given.
func TestBrowserTimelineClickAndPicker(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	dsn := "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:" + strconv.Itoa(sim.Port()) + "?encrypt=disable"
	sqlExec(t, dsn, "CREATE DATABASE Sales", "USE Sales; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1)")
	ctx := context.Background()
	it := ts.protect(t, ts.registerSim(t, sim), policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 30, LogDays: 15}}, "Sales")[0]
	time.Sleep(2 * time.Second) // a log range a few seconds wide
	sqlExec(t, dsn, "INSERT INTO Sales.dbo.t VALUES (2)")
	job, err := ts.coord.BackupNow(ctx, it.ID, "log", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, ts, job)

	bctx := newBrowser(t)
	err = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/restore?item="+strconvI(it.ID)),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "olga"),
		chromedp.SendKeys(`#password`, "olga-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`#tl-svg .tl-range`),
		htmxReady(`section[hx-post="/restore/plan"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The screen point at the middle of the range bar, and the second the
	// timeline's scale (data-t0, data-secs over x 10..790) puts there. The
	// point is a whole CSS pixel: a mouse event's clientX is one, and a
	// fractional x could round to the neighbouring second.
	type target struct {
		X, Y float64
		Want string
	}
	tg, err := chromedp.Run(bctx, chromedp.Evaluate[target](`(() => {
		const svg = document.querySelector('#tl-svg'), bar = svg.querySelector('.tl-range'), r = bar.getBoundingClientRect(), s = svg.getBoundingClientRect();
		const x = Math.round(r.left + r.width / 2), vx = (x - s.left) * 800 / s.width;
		const ms = Math.round((Number(svg.dataset.t0) + (vx - 10) / 780 * Number(svg.dataset.span)) / 1000) * 1000;
		return {X: x, Y: r.top + r.height / 2, Want: new Date(ms).toISOString().slice(0, 19).replace('T', ' ')};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(bctx, 15*time.Second)
	err = chromedp.Do(wctx, chromedp.MouseClickXY(tg.X, tg.Y),
		waitFor(`document.querySelector('#restore-plan').textContent.includes('stopping at `+tg.Want+`')`))
	cancel()
	if err != nil {
		got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#r-at').value + ' | ' + document.querySelector('#restore-plan').textContent`))
		t.Fatalf("after a click on the range at (%.0f, %.0f) the field and plan show %q, want %s and a plan stopping there: %v", tg.X, tg.Y, got, tg.Want, err)
	}
	wctx, cancel = context.WithTimeout(bctx, 5*time.Second)
	// Compared as instants: the picker writes a whole minute as HH:MM.
	err = chromedp.Do(wctx, waitFor(`new Date(document.querySelector('#r-at-pick').value + 'Z').getTime() === new Date('`+strings.Replace(tg.Want, " ", "T", 1)+`Z').getTime()`))
	cancel()
	if err != nil {
		pick, _ := chromedp.Run(bctx, chromedp.Value(css(`#r-at-pick`)))
		t.Errorf("the picker shows %q after the click, want %s", pick, tg.Want)
	}

	// The picker: the last restorable second, chosen there, lands in the field.
	ranges, _ := ts.coord.LogRanges(ctx, it.ID)
	last := ranges[len(ranges)-1].To.UTC().Format("2006-01-02 15:04:05")
	// The click's own requests may still swap the form in: each poll picks
	// the second again until the field holds it, as a user would.
	pick := strings.Replace(last, " ", "T", 1)
	wctx, cancel = context.WithTimeout(bctx, 20*time.Second)
	err = chromedp.Do(wctx, waitFor(`(() => {
		const p = document.querySelector('#r-at-pick'), f = document.querySelector('#r-at');
		if (!p || !f) return false;
		if (f.value !== '`+last+`') { // the picker's handler sets the field at once
			p.value = '`+pick+`';
			p.dispatchEvent(new Event('change', {bubbles: true}));
			return false;
		}
		return f.value === '`+last+`' && document.querySelector('#restore-plan').textContent.includes('stopping at `+last+`');
	})()`))
	cancel()
	if err != nil {
		t.Fatalf("the picker set to %s: %v", last, err)
	}
}

func waitJob(t *testing.T, ts *testServer, id int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		j, _ := ts.db.JobByID(context.Background(), id)
		if j.Status == db.JobCompleted {
			return
		}
		if j.Status == db.JobFailed || j.Status == db.JobCancelled {
			t.Fatalf("job %d %s: %s %s", id, j.Status, j.ErrorCode, j.ErrorMessage)
		}
	}
	t.Fatalf("job %d did not finish", id)
}
