// Package policy is the backup policy: its schedule and retention, their
// validation rule by rule, the cron specs that drive the scheduler, and the
// expiry of each recovery point. It is pure: callers pass the time.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sqlvault/sqlvault/engine"
)

// Policy is a schedule and retention for protected databases.
type Policy struct {
	ID             int64        `json:"id,omitempty"`
	Name           string       `json:"name"`
	Full           FullSchedule `json:"full"`
	Differential   DiffSchedule `json:"differential"`
	Log            LogSchedule  `json:"log"`
	Retention      Retention    `json:"retention"`
	SQLCompression bool         `json:"sql_compression"`
	// AutoHeal turns the next scheduled log or differential into a full
	// when the chain cannot continue (a backup taken outside sqlvault, a
	// gap, a missing or old full, a restore over the original); nil is on.
	AutoHeal *bool `json:"auto_heal,omitempty"`
	// Verify restores and checks the latest full on a verification
	// instance (verify.go); nil: never.
	Verify *Verify `json:"verify,omitempty"`
}

// Heals reports whether auto-heal is on: unless the policy turns it off.
func (p Policy) Heals() bool { return p.AutoHeal == nil || *p.AutoHeal }

// FullSchedule runs full backups daily, or weekly on chosen days.
type FullSchedule struct {
	Frequency string   `json:"frequency"` // daily or weekly
	Days      []string `json:"days,omitempty"`
	Time      string   `json:"time"` // HH:MM
	Timezone  string   `json:"timezone"`
}

// DiffSchedule runs differential backups on days without a full.
type DiffSchedule struct {
	Enabled bool     `json:"enabled"`
	Days    []string `json:"days,omitempty"`
	Time    string   `json:"time,omitempty"`
}

// LogSchedule runs log backups every N minutes.
type LogSchedule struct {
	Enabled      bool `json:"enabled"`
	EveryMinutes int  `json:"every_minutes"`
}

// Retention says how long each kind of recovery point is kept. Daily
// applies to every full; weekly, monthly and yearly keep the first full of
// each week, month and year longer.
type Retention struct {
	DailyDays        int `json:"daily_days"`
	WeeklyWeeks      int `json:"weekly_weeks,omitempty"`
	MonthlyMonths    int `json:"monthly_months,omitempty"`
	YearlyYears      int `json:"yearly_years,omitempty"`
	DifferentialDays int `json:"differential_days,omitempty"`
	LogDays          int `json:"log_days,omitempty"`
}

// Kinds of scheduled backups.
const (
	Full         = "full"
	Differential = "differential"
	Log          = "log"
)

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// Defaults fills what a user may leave out.
func (p *Policy) Defaults() {
	if p.Full.Frequency == "" {
		p.Full.Frequency = "daily"
	}
	if p.Full.Time == "" {
		p.Full.Time = "22:00"
	}
	if p.Full.Timezone == "" {
		p.Full.Timezone = "UTC"
	}
	if p.AutoHeal == nil {
		on := true
		p.AutoHeal = &on
	}
	if p.Log.Enabled && p.Log.EveryMinutes == 0 {
		p.Log.EveryMinutes = 15
	}
	if p.Differential.Enabled && p.Differential.Time == "" {
		p.Differential.Time = p.Full.Time
	}
	if p.Retention.DailyDays == 0 {
		p.Retention.DailyDays = 30
	}
	if p.Log.Enabled && p.Retention.LogDays == 0 {
		p.Retention.LogDays = min(15, p.Retention.DailyDays)
	}
	if p.Differential.Enabled && p.Retention.DifferentialDays == 0 {
		p.Retention.DifferentialDays = min(30, p.Retention.DailyDays)
	}
	for i, d := range p.Full.Days {
		p.Full.Days[i] = strings.ToLower(d)
	}
	for i, d := range p.Differential.Days {
		p.Differential.Days[i] = strings.ToLower(d)
	}
}

// FieldError names the field at fault.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors is every problem of a policy; its code is UserErrorInvalidPolicy.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Limits are the bounds validation enforces. Demo mode and tests relax
// them to see schedules turn in minutes; production uses DefaultLimits.
type Limits struct {
	MinLogMinutes int  // shortest log interval
	AllowHourly   bool // hourly fulls and differentials (demo only)
}

// DefaultLimits: logs every 5 minutes at the most, fulls daily or weekly.
var DefaultLimits = Limits{MinLogMinutes: 5}

