package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/templates"
)

// Overview is the landing page.
func (h *Handlers) Overview(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := h.DB.Summary(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	d := templates.OverviewData{
		Servers: s.Servers, Items: s.Items, JobsDone24h: s.JobsCompleted,
		JobsFailed24h: s.JobsFailed, OpenAlerts: s.OpenAlerts,
	}
	return render(c, http.StatusOK, templates.Overview(h.page(c, "Overview", "overview"), d))
}

// section renders a page whose feature has nothing to list yet.
func (h *Handlers) section(c echo.Context, nav, title, sub, emptyHead, emptyText, href, label string) error {
	return render(c, http.StatusOK, templates.Section(h.page(c, title, nav), title, sub,
		templates.Empty(emptyHead, emptyText, href, label)))
}

// Servers lists registered SQL Server instances.
func (h *Handlers) Servers(c echo.Context) error {
	return h.section(c, "servers", "Protected servers", "SQL Server instances registered with this vault.",
		"No SQL Server registered yet", "Register an instance with a sysadmin login; sqlvault discovers its databases.", "", "")
}

// Items lists protected databases.
func (h *Handlers) Items(c echo.Context) error {
	return h.section(c, "items", "Backup items", "Databases under protection, with their last backups and RPO.",
		"No database is protected yet", "Register a server, then protect its databases with a policy.", "/servers", "Go to protected servers")
}

// Policies lists backup policies.
func (h *Handlers) Policies(c echo.Context) error {
	return h.section(c, "policies", "Policies", "Schedules and retention for full, differential and log backups.",
		"No policy yet", "A policy sets when full, differential and log backups run and how long they are kept.", "", "")
}

// Restore starts the restore wizard.
func (h *Handlers) Restore(c echo.Context) error {
	return h.section(c, "restore", "Restore", "Restore a database to a recovery point or to any second of its log chain.",
		"Nothing to restore yet", "Restore points appear once a protected database has been backed up.", "/items", "Go to backup items")
}

// Alerts lists open and resolved alerts.
func (h *Handlers) Alerts(c echo.Context) error {
	return h.section(c, "alerts", "Alerts", "Failures that need attention, and what caused them.",
		"No alerts", "Failed backups, unreachable servers and missing permissions raise alerts here.", "", "")
}

// NotFound is the portal's 404 page.
func (h *Handlers) NotFound(c echo.Context) error {
	return h.ErrorPage(c, http.StatusNotFound, "Page not found", "There is no page at "+c.Request().URL.Path+".")
}
