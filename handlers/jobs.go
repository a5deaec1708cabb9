package handlers

import (
	"cmp"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/templates"
)

// Jobs lists jobs with filters; the table refreshes itself while jobs run.
func (h *Handlers) Jobs(c echo.Context) error {
	f, err := jobFilter(c)
	if err != nil {
		return h.ErrorPage(c, http.StatusBadRequest, "Bad filter", err.Error())
	}
	jobs, err := h.DB.ListJobs(c.Request().Context(), f)
	if err != nil {
		return err
	}
	d := templates.JobsData{Jobs: jobs, Status: f.Status, Operation: f.Operation, Query: c.Request().URL.RawQuery}
	if limit := cmp.Or(f.Limit, 50); len(jobs) > 0 && len(jobs) == limit {
		d.NextBefore = jobs[len(jobs)-1].ID
	}
	if c.Request().Header.Get("HX-Target") == "jobs-table" {
		return render(c, http.StatusOK, templates.JobsTable(d))
	}
	return render(c, http.StatusOK, templates.Jobs(h.page(c, "Jobs", "jobs"), d))
}

// Job shows one job with its steps.
func (h *Handlers) Job(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	j, err := h.DB.JobByID(c.Request().Context(), id)
	if err != nil {
		return h.NotFound(c)
	}
	if c.Request().Header.Get("HX-Target") == "job-detail" {
		return render(c, http.StatusOK, templates.JobDetail(j))
	}
	return render(c, http.StatusOK, templates.JobPage(h.page(c, "Job", "jobs"), j))
}