// Validate checks every rule under DefaultLimits.
func (p Policy) Validate() error { return p.ValidateWith(DefaultLimits) }

// ValidateWith checks every rule and returns an *engine.Error wrapping
// FieldErrors when any fails.
func (p Policy) ValidateWith(l Limits) error {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Name) == "" {
		add("name", "a policy needs a name")
	} else if len(p.Name) > 100 {
		add("name", "at most 100 characters")
	}
	p.validateFull(add, l)
	p.validateDifferential(add)
	p.validateLog(add, l)
	p.validateRetention(add)
	p.validateVerify(add)
	if len(errs) == 0 {
		return nil
	}
	return &engine.Error{Code: engine.CodePolicyInvalid, Message: errs.Error(), Err: errs}
}

// Fields returns the field errors of a validation error, if any.
func Fields(err error) FieldErrors {
	var fe FieldErrors
	errors.As(err, &fe)
	return fe
}

type addFunc func(field, format string, args ...any)

func (p Policy) validateFull(add addFunc, l Limits) {
	if _, err := parseClock(p.Full.Time); err != nil {
		add("full.time", "%v", err)
	}
	if _, err := time.LoadLocation(p.Full.Timezone); err != nil || p.Full.Timezone == "" {
		add("full.timezone", "%q is not a known time zone (use an IANA name such as Europe/Berlin)", p.Full.Timezone)
	}
	switch p.Full.Frequency {
	case "daily":
		if len(p.Full.Days) > 0 {
			add("full.days", "a daily full runs every day; leave days empty or choose weekly")
		}
	case "weekly":
		if len(p.Full.Days) == 0 {
			add("full.days", "choose at least one day for a weekly full")
		}
	case "hourly":
		if !l.AllowHourly {
			add("full.frequency", "must be daily or weekly, not %q", p.Full.Frequency)
		}
	default:
		add("full.frequency", "must be daily or weekly, not %q", p.Full.Frequency)
	}
	checkDays(add, "full.days", p.Full.Days)
}

func (p Policy) validateDifferential(add addFunc) {
	d := p.Differential
	if !d.Enabled {
		return
	}
	if p.Full.Frequency == "daily" {
		add("differential.enabled", "differential backups need a weekly full: with a daily full every day already has one")
		return
	}
	if p.Full.Frequency == "hourly" {
		// Hourly (demo): the differential runs every hour at its minute.
		if _, err := parseClock(d.Time); err != nil {
			add("differential.time", "%v", err)
		}
		return
	}
	if len(d.Days) == 0 {
		add("differential.days", "choose at least one day for differential backups")
	}
	checkDays(add, "differential.days", d.Days)
	for _, day := range d.Days {
		if slices.Contains(p.Full.Days, day) {
			add("differential.days", "%s already has a full backup; a day has at most one full or differential", day)
		}
	}
	if _, err := parseClock(d.Time); err != nil {
		add("differential.time", "%v", err)
	}
}

func (p Policy) validateLog(add addFunc, l Limits) {
	if !p.Log.Enabled {
		return
	}
	if p.Log.EveryMinutes < l.MinLogMinutes || p.Log.EveryMinutes > 1440 {
		add("log.every_minutes", "must be from %d to 1440 minutes, not %d", l.MinLogMinutes, p.Log.EveryMinutes)
	}
	if p.Log.EveryMinutes > 0 && 1440%p.Log.EveryMinutes != 0 && p.Log.EveryMinutes < 60 {
		add("log.every_minutes", "%d does not divide an hour or a day evenly; choose 5, 10, 15, 20, 30, 60, 120, ...", p.Log.EveryMinutes)
	}
}

