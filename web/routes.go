package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// roles are the middlewares that admit a role and those above it: reader
// sees everything, operator runs backups and restores, admin manages
// servers, policies and protection.
type roles struct{ reader, operator, admin echo.MiddlewareFunc }

// routes assembles every route; pageRoutes and apiRoutes are the tables of
// the portal's and the API's routes with the role each needs.
func routes(e *echo.Echo, h *handlers.Handlers, a *authenticator, loginCSRF echo.MiddlewareFunc) {
	r := roles{require(db.RoleReader), require(db.RoleOperator), require(db.RoleAdmin)}

	// Sign-in, guarded by its own pre-session CSRF cookie.
	pub := e.Group("", loginCSRF)
	pub.GET("/login", h.LoginForm)
	pub.POST("/login", h.Login)

	// Authentication first, so a request without credentials is sent to sign
	// in (or gets 401) rather than a CSRF refusal; then the session's own
	// CSRF token guards every write of a cookie session, pages and API alike.
	// Every write past authentication is in the audit log (web/audit.go).
	audit := auditLog(a.db, a.log)
	p := e.Group("", a.portal, sessionCSRF, audit)
	p.POST("/logout", h.Logout)
	pageRoutes(p, h, r)

	apiRoutes(e.Group("/api/v1", a.api, sessionCSRF, audit), h, r)

	// Anything else: the portal's 404 page, or a JSON 404 under /api.
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
