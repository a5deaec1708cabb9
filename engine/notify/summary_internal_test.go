package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// TestDailySummaryOncePerDay: a channel whose rule asks for the summary
// gets one, with the day's counts, and the next only a day later; a
// channel without that rule gets none.
func TestDailySummaryOncePerDay(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Now().UTC()
	n := New(Options{DB: d, Now: func() time.Time { return now }})
	err = n.Save(ctx, Config{Webhooks: []Webhook{{URL: "http://127.0.0.1:1/a", Format: FormatSlack}, {URL: "http://127.0.0.1:1/b", Format: FormatGeneric}},
		Rules: []Rule{{Channel: "webhook:1", DailySummary: true}}})
	if err != nil {
		t.Fatal(err)
	}
	d.RaiseAlert(ctx, db.Alert{Severity: "warning", Code: "UserErrorRPOBreached", Message: "Sales is behind"})
	summaries := func() []db.Delivery {
		list, _ := d.RecentDeliveries(ctx, 10)
		var out []db.Delivery
		for _, m := range list {
			if m.Kind == KindSummary {
				out = append(out, m)
			}
		}
		return out
	}
	n.summarize(ctx)
	got := summaries()
	if len(got) != 1 || got[0].Channel != "webhook:1" || !strings.Contains(got[0].Body, "1 alerts open") {
		t.Fatalf("first summary = %+v", got)
	}
	now = now.Add(23 * time.Hour)
	n.summarize(ctx)
	if len(summaries()) != 1 {
		t.Fatal("a second summary within the day")
	}
	now = now.Add(time.Hour)
	n.summarize(ctx)
	if len(summaries()) != 2 {
		t.Fatal("no summary a day later")
	}
}
