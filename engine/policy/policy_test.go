package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
)

// valid is a weekly full with differentials and logs that passes every rule.
func valid() Policy {
	p := Policy{
		Name:         "Gold",
		Full:         FullSchedule{Frequency: "weekly", Days: []string{"sunday"}, Time: "22:00", Timezone: "Europe/Berlin"},
		Differential: DiffSchedule{Enabled: true, Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}, Time: "22:00"},
		Log:          LogSchedule{Enabled: true, EveryMinutes: 15},
		Retention:    Retention{DailyDays: 30, WeeklyWeeks: 12, MonthlyMonths: 12, YearlyYears: 3, DifferentialDays: 30, LogDays: 15},
	}
	p.Defaults()
	return p
}

func TestValidPolicyPasses(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	daily := Policy{Name: "Daily", Log: LogSchedule{Enabled: true}}
	daily.Defaults()
	if err := daily.Validate(); err != nil {
		t.Fatalf("defaults of a daily policy: %v", err)
	}
	if daily.Log.EveryMinutes != 15 || daily.Full.Timezone != "UTC" {
		t.Fatalf("defaults = %+v", daily)
	}
}

// TestEachRule breaks one rule per row and checks the field named.
func TestEachRule(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Policy)
		field string
	}{
		{"empty name", func(p *Policy) { p.Name = " " }, "name"},
		{"bad time", func(p *Policy) { p.Full.Time = "25:00" }, "full.time"},
		{"time without minutes", func(p *Policy) { p.Full.Time = "9" }, "full.time"},
		{"unknown zone", func(p *Policy) { p.Full.Timezone = "Mars/Olympus" }, "full.timezone"},
		{"bad frequency", func(p *Policy) { p.Full.Frequency = "hourly" }, "full.frequency"},
		{"weekly without days", func(p *Policy) { p.Full.Days = nil; p.Differential.Days = []string{"monday"} }, "full.days"},
		{"daily with days", func(p *Policy) { p.Full.Frequency = "daily"; p.Differential.Enabled = false }, "full.days"},
		{"not a weekday", func(p *Policy) { p.Full.Days = []string{"funday"} }, "full.days"},
		{"day twice", func(p *Policy) { p.Full.Days = []string{"sunday", "sunday"} }, "full.days"},
		{"differential on a full day", func(p *Policy) { p.Differential.Days = append(p.Differential.Days, "sunday") }, "differential.days"},
		{"differential with daily full", func(p *Policy) { p.Full.Frequency = "daily"; p.Full.Days = nil }, "differential.enabled"},
		{"differential without days", func(p *Policy) { p.Differential.Days = nil }, "differential.days"},
		{"differential bad time", func(p *Policy) { p.Differential.Time = "noon" }, "differential.time"},
		{"log too often", func(p *Policy) { p.Log.EveryMinutes = 1 }, "log.every_minutes"},
		{"log too rare", func(p *Policy) { p.Log.EveryMinutes = 2000 }, "log.every_minutes"},
		{"log uneven", func(p *Policy) { p.Log.EveryMinutes = 7 }, "log.every_minutes"},
		{"daily retention too short", func(p *Policy) { p.Retention.DailyDays = 3 }, "retention.daily_days"},
		{"log retention too long", func(p *Policy) { p.Retention.LogDays = 40 }, "retention.log_days"},
		{"log retention shorter than the differential interval", func(p *Policy) {
			p.Differential.Days = []string{"wednesday"}
			p.Retention.LogDays = 3
		}, "retention.log_days"},
		{"log retention shorter than the gap between weekly fulls", func(p *Policy) {
			p.Differential.Enabled = false
			p.Retention.LogDays = 6
		}, "retention.log_days"},
		{"differential retention longer than fulls", func(p *Policy) { p.Retention.DailyDays = 20; p.Retention.LogDays = 10 }, "retention.differential_days"},
		{"weekly retention not longer than daily", func(p *Policy) { p.Retention.WeeklyWeeks = 2 }, "retention.weekly_weeks"},
		{"monthly retention not longer than weekly", func(p *Policy) { p.Retention.MonthlyMonths = 2 }, "retention.monthly_months"},
		{"yearly retention not longer than monthly", func(p *Policy) { p.Retention.MonthlyMonths = 24; p.Retention.YearlyYears = 1 }, "retention.yearly_years"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := valid()
			c.edit(&p)
			err := p.Validate()
			if engine.CodeOf(err) != engine.CodePolicyInvalid {
				t.Fatalf("code = %s (%v), want %s", engine.CodeOf(err), err, engine.CodePolicyInvalid)
			}
			found := false
			for _, f := range Fields(err) {
				found = found || f.Field == c.field
			}
			if !found {
				t.Fatalf("errors %v do not name %s", Fields(err), c.field)
			}
		})
	}
}

