package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/templates"
)

const itemsPerPage = 50

// Items lists backup items, filtered by health, a page at a time.
func (h *Handlers) Items(c echo.Context) error {
	ctx := c.Request().Context()
	pol, _ := strconv.ParseInt(c.QueryParam("policy"), 10, 64)
	srv, _ := strconv.ParseInt(c.QueryParam("server"), 10, 64)
	q := templates.ItemsQuery{Search: strings.TrimSpace(c.QueryParam("q")), ServerID: srv, PolicyID: pol}
	d := templates.ItemsData{Health: c.QueryParam("health"), Query: q, Now: time.Now(), PrevOffset: -1}
	var err error
	if d.Servers, err = h.DB.ListServers(ctx); err != nil {
		return err
	}
	if d.Policies, err = h.Coord.Policies(ctx); err != nil {
		return err
	}
	off, _ := strconv.Atoi(c.QueryParam("offset"))
	f := db.ItemFilter{PolicyID: pol, ServerID: srv, Search: q.Search}
	if d.Health != "" {
		// Health is stored in the catalog: the page and a count, by index.
		if h.Coord != nil {
			if err := h.Coord.EnsureHealth(ctx); err != nil {
				return err
			}
		}
		if d.Total, err = h.DB.CountItemsByHealth(ctx, f, d.Health, d.Now); err != nil {
			return err
		}
		off = min(max(off, 0), max(d.Total-1, 0))
		f.Limit, f.Offset = itemsPerPage, off
		items, err := h.DB.ListItemsByHealth(ctx, f, d.Health, d.Now)
		if err != nil {
			return err
		}
		if d.Items, err = h.viewsOf(c, items); err != nil {
			return err
		}
	} else {
		// Only the page is read.
		if d.Total, err = h.DB.CountItems(ctx, f); err != nil {
			return err
		}
		off = min(max(off, 0), max(d.Total-1, 0))
		f.Limit, f.Offset = itemsPerPage, off
		if d.Items, err = h.itemViews(c, f); err != nil {
			return err
		}
	}
	d.Offset = off
	if off > 0 {
		d.PrevOffset = max(off-itemsPerPage, 0)
	}
	if off+itemsPerPage < d.Total {
		d.NextOffset = off + itemsPerPage
	}
	if d.Verified, err = h.DB.LatestItemVerifications(ctx); err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Items(h.page(c, "Backup items", "items"), d))
}

func (h *Handlers) itemData(c echo.Context, id int64) (templates.ItemData, error) {
	ctx := c.Request().Context()
	it, err := h.DB.ItemByID(ctx, id)
	if err != nil {
		return templates.ItemData{}, err
	}
	views, err := h.viewsOf(c, []db.Item{it})
	if err != nil {
		return templates.ItemData{}, err
	}
	d := templates.ItemData{ItemView: views[0], Now: time.Now()}
	if d.Points, err = h.DB.ListPoints(ctx, id); err != nil {
		return d, err
	}
	if d.Verifications, err = h.DB.LatestVerifications(ctx, id); err != nil {
		return d, err
	}
	d.Shown = len(d.Points)
	if c.QueryParam("points") != "all" {
		d.Shown = min(d.Shown, 50)
	}
	if d.Totals, err = h.DB.ItemPointTotals(ctx, id); err != nil {
		return d, err
	}
	if o, ok, err := h.Coord.OriginalReplicaOf(ctx, id, 0); ok && err == nil {
		d.Primary = o.ServerName // the header names the group and its primary
	}
	if d.Policies, err = h.Coord.Policies(ctx); err != nil {
		return d, err
	}
	// The running backup, or else the last one if it ended lately: its
	// outcome stays in view after the page refreshes around it.
	if jobs, err := h.DB.ListJobs(ctx, db.JobFilter{ItemID: id, Operation: "backup", Limit: 5}); err == nil {
		for i, j := range jobs {
			if j.Status == db.JobInProgress || j.Status == db.JobQueued {
				d.Job = &jobs[i]
				break
			}
		}
		if d.Job == nil && len(jobs) > 0 && jobs[0].EndedAt != nil && time.Since(*jobs[0].EndedAt) < 15*time.Minute {
			d.Job = &jobs[0]
		}
	}
	return d, nil
}