func (p Policy) validateRetention(add addFunc) {
	r := p.Retention
	if r.DailyDays < 7 || r.DailyDays > 9999 {
		add("retention.daily_days", "must be from 7 to 9999 days, not %d", r.DailyDays)
	}
	if r.WeeklyWeeks < 0 || r.WeeklyWeeks > 5163 {
		add("retention.weekly_weeks", "must be from 0 to 5163 weeks")
	}
	if r.MonthlyMonths < 0 || r.MonthlyMonths > 1188 {
		add("retention.monthly_months", "must be from 0 to 1188 months")
	}
	if r.YearlyYears < 0 || r.YearlyYears > 99 {
		add("retention.yearly_years", "must be from 0 to 99 years")
	}
	if p.Differential.Enabled {
		if r.DifferentialDays < 7 || r.DifferentialDays > 180 {
			add("retention.differential_days", "must be from 7 to 180 days, not %d", r.DifferentialDays)
		}
		if r.DifferentialDays > r.DailyDays && r.DailyDays >= 7 {
			add("retention.differential_days", "differentials cannot outlive the fulls they are based on (%d > %d days)", r.DifferentialDays, r.DailyDays)
		}
	}
	if p.Log.Enabled {
		if r.LogDays < 1 || r.LogDays > 35 {
			add("retention.log_days", "must be from 1 to 35 days, not %d", r.LogDays)
		} else if r.LogDays < p.longestDiffGapDays() {
			add("retention.log_days", "logs must be kept at least %d days, the longest gap between fulls and differentials, so every day stays restorable", p.longestDiffGapDays())
		}
		if r.LogDays > r.DailyDays && r.DailyDays >= 7 {
			add("retention.log_days", "logs cannot outlive the fulls they start from (%d > %d days)", r.LogDays, r.DailyDays)
		}
	}
	// Each longer class must outlast the shorter one, or it keeps nothing more.
	if r.WeeklyWeeks > 0 && r.WeeklyWeeks*7 <= r.DailyDays {
		add("retention.weekly_weeks", "weekly retention (%d weeks) must be longer than daily retention (%d days)", r.WeeklyWeeks, r.DailyDays)
	}
	if r.MonthlyMonths > 0 && r.MonthlyMonths*31 <= max(r.DailyDays, r.WeeklyWeeks*7) {
		add("retention.monthly_months", "monthly retention must be longer than weekly and daily retention")
	}
	if r.YearlyYears > 0 && r.YearlyYears*12 <= r.MonthlyMonths {
		add("retention.yearly_years", "yearly retention must be longer than monthly retention")
	}
}

// longestDiffGapDays is the longest span, in days, from one backup a restore
// can start from (a full or differential) to the next: logs must cover it or
// some seconds between them become unrestorable.
func (p Policy) longestDiffGapDays() int {
	if p.Full.Frequency == "daily" || p.Full.Frequency == "hourly" {
		return 1
	}
	days := map[string]bool{}
	starts := p.Full.Days
	if p.Differential.Enabled {
		starts = append(append([]string{}, starts...), p.Differential.Days...)
	}
	for _, d := range starts {
		days[d] = true
	}
	longest, gap := 0, 0
	for i := 0; i < 14; i++ {
		if days[weekdays[i%7]] {
			gap = 0
		} else {
			gap++
			longest = max(longest, gap)
		}
	}
	return longest + 1
}