func TestDescribeAndRPO(t *testing.T) {
	got := valid().Describe()
	for _, want := range []string{"Full every Sunday at 22:00 (Europe/Berlin)", "differential every Monday, Tuesday, Wednesday, Thursday, Friday and Saturday at 22:00", "logs every 15 minutes (RPO 15 min)", "weekly 12 weeks"} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe() = %q lacks %q", got, want)
		}
	}
	p := valid()
	p.Log.Enabled = false
	if p.RPO() != 24*time.Hour {
		t.Errorf("RPO without logs = %v, want 24h", p.RPO())
	}
}

func TestScheduleInTheNamedZone(t *testing.T) {
	p := valid()
	// Sunday 22:00 in Berlin in winter is 21:00 UTC.
	after := time.Date(2026, 1, 4, 12, 0, 0, 0, time.UTC) // a Sunday
	if got := p.Next(Full, after); !got.Equal(time.Date(2026, 1, 4, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("next full = %v", got.UTC())
	}
	if got := p.Next(Differential, after.Add(12*time.Hour)); !got.Equal(time.Date(2026, 1, 5, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("next differential = %v", got.UTC())
	}
	if got := p.Next(Log, after.Add(7*time.Minute)); !got.Equal(after.Add(15 * time.Minute)) {
		t.Errorf("next log = %v", got.UTC())
	}
	p.Log.EveryMinutes = 120
	if got := p.Next(Log, after.Add(time.Minute)); !got.Equal(time.Date(2026, 1, 4, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("next 2-hourly log = %v (Berlin even hours are odd UTC hours)", got.UTC())
	}
}

func TestMissedCatchesUpOnce(t *testing.T) {
	p := valid()
	last := time.Date(2026, 1, 4, 21, 0, 0, 0, time.UTC)
	if p.Missed(Full, last, last.Add(6*24*time.Hour)) {
		t.Error("no full slot within 6 days of a Sunday full, but Missed says one was")
	}
	if !p.Missed(Full, last, last.Add(30*24*time.Hour)) {
		t.Error("four weeks down: a full was missed")
	}
}

func TestExpiryByClass(t *testing.T) {
	p := valid()
	end := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	if got := p.Expiry(Log, end, FirstOf{}); !got.Equal(end.AddDate(0, 0, 15)) {
		t.Errorf("log expiry %v", got)
	}
	if got := p.Expiry(Full, end, FirstOf{}); !got.Equal(end.AddDate(0, 0, 30)) {
		t.Errorf("plain full expiry %v", got)
	}
	if got := p.Expiry(Full, end, FirstOf{Week: true}); !got.Equal(end.AddDate(0, 0, 84)) {
		t.Errorf("weekly full expiry %v", got)
	}
	if got := p.Expiry(Full, end, FirstOf{Week: true, Month: true, Year: true}); !got.Equal(end.AddDate(3, 0, 0)) {
		t.Errorf("yearly full expiry %v", got)
	}
	prev := time.Date(2026, 2, 22, 21, 0, 0, 0, time.UTC)
	if c := p.Classify(end, prev); !c.Week || !c.Month || c.Year {
		t.Errorf("Classify(1 Mar after 22 Feb) = %+v", c)
	}
	if c := p.Classify(end.Add(time.Hour), end); c.Week || c.Month {
		t.Errorf("second full the same day = %+v", c)
	}
}
