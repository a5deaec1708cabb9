// Package report builds the Reports page's figures from the catalog:
// per item and per server success rates, sizes and durations, RPO
// compliance over the window, storage growth with a least-squares
// forecast, and each item's last verification.
package report

import (
	"context"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// Item is the input of one item: its catalog row and what its policy
// promises (coordinator.ItemHealth's Target) and its RPO now.
type Item struct {
	db.Item
	Target time.Duration // 0: no promise (no policy)
	RPO    time.Duration // since its last restorable instant, now
	HasRPO bool
}

// ItemRow is one item's line of the report.
type ItemRow struct {
	ItemID       int64         `json:"item_id"`
	ServerID     int64         `json:"server_id"`
	ServerName   string        `json:"server_name"`
	DatabaseName string        `json:"database_name"`
	PolicyName   string        `json:"policy_name"`
	State        string        `json:"state"`
	Completed    int           `json:"backups_completed"`
	Failed       int           `json:"backups_failed"`
	SuccessRate  *float64      `json:"success_rate"`          // completed / finished; nil without backups
	MeanDuration time.Duration `json:"-"`                     // of completed backups
	MeanSeconds  float64       `json:"mean_duration_seconds"` // the same, for JSON and CSV
	Points       int           `json:"points"`
	Bytes        int64         `json:"backup_bytes"`
	Stored       int64         `json:"stored_bytes"`
	RPOTarget    time.Duration `json:"-"`
	TargetSecs   float64       `json:"rpo_target_seconds"`
	RPOMet       *float64      `json:"rpo_compliance"` // share of the window within twice the target; nil if not measured
	Verified     string        `json:"last_verification"`
	VerifiedAt   *time.Time    `json:"last_verification_at"`
}

// ServerRow sums a server's items.
type ServerRow struct {
	ServerID     int64         `json:"server_id"`
	ServerName   string        `json:"server_name"`
	Items        int           `json:"items"`
	Completed    int           `json:"backups_completed"`
	Failed       int           `json:"backups_failed"`
	SuccessRate  *float64      `json:"success_rate"`
	MeanDuration time.Duration `json:"-"`
	MeanSeconds  float64       `json:"mean_duration_seconds"`
	Bytes        int64         `json:"backup_bytes"`
	Stored       int64         `json:"stored_bytes"`
	RPOMet       *float64      `json:"rpo_compliance"` // mean over its measured items
	Verified     int           `json:"items_verified"` // items whose last verification passed
}

// Day is one UTC day of backups and what the vault held at its end.
type Day struct {
	Day          time.Time `json:"day"`
	Completed    int       `json:"backups_completed"`
	Failed       int       `json:"backups_failed"`
	MeanSeconds  float64   `json:"mean_duration_seconds"`
	Bytes        int64     `json:"backup_bytes"`
	StoredAtEnd  int64     `json:"stored_bytes_at_end"`
	StoredChange int64     `json:"stored_bytes_change"`
}

// Forecast is the storage the least-squares line through the days
// predicts Ahead after the last day.
type Forecast struct {
	At          time.Time `json:"at"`
	Bytes       int64     `json:"stored_bytes"`
	BytesPerDay float64   `json:"bytes_per_day"`
	Known       bool      `json:"known"` // false with fewer than two days
}

// Report is the whole report of a window.
type Report struct {
	Since    time.Time   `json:"since"`
	Until    time.Time   `json:"until"`
	Items    []ItemRow   `json:"items"`
	Servers  []ServerRow `json:"servers"`
	Days     []Day       `json:"days"`
	Forecast Forecast    `json:"forecast"`
}

// Ahead is how far the storage forecast looks.
const Ahead = 30 * 24 * time.Hour

// lookback is how far before the window the point that starts an item's
// first gap is looked for; a longer silence counts from the window's start.
const lookback = 8 * 24 * time.Hour

// Build reads the catalog for the window f and the items given (in the
// order they are to be shown).
func Build(ctx context.Context, d *db.DB, f db.ReportFilter, items []Item) (Report, error) {
	r := Report{Since: f.Since, Until: f.Until}
	totals, err := d.BackupTotalsByItem(ctx, f)
	if err != nil {
		return r, err
	}
	rpo, err := compliance(ctx, d, f, items)
	if err != nil {
		return r, err
	}
	verified, err := d.LastVerifications(ctx)
	if err != nil {
		return r, err
	}
	for _, it := range items {
		r.Items = append(r.Items, itemRow(it, totals[it.ID], rpo[it.ID], verified))
	}
	r.Servers = servers(r.Items)
	if r.Days, err = days(ctx, d, f); err != nil {
		return r, err
	}
	r.Forecast = forecast(r.Days)
	return r, nil
}

func itemRow(it Item, t *db.BackupTotals, met *float64, verified map[int64]db.Job) ItemRow {
	row := ItemRow{ItemID: it.ID, ServerID: it.ServerID, ServerName: it.ServerName, DatabaseName: it.DatabaseName,
		PolicyName: it.PolicyName, State: it.State, RPOTarget: it.Target, TargetSecs: it.Target.Seconds(), RPOMet: met}
	if t != nil {
		row.Completed, row.Failed, row.Points, row.Bytes, row.Stored = t.Completed, t.Failed, t.Points, t.Bytes, t.Stored
		row.SuccessRate = rate(t.Completed, t.Failed)
		if t.Completed > 0 {
			row.MeanDuration = t.Duration / time.Duration(t.Completed)
		}
	}
	row.MeanSeconds = row.MeanDuration.Seconds()
	if j, ok := verified[it.ID]; ok {
		row.Verified, row.VerifiedAt = j.Status, j.EndedAt
	}
	return row
}

func rate(ok, failed int) *float64 {
	if ok+failed == 0 {
		return nil
	}
	r := float64(ok) / float64(ok+failed)
	return &r
}

// servers sums the item rows by server, in the items' order.
func servers(items []ItemRow) []ServerRow {
	var out []ServerRow
	at := map[int64]int{}
	met := map[int64][]float64{}
	durs := map[int64]time.Duration{}
	for _, it := range items {
		i, ok := at[it.ServerID]
		if !ok {
			i = len(out)
			at[it.ServerID] = i
			out = append(out, ServerRow{ServerID: it.ServerID, ServerName: it.ServerName})
		}
		s := &out[i]
		s.Items++
		s.Completed += it.Completed
		s.Failed += it.Failed
		s.Bytes += it.Bytes
		s.Stored += it.Stored
		durs[it.ServerID] += it.MeanDuration * time.Duration(it.Completed)
		if it.RPOMet != nil {
			met[it.ServerID] = append(met[it.ServerID], *it.RPOMet)
		}
		if it.Verified == "completed" {
			s.Verified++
		}
	}
	for i := range out {
		s := &out[i]
		s.SuccessRate = rate(s.Completed, s.Failed)
		if s.Completed > 0 {
			s.MeanDuration = durs[s.ServerID] / time.Duration(s.Completed)
		}
		s.MeanSeconds = s.MeanDuration.Seconds()
		if m := met[s.ServerID]; len(m) > 0 {
			var sum float64
			for _, v := range m {
				sum += v
			}
			avg := sum / float64(len(m))
			s.RPOMet = &avg
		}
	}
	return out
}

// days adds to each day of the window what the vault held at its end.
func days(ctx context.Context, d *db.DB, f db.ReportFilter) ([]Day, error) {
	rows, err := d.ReportDays(ctx, f)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	held, err := d.StoredBefore(ctx, f, rows[0].Day)
	if err != nil {
		return nil, err
	}
	out := make([]Day, len(rows))
	for i, r := range rows {
		change := r.Added - r.Removed
		held += change
		out[i] = Day{Day: r.Day, Completed: r.Completed, Failed: r.Failed, MeanSeconds: r.Duration.Seconds(),
			Bytes: r.Bytes, StoredAtEnd: held, StoredChange: change}
	}
	return out, nil
}

// forecast fits a least-squares line through the days' storage, from the
// first day that held any (the empty days before say nothing of growth),
// and reads it Ahead after the last day.
func forecast(days []Day) Forecast {
	for len(days) > 0 && days[0].StoredAtEnd == 0 {
		days = days[1:]
	}
	if len(days) < 2 {
		return Forecast{}
	}
	xs := make([]float64, len(days))
	ys := make([]float64, len(days))
	for i, d := range days {
		xs[i], ys[i] = float64(i), float64(d.StoredAtEnd)
	}
	slope, icept := LeastSquares(xs, ys)
	x := float64(len(days)-1) + Ahead.Hours()/24
	last := days[len(days)-1].Day
	return Forecast{At: last.Add(Ahead), Bytes: int64(max(0, icept+slope*x)), BytesPerDay: slope, Known: true}
}

// LeastSquares returns the slope and intercept of the line y = a*x + b
// that minimises the squared vertical distances to the points.
func LeastSquares(xs, ys []float64) (slope, intercept float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, sy / n
	}
	slope = (n*sxy - sx*sy) / den
	return slope, (sy - slope*sx) / n
}