func checkDays(add addFunc, field string, days []string) {
	seen := map[string]bool{}
	for _, d := range days {
		if !slices.Contains(weekdays, d) {
			add(field, "%q is not a day of the week", d)
		}
		if seen[d] {
			add(field, "%s is listed twice", d)
		}
		seen[d] = true
	}
}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("%q is not a time as HH:MM (24-hour)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// RPO is the most data a failure can lose under the policy.
func (p Policy) RPO() time.Duration {
	if p.Log.Enabled {
		return time.Duration(p.Log.EveryMinutes) * time.Minute
	}
	if p.Full.Frequency == "hourly" {
		return time.Hour
	}
	if p.Full.Frequency == "daily" || p.Differential.Enabled {
		return 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

// Spec is one cron entry of a policy.
type Spec struct {
	Kind string
	Cron string // robfig/cron/v3 standard syntax with a CRON_TZ prefix
}

// CronSpecs returns the schedule as cron entries.
func (p Policy) CronSpecs() []Spec {
	tz := "CRON_TZ=" + p.Full.Timezone + " "
	ft, _ := parseClock(p.Full.Time)
	days := "*"
	if p.Full.Frequency == "weekly" {
		days = dayList(p.Full.Days)
	}
	specs := []Spec{{Full, fmt.Sprintf("%s%d %d * * %s", tz, int(ft.Minutes())%60, int(ft.Hours()), days)}}
	if p.Full.Frequency == "hourly" {
		specs[0].Cron = fmt.Sprintf("%s%d * * * *", tz, int(ft.Minutes())%60)
		if p.Differential.Enabled {
			dt, _ := parseClock(p.Differential.Time)
			specs = append(specs, Spec{Differential, fmt.Sprintf("%s%d * * * *", tz, int(dt.Minutes())%60)})
		}
	} else if p.Differential.Enabled {
		dt, _ := parseClock(p.Differential.Time)
		specs = append(specs, Spec{Differential, fmt.Sprintf("%s%d %d * * %s", tz, int(dt.Minutes())%60, int(dt.Hours()), dayList(p.Differential.Days))})
	}
	if p.Log.Enabled {
		n := p.Log.EveryMinutes
		switch {
		case n < 60:
			specs = append(specs, Spec{Log, fmt.Sprintf("%s*/%d * * * *", tz, n)})
		case n%60 == 0 && n < 1440:
			specs = append(specs, Spec{Log, fmt.Sprintf("%s0 */%d * * *", tz, n/60)})
		default:
			specs = append(specs, Spec{Log, fmt.Sprintf("%s@every %dm", "", n)})
		}
	}
	return specs
}

func dayList(days []string) string {
	var idx []string
	for i, d := range weekdays {
		if slices.Contains(days, d) {
			idx = append(idx, fmt.Sprint(i))
		}
	}
	return strings.Join(idx, ",")
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Next returns the next time a backup of kind runs after t, or the zero
// time when the policy has no such schedule.
func (p Policy) Next(kind string, after time.Time) time.Time {
	for _, s := range p.CronSpecs() {
		if s.Kind == kind {
			sched, err := parser.Parse(s.Cron)
			if err != nil {
				return time.Time{}
			}
			return sched.Next(after)
		}
	}
	return time.Time{}
}

// Missed reports whether a slot of kind fell between last (the last run or
// the time protection began) and now, so the scheduler catches it up once
// after downtime, however many slots were missed.
func (p Policy) Missed(kind string, last, now time.Time) bool {
	n := p.Next(kind, last)
	return !n.IsZero() && !n.After(now)
}

// Describe puts the schedule in words.
func (p Policy) Describe() string {
	var b strings.Builder
	if p.Full.Frequency == "hourly" {
		fmt.Fprintf(&b, "Full every hour at minute %s", minuteOf(p.Full.Time))
		if p.Differential.Enabled {
			fmt.Fprintf(&b, "; differential every hour at minute %s", minuteOf(p.Differential.Time))
		}
	} else if p.Full.Frequency == "weekly" {
		fmt.Fprintf(&b, "Full every %s at %s (%s)", dayNames(p.Full.Days), p.Full.Time, p.Full.Timezone)
	} else {
		fmt.Fprintf(&b, "Full every day at %s (%s)", p.Full.Time, p.Full.Timezone)
	}
	if p.Differential.Enabled && p.Full.Frequency != "hourly" {
		fmt.Fprintf(&b, "; differential every %s at %s", dayNames(p.Differential.Days), p.Differential.Time)
	}
	if p.Log.Enabled {
		fmt.Fprintf(&b, "; logs every %d minutes (RPO %s)", p.Log.EveryMinutes, fmtDuration(p.RPO()))
	} else {
		b.WriteString("; no log backups")
	}
	r := p.Retention
	fmt.Fprintf(&b, ". Keeps fulls %d days", r.DailyDays)
	if r.WeeklyWeeks > 0 {
		fmt.Fprintf(&b, ", weekly %d weeks", r.WeeklyWeeks)
	}
	if r.MonthlyMonths > 0 {
		fmt.Fprintf(&b, ", monthly %d months", r.MonthlyMonths)
	}
	if r.YearlyYears > 0 {
		fmt.Fprintf(&b, ", yearly %d years", r.YearlyYears)
	}
	if p.Differential.Enabled {
		fmt.Fprintf(&b, ", differentials %d days", r.DifferentialDays)
	}
	if p.Log.Enabled {
		fmt.Fprintf(&b, ", logs %d days", r.LogDays)
	}
	b.WriteString(".")
	return b.String()
}

// minuteOf is the MM of "HH:MM", or the text as is when it is not one.
func minuteOf(clock string) string {
	if len(clock) == 5 && clock[2] == ':' {
		return clock[3:]
	}
	return clock
}

func dayNames(days []string) string {
	var names []string
	for _, d := range weekdays {
		if slices.Contains(days, d) {
			names = append(names, strings.ToUpper(d[:1])+d[1:])
		}
	}
	switch len(names) {
	case 0:
		return "(no day)"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func fmtDuration(d time.Duration) string {
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	if d < 24*time.Hour {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
