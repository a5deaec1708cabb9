package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/templates"
)

const alertsPerPage = 50

// Alerts lists open and resolved alerts with their cause and links.
func (h *Handlers) Alerts(c echo.Context) error {
	ctx := c.Request().Context()
	d := templates.AlertsData{Show: c.QueryParam("show"), PrevOffset: -1}
	f := db.AlertFilter{Limit: alertsPerPage + 1}
	switch d.Show {
	case "open":
		f.Open = true
	case "resolved":
		f.Resolved = true
	default:
		d.Show = "all"
	}
	d.Offset, _ = strconv.Atoi(c.QueryParam("offset"))
	d.Offset = max(d.Offset, 0)
	f.Offset = d.Offset
	alerts, err := h.DB.PageAlerts(ctx, f)
	if err != nil {
		return err
	}
	if len(alerts) > alertsPerPage {
		alerts = alerts[:alertsPerPage]
		d.NextOffset = d.Offset + alertsPerPage
	}
	if d.Offset > 0 {
		d.PrevOffset = max(d.Offset-alertsPerPage, 0)
	}
	servers := map[int64]string{}
	if ss, err := h.DB.ListServers(ctx); err == nil {
		for _, s := range ss {
			servers[s.ID] = s.Name
		}
	}
	items := map[int64]string{}
	for _, a := range alerts {
		v := templates.AlertView{Alert: a}
		if a.ServerID != nil {
			v.ServerName = servers[*a.ServerID]
		}
		if a.ItemID != nil {
			name, ok := items[*a.ItemID]
			if !ok {
				if it, err := h.DB.ItemByID(ctx, *a.ItemID); err == nil {
					name = it.DatabaseName + " on " + it.ServerName
				}
				items[*a.ItemID] = name
			}
			v.ItemName = name
		}
		d.Alerts = append(d.Alerts, v)
	}
	return render(c, http.StatusOK, templates.Alerts(h.page(c, "Alerts", "alerts"), d))
}
