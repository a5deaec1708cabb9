package handlers

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/report"
	"github.com/sqlvault/sqlvault/templates"
)

// reportDays are the windows the Reports page offers.
var reportDays = []int{7, 30, 90, 365}

// buildReport reads ?days= (default 30), ?server_id= and ?item_id= and
// builds the report of that window up to now.
func (h *Handlers) buildReport(c echo.Context) (report.Report, templates.ReportQuery, error) {
	q := templates.ReportQuery{Days: 30}
	var err error
	if d, _ := queryInt(c, "days"); d > 0 {
		q.Days = int(min(d, 3660))
	}
	if q.ServerID, err = queryInt(c, "server_id"); err != nil {
		return report.Report{}, q, err
	}
	if q.ItemID, err = queryInt(c, "item_id"); err != nil {
		return report.Report{}, q, err
	}
	ctx := c.Request().Context()
	now := time.Now().UTC()
	// Whole UTC days, as the daily summary keeps them: from the midnight
	// before now-days through today.
	since := now.AddDate(0, 0, -q.Days).Truncate(24 * time.Hour)
	f := db.ReportFilter{Since: since, Until: now, ServerID: q.ServerID, ItemID: q.ItemID}
	var items []db.Item
	if q.ItemID != 0 {
		it, err := h.DB.ItemByID(ctx, q.ItemID)
		if err != nil {
			return report.Report{}, q, err
		}
		items = []db.Item{it}
	} else if items, err = h.DB.ReportItems(ctx, db.ItemFilter{ServerID: q.ServerID}); err != nil {
		return report.Report{}, q, err
	}
	in := make([]report.Item, len(items))
	healths := h.Coord.HealthOf(ctx, items)
	for i, it := range items {
		in[i] = report.Item{Item: it, Target: healths[i].Target, RPO: healths[i].RPO, HasRPO: healths[i].HasPoint}
	}
	r, err := report.Build(ctx, h.DB, f, in)
	return r, q, err
}

// Reports is the Reports page: the window's tables and charts.
func (h *Handlers) Reports(c echo.Context) error {
	r, q, err := h.buildReport(c)
	if err != nil {
		return h.pageErr(c, err)
	}
	servers, err := h.DB.ListServers(c.Request().Context())
	if err != nil {
		return err
	}
	d := templates.ReportData{Report: r, Query: q, Windows: reportDays, Servers: servers}
	return render(c, http.StatusOK, templates.Reports(h.page(c, "Reports", "reports"), d))
}

// ReportAPI answers GET /api/v1/reports/{items,servers,days,summary}: the
// Reports page's tables as JSON, or as CSV with ?format=csv.
func (h *Handlers) ReportAPI(c echo.Context) error {
	r, _, err := h.buildReport(c)
	if err != nil {
		return apiErr(c, err)
	}
	table := c.Param("table")
	if c.QueryParam("format") == "csv" {
		rows, ok := reportCSV(r, table)
		if !ok {
			return apiErr(c, engine.Errorf(engine.CodeNotFound, "no CSV of the report %q: items, servers or days", table))
		}
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="sqlvault-report-`+table+`.csv"`)
		c.Response().WriteHeader(http.StatusOK)
		return csv.NewWriter(c.Response()).WriteAll(rows)
	}
	switch table {
	case "items":
		return c.JSON(http.StatusOK, map[string]any{"since": r.Since, "until": r.Until, "items": r.Items})
	case "servers":
		return c.JSON(http.StatusOK, map[string]any{"since": r.Since, "until": r.Until, "servers": r.Servers})
	case "days":
		return c.JSON(http.StatusOK, map[string]any{"since": r.Since, "until": r.Until, "days": r.Days, "forecast": r.Forecast})
	case "summary":
		return c.JSON(http.StatusOK, r)
	}
	return apiErr(c, engine.Errorf(engine.CodeNotFound, "no report %q: items, servers, days or summary", table))
}

// reportCSV is one table of the report as CSV rows, a header first.
func reportCSV(r report.Report, table string) ([][]string, bool) {
	switch table {
	case "items":
		out := [][]string{{"item_id", "server", "database", "policy", "state", "backups_completed", "backups_failed",
			"success_rate", "mean_duration_seconds", "points", "backup_bytes", "stored_bytes", "rpo_target_seconds",
			"rpo_compliance", "last_verification", "last_verification_at"}}
		for _, it := range r.Items {
			out = append(out, []string{csvInt(it.ItemID), it.ServerName, it.DatabaseName, it.PolicyName, it.State,
				strconv.Itoa(it.Completed), strconv.Itoa(it.Failed), csvRatio(it.SuccessRate), csvSecs(it.MeanSeconds),
				strconv.Itoa(it.Points), csvInt(it.Bytes), csvInt(it.Stored), csvSecs(it.TargetSecs), csvRatio(it.RPOMet),
				it.Verified, csvTime(it.VerifiedAt)})
		}
		return out, true
	case "servers":
		out := [][]string{{"server_id", "server", "items", "backups_completed", "backups_failed", "success_rate",
			"mean_duration_seconds", "backup_bytes", "stored_bytes", "rpo_compliance", "items_verified"}}
		for _, s := range r.Servers {
			out = append(out, []string{csvInt(s.ServerID), s.ServerName, strconv.Itoa(s.Items), strconv.Itoa(s.Completed),
				strconv.Itoa(s.Failed), csvRatio(s.SuccessRate), csvSecs(s.MeanSeconds), csvInt(s.Bytes), csvInt(s.Stored),
				csvRatio(s.RPOMet), strconv.Itoa(s.Verified)})
		}
		return out, true
	case "days":
		out := [][]string{{"day", "backups_completed", "backups_failed", "mean_duration_seconds", "backup_bytes",
			"stored_bytes_at_end", "stored_bytes_change"}}
		for _, d := range r.Days {
			out = append(out, []string{d.Day.Format("2006-01-02"), strconv.Itoa(d.Completed), strconv.Itoa(d.Failed),
				csvSecs(d.MeanSeconds), csvInt(d.Bytes), csvInt(d.StoredAtEnd), csvInt(d.StoredChange)})
		}
		return out, true
	}
	return nil, false
}

func csvInt(v int64) string { return strconv.FormatInt(v, 10) }

func csvSecs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// csvRatio is a share as a fraction with four places; empty when unknown.
func csvRatio(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
