package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
)

// auditFilter reads the audit filters shared by the API and the page:
// actor, action (exact, or a group such as "policy."), since (RFC 3339),
// before (an entry id, for paging) and limit.
func auditFilter(c echo.Context) (db.AuditFilter, error) {
	f := db.AuditFilter{Actor: c.QueryParam("actor"), Action: c.QueryParam("action")}
	var err error
	if f.Since, err = queryTime(c, "since"); err != nil {
		return f, err
	}
	if f.BeforeID, err = queryInt(c, "before"); err != nil {
		return f, err
	}
	limit, err := queryInt(c, "limit")
	f.Limit = int(min(limit, 500))
	return f, err
}

// ListAuditAPI lists audit entries newest first; next_before, when not
// zero, is the `before` that gives the next (older) page.
func (h *Handlers) ListAuditAPI(c echo.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return apiErr(c, err)
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	want := f.Limit
	f.Limit++
	es, err := h.DB.ListAudit(c.Request().Context(), f)
	if err != nil {
		return apiErr(c, err)
	}
	var next int64
	if len(es) > want {
		es = es[:want]
		next = es[want-1].ID
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": es, "next_before": next})
}
