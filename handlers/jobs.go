package handlers

import (
	"cmp"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/templates"
)

var sinceDurations = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// Jobs lists jobs with filters; the table refreshes itself while jobs run.
func (h *Handlers) Jobs(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := jobFilter(c)
	if err != nil {
		return h.ErrorPage(c, http.StatusBadRequest, "Bad filter", err.Error())
	}
	since := c.QueryParam("since")
	if d, ok := sinceDurations[since]; ok {
		f.Since = time.Now().Add(-d)
	} else {
		since = ""
	}
	jobs, err := h.DB.ListJobs(ctx, f)
	if err != nil {
		return err
	}
	d := templates.JobsData{Jobs: jobs, Status: f.Status, Operation: f.Operation, ItemID: f.ItemID, Since: since,
		Query: c.Request().URL.RawQuery, Now: time.Now()}
	if limit := cmp.Or(f.Limit, 50); len(jobs) > 0 && len(jobs) == limit {
		d.NextBefore = jobs[len(jobs)-1].ID
	}
	if c.Request().Header.Get("HX-Target") == "jobs-table" {
		return render(c, http.StatusOK, templates.JobsTable(d))
	}
	if d.Items, err = h.DB.ListItems(ctx, db.ItemFilter{NoPointTimes: true}); err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Jobs(h.page(c, "Jobs", "jobs"), d))
}

func (h *Handlers) jobView(c echo.Context, id int64) (templates.JobView, error) {
	ctx := c.Request().Context()
	j, err := h.DB.JobByID(ctx, id)
	if err != nil {
		return templates.JobView{}, err
	}
	v := templates.JobView{Job: j, Now: time.Now()}
	if j.Operation == "restore" {
		var r coordinator.RestoreRequest
		if json.Unmarshal([]byte(j.Params), &r) == nil {
			v.Restore = &r
		}
	}
	if j.Operation == "verify" && j.ItemID != nil {
		if ver, ok, err := h.DB.VerificationOfJob(ctx, id); err == nil && ok {
			v.Verification = &ver
		}
	}
	if j.Operation == "restore" && j.Kind == "files" && j.Status == db.JobCompleted && h.Coord != nil {
		if res, err := h.Coord.RestoreFiles(ctx, id); err == nil {
			v.Files = &res
		} else {
			v.Problem = templates.ProblemOf(err)
		}
	}
	return v, nil
}

// Job shows one job with its steps.
func (h *Handlers) Job(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	v, err := h.jobView(c, id)
	if err != nil {
		return h.NotFound(c)
	}
	p := h.page(c, "Job", "jobs")
	if c.Request().Header.Get("HX-Target") == "job-detail" {
		return render(c, http.StatusOK, templates.JobDetail(p, v))
	}
	return render(c, http.StatusOK, templates.JobPage(p, v))
}

// JobProgress is the fragment that shows a job in place on other pages.
func (h *Handlers) JobProgress(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	j, err := h.DB.JobByID(c.Request().Context(), id)
	if err != nil {
		return h.NotFound(c)
	}
	refresh, target := safePath(c.QueryParam("refresh")), c.QueryParam("target")
	if len(target) < 2 || target[0] != '#' {
		refresh, target = "", ""
	}
	if !isFragment(c) {
		return seeOther(c, "/jobs/"+c.Param("id"))
	}
	return render(c, http.StatusOK, templates.JobProgress(j, time.Now(), refresh, target, true))
}

// CancelJob cancels a queued or running job.
func (h *Handlers) CancelJob(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	if err := h.Coord.Cancel(c.Request().Context(), id); err != nil {
		v, verr := h.jobView(c, id)
		if verr != nil {
			return h.NotFound(c)
		}
		v.Problem = templates.ProblemOf(err)
		pushURL(c, "/jobs/"+c.Param("id"))
		return render(c, statusFor(err), templates.JobPage(h.page(c, "Job", "jobs"), v))
	}
	return seeOther(c, "/jobs/"+c.Param("id"))
}
