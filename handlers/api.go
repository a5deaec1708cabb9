package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// Me answers who the caller is.
func (h *Handlers) Me(c echo.Context) error {
	p, _ := PrincipalOf(c)
	return c.JSON(http.StatusOK, map[string]any{"name": p.Name, "role": p.Role, "via_token": p.ViaToken})
}

// jobJSON is a job as the API shows it.
type jobJSON struct {
	db.Job
	Error *APIError `json:"error,omitempty"`
}

func toJobJSON(j db.Job) jobJSON {
	out := jobJSON{Job: j}
	if j.ErrorCode != "" {
		code := engine.Code(j.ErrorCode)
		out.Error = &APIError{Code: code, Message: j.ErrorMessage, Action: code.Action()}
	}
	return out
}

// ListJobsAPI lists jobs, newest first, filtered by status, operation and
// item; `before` pages back through older jobs.
func (h *Handlers) ListJobsAPI(c echo.Context) error {
	f, err := jobFilter(c)
	if err != nil {
		return apiErr(c, err)
	}
	jobs, err := h.DB.ListJobs(c.Request().Context(), f)
	if err != nil {
		return apiErr(c, err)
	}
	out := make([]jobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toJobJSON(j))
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": out})
}

// GetJobAPI returns one job.
func (h *Handlers) GetJobAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	j, err := h.DB.JobByID(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, toJobJSON(j))
}

var jobStatuses = map[string]bool{"": true, db.JobQueued: true, db.JobInProgress: true, db.JobCompleted: true, db.JobFailed: true, db.JobCancelled: true}

func jobFilter(c echo.Context) (db.JobFilter, error) {
	var f db.JobFilter
	f.Status = c.QueryParam("status")
	if !jobStatuses[f.Status] {
		return f, invalidField("status", "%q is not one of queued, in_progress, completed, failed, cancelled", f.Status)
	}
	f.Operation = c.QueryParam("operation")
	var err error
	if f.ItemID, err = queryInt(c, "item_id"); err != nil {
		return f, err
	}
	if f.ServerID, err = queryInt(c, "server_id"); err != nil {
		return f, err
	}
	if f.BeforeID, err = queryInt(c, "before"); err != nil {
		return f, err
	}
	limit, err := queryInt(c, "limit")
	f.Limit = int(limit)
	return f, err
}

func queryInt(c echo.Context, name string) (int64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, invalidField(name, "must be a positive integer, not %q", s)
	}
	return v, nil
}

func pathID(c echo.Context) (int64, error) {
	v, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || v <= 0 {
		return 0, engine.Errorf(engine.CodeNotFound, "no object with id %q", c.Param("id"))
	}
	return v, nil
}

// ListAlertsAPI lists open alerts first, then recently resolved ones;
// ?open=true keeps only the open ones.
func (h *Handlers) ListAlertsAPI(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return apiErr(c, err)
	}
	open := c.QueryParam("open")
	if open != "" && open != "true" && open != "false" {
		return apiErr(c, invalidField("open", "must be true or false, not %q", open))
	}
	alerts, err := h.DB.ListAlerts(c.Request().Context(), int(min(limit, 1000)))
	if err != nil {
		return apiErr(c, err)
	}
	out := make([]alertJSON, 0, len(alerts))
	for _, a := range alerts {
		if open == "true" && a.ResolvedAt != nil {
			continue
		}
		out = append(out, alertJSON{Alert: a, Action: engine.Code(a.Code).Action()})
	}
	return c.JSON(http.StatusOK, map[string]any{"alerts": out})
}

// alertJSON is an alert with the recommended action of its code.
type alertJSON struct {
	db.Alert
	Action string `json:"action"`
}
