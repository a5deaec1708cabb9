package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/handlers"
)

// apiRoutes are the JSON API's routes under /api/v1.
func apiRoutes(api *echo.Group, h *handlers.Handlers, r roles) {
	api.GET("/me", h.Me, r.reader)
	api.GET("/jobs", h.ListJobsAPI, r.reader)
	api.GET("/jobs/:id", h.GetJobAPI, r.reader)
}
