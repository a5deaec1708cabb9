package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/handlers"
)

// pageRoutes are the portal's pages and forms.
func pageRoutes(p *echo.Group, h *handlers.Handlers, r roles) {
	p.GET("/", h.Overview, r.reader)
	p.GET("/servers", h.Servers, r.reader)
	p.GET("/items", h.Items, r.reader)
	p.GET("/policies", h.Policies, r.reader)
	p.GET("/jobs", h.Jobs, r.reader)
	p.GET("/jobs/:id", h.Job, r.reader)
	p.GET("/restore", h.Restore, r.reader)
	p.GET("/alerts", h.Alerts, r.reader)
}