// Item shows one backup item with its recovery points and actions.
func (h *Handlers) Item(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	d, err := h.itemData(c, id)
	if err != nil {
		return h.NotFound(c)
	}
	return render(c, http.StatusOK, templates.ItemPage(h.page(c, d.DatabaseName, "items"), d))
}

// ItemSummary is the fragment of an item's protection summary.
func (h *Handlers) ItemSummary(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	if !isFragment(c) {
		return seeOther(c, "/items/"+c.Param("id"))
	}
	d, err := h.itemData(c, id)
	if err != nil {
		return h.NotFound(c)
	}
	return render(c, http.StatusOK, templates.ItemSummary(d))
}

// BackupNow queues an on-demand backup and shows its progress in place.
func (h *Handlers) BackupNow(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	days, err := formInt(c, "retain_days")
	var jobID int64
	if err == nil {
		jobID, err = h.Coord.BackupNow(ctx, id, c.FormValue("type"), int(days))
	}
	if !isFragment(c) {
		if err != nil {
			return h.itemProblem(c, id, err)
		}
		return seeOther(c, "/jobs/"+strconv.FormatInt(jobID, 10))
	}
	if err != nil {
		return render(c, http.StatusOK, templates.InlineProblem(templates.ProblemOf(err)))
	}
	j, err := h.DB.JobByID(ctx, jobID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.JobProgress(j, time.Now(), "/items/"+c.Param("id"), "#main", true))
}

// itemProblem re-renders the item page with an error.
func (h *Handlers) itemProblem(c echo.Context, id int64, err error) error {
	d, derr := h.itemData(c, id)
	if derr != nil {
		return h.pageErr(c, err)
	}
	d.Problem = templates.ProblemOf(err)
	pushURL(c, "/items/"+strconv.FormatInt(id, 10))
	return render(c, statusFor(err), templates.ItemPage(h.page(c, d.DatabaseName, "items"), d))
}

// StopProtection asks for confirmation, naming what would be deleted, then
// stops the item's backups.
func (h *Handlers) StopProtection(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	del := c.FormValue("delete_data") == "delete"
	if c.FormValue("confirm") != "yes" || c.Request().Method != http.MethodPost {
		it, err := h.DB.ItemByID(ctx, id)
		if err != nil {
			return h.NotFound(c)
		}
		t, err := h.DB.ItemPointTotals(ctx, id)
		if err != nil {
			return err
		}
		pushURL(c, "/items/"+c.Param("id")+"/stop?delete_data="+map[bool]string{true: "delete", false: "keep"}[del])
		return render(c, http.StatusOK, templates.StopConfirm(h.page(c, "Stop protection", "items"), templates.StopData{Item: it, DeleteData: del, Totals: t}))
	}
	if err := h.Coord.StopProtection(ctx, id, del); engine.CodeOf(err) == engine.CodeApprovalNeeded {
		return h.afterPortalChange(c, "item.stop_delete", nil, err, "")
	} else if err != nil {
		return h.itemProblem(c, id, err)
	}
	msg := "Protection stopped; the recovery points are kept."
	if del {
		msg = "Protection stopped; the recovery points are deleted (undeletable while soft delete keeps them)."
	}
	return h.seeOtherFlash(c, "/items/"+c.Param("id"), msg)
}

// ResumeProtection restarts an item's backups with a policy.
func (h *Handlers) ResumeProtection(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	pid, err := formInt(c, "policy_id")
	if err == nil {
		_, err = h.Coord.ResumeProtection(c.Request().Context(), id, pid)
	}
	if err != nil {
		return h.itemProblem(c, id, err)
	}
	return h.seeOtherFlash(c, "/items/"+c.Param("id"), "Protection resumed.")
}
