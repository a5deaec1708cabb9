package handlers

import (
	"errors"
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
	case "open", "":
		d.Show, f.Open = "open", true // what a link to the alerts means
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

// AcknowledgeAlert marks an open alert as seen by the signed-in user and
// returns to the tab the form was on; what raised it still resolves it.
func (h *Handlers) AcknowledgeAlert(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	p, _ := PrincipalOf(c)
	if err := h.DB.AcknowledgeAlert(c.Request().Context(), id, p.Name); err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return h.ErrorPage(c, http.StatusNotFound, "No open alert", "Alert "+c.Param("id")+" does not exist or is resolved.")
		}
		return err
	}
	show := c.FormValue("show")
	if show != "resolved" && show != "all" {
		show = "open"
	}
	return h.seeOtherFlash(c, "/alerts?show="+show, "Alert acknowledged.")
}

// AcknowledgeAlertAPI marks an open alert as seen by the caller.
func (h *Handlers) AcknowledgeAlertAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	p, _ := PrincipalOf(c)
	who := p.Name
	if p.ViaToken && p.Owner != "" {
		who = p.Owner
	}
	if err := h.DB.AcknowledgeAlert(c.Request().Context(), id, who); err != nil {
		return apiErr(c, notFound(err, "no open alert %d", id))
	}
	return c.NoContent(http.StatusNoContent)
}
