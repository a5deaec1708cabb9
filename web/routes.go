package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// routes is the one table of every route and the role it needs: reader
// sees everything, operator runs backups and restores, admin manages
// servers, policies and protection.
func routes(e *echo.Echo, h *handlers.Handlers, a *authenticator, csrf echo.MiddlewareFunc) {
	reader, operator, admin := require(db.RoleReader), require(db.RoleOperator), require(db.RoleAdmin)
	_, _ = operator, admin

	// Sign-in.
	pub := e.Group("", csrf)
	pub.GET("/login", h.LoginForm)
	pub.POST("/login", h.Login)

	// Portal pages.
	p := e.Group("", csrf, a.portal)
	p.POST("/logout", h.Logout)
	p.GET("/", h.Overview, reader)
	p.GET("/servers", h.Servers, reader)
	p.GET("/items", h.Items, reader)
	p.GET("/policies", h.Policies, reader)
	p.GET("/jobs", h.Jobs, reader)
	p.GET("/jobs/:id", h.Job, reader)
	p.GET("/restore", h.Restore, reader)
	p.GET("/alerts", h.Alerts, reader)

	// JSON API.
	api := e.Group("/api/v1", csrf, a.api)
	api.GET("/me", h.Me, reader)
	api.GET("/jobs", h.ListJobsAPI, reader)
	api.GET("/jobs/:id", h.GetJobAPI, reader)

	// Anything else: the portal's 404 page, or a JSON 404 under /api.
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
