package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/restore"
	"github.com/sqlvault/sqlvault/templates"
)

// manyForm reads the multi-database wizard: the source instance, the
// databases ticked, one second, and the target shared by all.
func manyForm(c echo.Context) templates.RestoreManyForm {
	f := templates.RestoreManyForm{At: strings.TrimSpace(c.FormValue("at")), Mode: c.FormValue("mode"),
		Suffix: strings.TrimSpace(c.FormValue("suffix")), Overwrite: formBool(c, "overwrite"),
		RemoveFromGroup: formBool(c, "remove_from_group"), Finish: c.FormValue("finish")}
	f.SourceID, _ = formInt(c, "server")
	f.ServerID, _ = formInt(c, "server_id")
	if form, err := c.FormParams(); err == nil {
		for _, v := range form["items"] {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && !slices.Contains(f.ItemIDs, n) {
				f.ItemIDs = append(f.ItemIDs, n)
			}
		}
	}
	return f
}

// manyRequest is the coordinator's request for the form: each database
// keeps its name (original) or gets the suffix (alternate).
func manyRequest(f templates.RestoreManyForm, items []db.Item) (coordinator.RestoreRequest, error) {
	at, err := parseAt(f.At)
	if err != nil {
		return coordinator.RestoreRequest{}, err
	}
	t := restoreTarget(templates.RestoreForm{Mode: f.Mode, ServerID: f.ServerID, Overwrite: f.Overwrite,
		RemoveFromGroup: f.RemoveFromGroup, Finish: f.Finish})
	r := coordinator.RestoreRequest{PointInTime: at, Target: t}
	for _, it := range items {
		if !slices.Contains(f.ItemIDs, it.ID) {
			continue
		}
		ri := coordinator.RestoreItem{ItemID: it.ID}
		if f.Mode == coordinator.ModeAlternate {
			ri.DatabaseName = it.DatabaseName + f.Suffix
		}
		r.Items = append(r.Items, ri)
	}
	if len(r.Items) < 2 {
		return r, &engine.Error{Code: engine.CodeInvalidRequest, Message: "tick at least two databases to restore them together",
			Err: &coordinator.FieldError{Field: "items", Message: "tick two or more databases"}}
	}
	return r, nil
}

// manyData is the wizard for a source instance: its restorable items and
// the seconds every ticked one reaches.
func (h *Handlers) manyData(c echo.Context, f templates.RestoreManyForm) (templates.RestoreManyData, error) {
	ctx := c.Request().Context()
	d := templates.RestoreManyData{Form: f}
	src, err := h.DB.ServerByID(ctx, f.SourceID)
	if err != nil {
		return d, err
	}
	d.Source = src
	items, err := h.DB.ListItems(ctx, db.ItemFilter{ServerID: src.ID})
	if err != nil {
		return d, err
	}
	for _, it := range items {
		if it.LatestPoint != nil {
			d.Items = append(d.Items, it)
		}
	}
	if d.Servers, err = h.DB.ListServers(ctx); err != nil {
		return d, err
	}
	if d.Form.ServerID == 0 {
		d.Form.ServerID = src.ID
	}
	if d.Form.Mode == "" {
		d.Form.Mode, d.Form.Suffix = coordinator.ModeAlternate, cmpOrStr(d.Form.Suffix, "_restored")
	}
	var chosen []int64
	for _, it := range d.Items {
		if slices.Contains(f.ItemIDs, it.ID) {
			chosen = append(chosen, it.ID)
		}
	}
	if len(chosen) > 0 {
		if d.Ranges, err = h.Coord.CommonRanges(ctx, chosen); err != nil {
			return d, err
		}
	}
	if len(d.Ranges) > 0 {
		d.Latest = d.Ranges[len(d.Ranges)-1].To.UTC().Format(templates.TimeFormat)
		if c.Request().Method == http.MethodGet && !inRanges(d.Form.At, d.Ranges) {
			d.Form.At = d.Latest // ticking another database may move the seconds all reach
		}
	}
	return d, nil
}

// inRanges reports whether the form's second lies in one of the ranges.
func inRanges(at string, rs []restore.Range) bool {
	t, err := parseAt(at)
	return err == nil && slices.ContainsFunc(rs, func(r restore.Range) bool { return !t.Before(r.From) && !t.After(r.To) })
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RestoreMany is the wizard restoring several databases of one instance
// to one second in one job (GET /restore?server=ID).
func (h *Handlers) RestoreMany(c echo.Context) error {
	d, err := h.manyData(c, manyForm(c))
	if errors.Is(err, db.ErrNotFound) {
		return h.NotFound(c)
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.RestoreMany(h.page(c, "Restore several databases", "restore"), d))
}

// StartRestoreMany checks the choice and shows what will run, then, once
// confirmed, queues the one job and goes to its page.
func (h *Handlers) StartRestoreMany(c echo.Context) error {
	ctx := c.Request().Context()
	f := manyForm(c)
	d, err := h.manyData(c, f)
	if errors.Is(err, db.ErrNotFound) {
		return h.NotFound(c)
	}
	if err != nil {
		return err
	}
	back := "/restore?server=" + strconv.FormatInt(f.SourceID, 10)
	r, err := manyRequest(f, d.Items)
	if err == nil && f.Mode == coordinator.ModeOriginal && !f.Overwrite {
		err = engine.Errorf(engine.CodeOverwriteNotConfirmed, "restoring over the original databases replaces them; tick Overwrite to confirm")
	}
	if err == nil {
		r, err = h.Coord.CheckRestoreMany(ctx, r)
	}
	if err == nil && c.FormValue("confirm") != "yes" {
		pushURL(c, back)
		return render(c, http.StatusOK, templates.RestoreManyConfirm(h.page(c, "Confirm restore", "restore"),
			templates.RestoreManyConfirmData{Data: d, Request: r, Finish: finishWords(templates.RestoreForm{Finish: f.Finish})}))
	}
	var jobID int64
	if err == nil {
		jobID, err = h.Coord.Restore(ctx, r)
	}
	if err == nil {
		return seeOther(c, "/jobs/"+strconv.FormatInt(jobID, 10))
	}
	d.Problem = templates.ProblemOf(err)
	if field := manyFieldOf(err); field != "" {
		msg := engine.MessageOf(err)
		var fe *coordinator.FieldError
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		d.Errors = templates.FieldErrs{field: msg}
	}
	pushURL(c, back)
	return render(c, statusFor(err), templates.RestoreMany(h.page(c, "Restore several databases", "restore"), d))
}

// manyFieldOf maps an error to the multi-database wizard's field.
func manyFieldOf(err error) string {
	switch coordinator.FieldOf(err) {
	case "items", "item_id":
		return "items"
	case "target.database_name":
		return "suffix"
	case "point_in_time":
		return "at"
	}
	if f := restoreFieldOf(err); f != "database_name" {
		return f
	}
	return "suffix"
}
