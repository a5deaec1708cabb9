package policy

import "time"

// Expiry returns when a recovery point of kind, ended at end, expires
// under the policy. A full is kept the longest of the classes it falls in:
// every full is a daily one; the first full of a week, month or year (in the
// policy's time zone) is also the weekly, monthly or yearly one. first
// reports which of those it is.
func (p Policy) Expiry(kind string, end time.Time, first FirstOf) time.Time {
	r := p.Retention
	switch kind {
	case Log:
		return end.AddDate(0, 0, r.LogDays)
	case Differential:
		return end.AddDate(0, 0, r.DifferentialDays)
	}
	exp := end.AddDate(0, 0, r.DailyDays)
	later := func(t time.Time) {
		if t.After(exp) {
			exp = t
		}
	}
	if first.Week && r.WeeklyWeeks > 0 {
		later(end.AddDate(0, 0, 7*r.WeeklyWeeks))
	}
	if first.Month && r.MonthlyMonths > 0 {
		later(end.AddDate(0, r.MonthlyMonths, 0))
	}
	if first.Year && r.YearlyYears > 0 {
		later(end.AddDate(r.YearlyYears, 0, 0))
	}
	return exp
}

// FirstOf says whether a full is the first of its week, month and year.
type FirstOf struct{ Week, Month, Year bool }

// Classify compares a full's end with the previous full's end (zero if
// none) in the policy's time zone.
func (p Policy) Classify(end, previous time.Time) FirstOf {
	if previous.IsZero() {
		return FirstOf{true, true, true}
	}
	loc, err := time.LoadLocation(p.Full.Timezone)
	if err != nil {
		loc = time.UTC
	}
	a, b := previous.In(loc), end.In(loc)
	ay, aw := a.ISOWeek()
	by, bw := b.ISOWeek()
	return FirstOf{
		Week:  ay != by || aw != bw,
		Month: a.Year() != b.Year() || a.Month() != b.Month(),
		Year:  a.Year() != b.Year(),
	}
}
