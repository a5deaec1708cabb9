package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/templates"
)

// Overview is the landing page.
func (h *Handlers) Overview(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now().UTC()
	s, err := h.DB.Summary(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	jobs, err := h.DB.JobCounts(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	days, err := h.DB.SummaryBytesPerDay(ctx, now, 14)
	if err != nil {
		return err
	}
	d := templates.OverviewData{Servers: s.Servers, Items: s.Items, Jobs24h: jobs, OpenAlerts: s.OpenAlerts,
		ServersBy: map[string]int{}, Days: days, Now: now}
	servers, err := h.DB.ListServers(ctx)
	if err != nil {
		return err
	}
	for _, srv := range servers {
		d.ServersBy[srv.Status]++
	}
	jobs["active"] = s.JobsRunning
	if err := h.overviewHealth(c, &d); err != nil {
		return err
	}
	if h.Coord != nil {
		vs, err := h.Coord.VaultStats(ctx)
		if err != nil {
			d.VaultProblem = templates.ProblemOf(err)
		}
		d.Logical, d.Stored = vs.LogicalBytes, vs.StoredBytes
	}
	return render(c, http.StatusOK, templates.Overview(h.page(c, "Overview", "overview"), d))
}

// overviewHealth counts the items by their stored health, lists the first
// ones breaching their RPO and counts the verified ones.
func (h *Handlers) overviewHealth(c echo.Context, d *templates.OverviewData) error {
	ctx := c.Request().Context()
	if h.Coord != nil {
		if err := h.Coord.EnsureHealth(ctx); err != nil {
			return err
		}
	}
	var err error
	if d.ByHealth, err = h.DB.HealthCounts(ctx, d.Now); err != nil {
		return err
	}
	f := db.ItemFilter{Limit: templates.OverviewBreaching}
	items, err := h.DB.ListItemsByHealth(ctx, f, db.HealthBreached, d.Now)
	if err != nil {
		return err
	}
	if d.Breaching, err = h.viewsOf(c, items); err != nil {
		return err
	}
	// The verified tile needs only each item's state.
	states, err := h.DB.ItemStates(ctx)
	if err != nil {
		return err
	}
	views := make([]templates.ItemView, 0, len(states))
	for id, st := range states {
		views = append(views, templates.ItemView{Item: db.Item{ID: id, State: st}})
	}
	return h.verifiedTile(ctx, d, views, d.Now)
}

// itemViews lists items with their health and last backup outcome.
func (h *Handlers) itemViews(c echo.Context, f db.ItemFilter) ([]templates.ItemView, error) {
	items, err := h.DB.ListItems(c.Request().Context(), f)
	if err != nil {
		return nil, err
	}
	return h.viewsOf(c, items)
}

// viewsOf adds to items their health (one policy read per policy) and
// their last backup outcome (one query).
func (h *Handlers) viewsOf(c echo.Context, items []db.Item) ([]templates.ItemView, error) {
	ctx := c.Request().Context()
	if len(items) == 0 {
		return nil, nil // an empty filter asks about no item (not every item)
	}
	var ids []int64
	if len(items) <= 100 { // a few: ask for those; many: for all
		for _, it := range items {
			ids = append(ids, it.ID)
		}
	}
	last, err := h.DB.LastBackupStatus(ctx, ids...)
	if err != nil {
		return nil, err
	}
	var healths []coordinator.ItemHealth
	if h.Coord != nil {
		healths = h.Coord.HealthOf(ctx, items)
	}
	groups, err := h.DB.ItemGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]templates.ItemView, len(items))
	for i, it := range items {
		out[i] = templates.ItemView{Item: it, Group: groups[it.ID]}
		if healths != nil {
			out[i].Health = healths[i]
		}
		if j, ok := last[it.ID]; ok {
			out[i].Last = &j
		}
	}
	return out, nil
}

// isFragment reports whether htmx asked for a part of a page (not a
// boosted navigation, which wants the whole page).
func isFragment(c echo.Context) bool {
	r := c.Request()
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true"
}

// formInt reads an optional non-negative integer form field.
func formInt(c echo.Context, name string) (int64, error) {
	s := strings.TrimSpace(c.FormValue(name))
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, engine.Errorf(engine.CodeInvalidRequest, "%s must be a whole number, not %q", name, s)
	}
	return v, nil
}

func formBool(c echo.Context, name string) bool {
	switch c.FormValue(name) {
	case "on", "true", "1", "yes":
		return true
	}
	return false
}

// statusFor is the HTTP status a page answers a failed form with.
func statusFor(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return statusOf(engine.CodeOf(err))
}

// seeOther ends a successful form post: a redirect for browsers, or for a
// boosted htmx post the same redirect, which htmx follows and pushes.
func seeOther(c echo.Context, to string) error {
	return c.Redirect(http.StatusSeeOther, to)
}

// pushURL tells htmx which address to show for a page answered to a
// form post (a boosted post would otherwise show the post's own address,
// which a reload cannot GET).
func pushURL(c echo.Context, to string) {
	c.Response().Header().Set("HX-Push-Url", to)
}

// safePath keeps a refresh or return address on this site.
func safePath(p string) string {
	u, err := url.Parse(p)
	if p == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(p, "//") {
		return ""
	}
	return p
}

// NotFound is the portal's 404 page.
func (h *Handlers) NotFound(c echo.Context) error {
	return h.ErrorPage(c, http.StatusNotFound, "Page not found", "There is no page at "+c.Request().URL.Path+".")
}

// pageErr shows an error from the engine as the error page.
func (h *Handlers) pageErr(c echo.Context, err error) error {
	p := templates.ProblemOf(err)
	if engine.CodeOf(err) == engine.CodeInternal {
		h.Logger.Error("page request failed", "path", c.Request().URL.Path, "err", err)
	}
	msg := p.Message + " " + p.Action
	return h.ErrorPage(c, statusFor(err), http.StatusText(statusFor(err)), msg)
}
