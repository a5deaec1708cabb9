package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/templates"
)

// parseAt reads a point in time, UTC, to the second.
func parseAt(s string) (*time.Time, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "UTC"))
	s = strings.TrimSuffix(strings.Replace(s, "T", " ", 1), "Z")
	if s == "" {
		return nil, engine.Errorf(engine.CodeInvalidRequest, "enter a date and time as YYYY-MM-DD HH:MM:SS (UTC)")
	}
	t, err := time.ParseInLocation(templates.TimeFormat, strings.TrimSpace(s), time.UTC)
	if err != nil {
		return nil, &engine.Error{Code: engine.CodeInvalidRequest, Message: fmt.Sprintf("%q is not a date and time as YYYY-MM-DD HH:MM:SS", s),
			Err: &coordinator.FieldError{Field: "at", Message: "write it as YYYY-MM-DD HH:MM:SS, UTC"}}
	}
	return &t, nil
}

func restoreForm(c echo.Context) templates.RestoreForm {
	f := templates.RestoreForm{At: strings.TrimSpace(c.FormValue("at")), Mode: c.FormValue("mode"),
		Name: strings.TrimSpace(c.FormValue("database_name")), Overwrite: formBool(c, "overwrite"),
		RemoveFromGroup: formBool(c, "remove_from_group")}
	f.PointID, _ = formInt(c, "recovery_point_id")
	if v := c.QueryParam("point"); v != "" && c.Request().Method == http.MethodGet {
		f.PointID, _ = strconv.ParseInt(v, 10, 64)
	}
	f.ServerID, _ = formInt(c, "server_id")
	f.ReplicaID, _ = formInt(c, "replica_server_id")
	f.Finish = c.FormValue("finish")
	if form, err := c.FormParams(); err == nil {
		names, paths := form["file_logical"], form["file_path"]
		for i := range min(len(names), len(paths)) {
			f.Files = append(f.Files, templates.FileChoice{Logical: names[i], Path: strings.TrimSpace(paths[i])})
		}
	}
	return f
}

// restoreTarget is the coordinator's target for the form's choice.
func restoreTarget(f templates.RestoreForm) coordinator.RestoreTarget {
	t := coordinator.RestoreTarget{Mode: f.Mode, ServerID: f.ServerID, DatabaseName: f.Name, Overwrite: f.Overwrite,
		RemoveFromGroup: f.RemoveFromGroup}
	if f.Mode == coordinator.ModeOriginal {
		t.ServerID = f.ReplicaID // a group database's replica; 0: its primary
	}
	switch f.Finish {
	case templates.FinishNoRecovery:
		no := false
		t.Recovery = &no
	case templates.FinishStandby:
		t.Standby = true
	}
	for _, fc := range f.Files {
		if fc.Path != "" {
			t.Files = append(t.Files, coordinator.FileMove{LogicalName: fc.Logical, PhysicalName: fc.Path})
		}
	}
	return t
}

// finishWords says in words what the options leave.
func finishWords(f templates.RestoreForm) string {
	s := map[string]string{templates.FinishNoRecovery: "; left RESTORING (WITH NORECOVERY) for more logs",
		templates.FinishStandby: "; left read-only in standby (WITH STANDBY)"}[f.Finish]
	if len(f.Files) > 0 {
		s += fmt.Sprintf("; %d file(s) placed as listed", len(f.Files))
	}
	return s
}

// RestoreFilesPage lists the backup's files with the paths the restore
// gives them, asking the target instance (RESTORE FILELISTONLY).
func (h *Handlers) RestoreFilesPage(c echo.Context) error {
	itemID, err := formInt(c, "item")
	if err != nil || itemID == 0 {
		return h.NotFound(c)
	}
	f := restoreForm(c)
	var d templates.RestoreFilesData
	var at *time.Time
	if f.PointID == 0 {
		at, err = parseAt(f.At)
	}
	var files []coordinator.ProposedFile
	if err == nil {
		files, err = h.Coord.ProposeFiles(c.Request().Context(), coordinator.RestoreRequest{ItemID: itemID, RecoveryPointID: f.PointID,
			PointInTime: at, Target: restoreTarget(f)})
	}
	if err != nil {
		d.Problem = templates.ProblemOf(err)
	}
	for _, p := range files {
		d.Files = append(d.Files, templates.FileChoice{Logical: p.LogicalName, Type: p.Type, BackupPath: p.BackupPath, Path: p.PhysicalName})
	}
	return render(c, http.StatusOK, templates.RestoreFiles(d))
}

// plan previews the chain for the form's choice.
func (h *Handlers) plan(c echo.Context, itemID int64, f templates.RestoreForm, points []db.Point) (templates.PlanView, *time.Time, error) {
	v := templates.PlanView{Points: map[int64]db.Point{}}
	for _, p := range points {
		v.Points[p.ID] = p
	}
	var at *time.Time
	if f.PointID == 0 {
		if f.At == "" {
			return v, nil, nil
		}
		var err error
		if at, err = parseAt(f.At); err != nil {
			v.Problem = templates.ProblemOf(err)
			return v, nil, err
		}
	}
	p, err := h.Coord.Plan(c.Request().Context(), itemID, f.PointID, at)
	if err != nil {
		v.Problem = templates.ProblemOf(err)
		return v, at, err
	}
	v.Plan = &p
	return v, at, nil
}

func (h *Handlers) restoreData(c echo.Context, itemID int64, f templates.RestoreForm) (templates.RestoreData, error) {
	ctx := c.Request().Context()
	var d templates.RestoreData
	d.Form = f
	if itemID == 0 {
		items, err := h.DB.ListItems(ctx, db.ItemFilter{})
		for _, it := range items {
			if it.LatestPoint != nil {
				d.Items = append(d.Items, it)
			}
		}
		return d, err
	}
	it, err := h.DB.ItemByID(ctx, itemID)
	if err != nil {
		return d, err
	}
	d.Item = &it
	if d.Points, err = h.DB.ListPoints(ctx, itemID); err != nil {
		return d, err
	}
	if d.Ranges, err = h.Coord.LogRanges(ctx, itemID); err != nil {
		return d, err
	}
	if d.Servers, err = h.DB.ListServers(ctx); err != nil {
		return d, err
	}
	h.originalReplica(c, &d)
	if d.Form.Name == "" {
		d.Form.Name = it.DatabaseName + "_restored"
	}
	if d.Form.At == "" && len(d.Ranges) > 0 {
		d.Form.At = d.Ranges[len(d.Ranges)-1].To.UTC().Format(templates.TimeFormat)
	}
	d.Plan, _, _ = h.plan(c, itemID, d.Form, d.Points)
	return d, nil
}

// Restore is the restore wizard: choose the database, then the point and
// the target.
func (h *Handlers) Restore(c echo.Context) error {
	if c.QueryParam("server") != "" {
		return h.RestoreMany(c)
	}
	itemID, _ := strconv.ParseInt(c.QueryParam("item"), 10, 64)
	d, err := h.restoreData(c, itemID, restoreForm(c))
	if errors.Is(err, db.ErrNotFound) {
		return h.NotFound(c)
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.Restore(h.page(c, "Restore", "restore"), d))
}

// RestorePlan is the fragment that previews the plan, or why there is none.
func (h *Handlers) RestorePlan(c echo.Context) error {
	itemID, err := formInt(c, "item")
	if err != nil || itemID == 0 {
		return h.NotFound(c)
	}
	points, err := h.DB.ListPoints(c.Request().Context(), itemID)
	if err != nil {
		return err
	}
	v, _, _ := h.plan(c, itemID, restoreForm(c), points)
	return render(c, http.StatusOK, templates.PlanPreview(v))
}

// restoreFieldOf maps the coordinator's field names to the wizard's.
func restoreFieldOf(err error) string {
	switch f := coordinator.FieldOf(err); f {
	case "target.database_name", "target.server_id", "target.mode", "target.files":
		return strings.TrimPrefix(f, "target.")
	case "target.standby":
		return "finish"
	case "target.remove_from_group":
		return "remove_from_group"
	case "recovery_point_id", "at":
		return "at"
	}
	switch engine.CodeOf(err) {
	case engine.CodeTimeNotCovered, engine.CodeLogChainBroken, engine.CodeRecoveryPointExpired, engine.CodeMissingFullBackup:
		return "at"
	case engine.CodeOverwriteNotConfirmed:
		return "overwrite"
	case engine.CodeTargetDatabaseExists:
		return "database_name"
	}
	return ""
}

// StartRestore shows the confirmation of the wizard's choice, then queues
// the restore and goes to its job.
func (h *Handlers) StartRestore(c echo.Context) error {
	if c.FormValue("many") == "1" {
		return h.StartRestoreMany(c)
	}
	ctx := c.Request().Context()
	itemID, err := formInt(c, "item")
	if err != nil || itemID == 0 {
		return h.NotFound(c)
	}
	f := restoreForm(c)
	it, err := h.DB.ItemByID(ctx, itemID)
	if err != nil {
		return h.NotFound(c)
	}
	points, err := h.DB.ListPoints(ctx, itemID)
	if err != nil {
		return err
	}
	pv, at, err := h.plan(c, itemID, f, points)
	if err == nil && pv.Plan == nil {
		err = &engine.Error{Code: engine.CodeInvalidRequest, Message: "choose a recovery point or enter a point in time",
			Err: &coordinator.FieldError{Field: "at", Message: "enter a date and time, or choose a recovery point"}}
	}
	req := coordinator.RestoreRequest{ItemID: itemID, RecoveryPointID: f.PointID, PointInTime: at, Target: restoreTarget(f)}
	if f.Mode == coordinator.ModeOriginal && !f.Overwrite && err == nil {
		err = engine.Errorf(engine.CodeOverwriteNotConfirmed, "restoring over %s replaces it; tick Overwrite to confirm", it.DatabaseName)
	}
	if err == nil && c.FormValue("confirm") != "yes" {
		target := map[string]string{
			coordinator.ModeOriginal: "the original database " + it.DatabaseName + " on " + h.originalServer(c, it, f) + ", replaced",
			coordinator.ModeFiles:    ".bak files to download, with the T-SQL script to restore them",
		}[f.Mode]
		if f.Mode == coordinator.ModeAlternate {
			target = "a new database " + f.Name
			if s, err := h.DB.ServerByID(ctx, f.ServerID); err == nil {
				target += " on " + s.Name
			}
			if f.Overwrite {
				target += " (replaced if it exists)"
			}
		}
		if target != "" {
			target += finishWords(f)
		}
		if target == "" {
			err = &engine.Error{Code: engine.CodeInvalidRequest, Message: "choose where to restore",
				Err: &coordinator.FieldError{Field: "target.mode", Message: "choose a new database, the original or files"}}
		} else {
			pushURL(c, "/restore?item="+strconv.FormatInt(itemID, 10))
			return render(c, http.StatusOK, templates.RestoreConfirm(h.page(c, "Confirm restore", "restore"),
				templates.RestoreConfirmData{Item: it, Form: f, Plan: pv, Target: target}))
		}
	}
	var jobID int64
	if err == nil {
		jobID, err = h.Coord.Restore(ctx, req)
	}
	if err == nil {
		return seeOther(c, "/jobs/"+strconv.FormatInt(jobID, 10))
	}
	d, derr := h.restoreData(c, itemID, f)
	if derr != nil {
		return derr
	}
	d.Problem = templates.ProblemOf(err)
	if field := restoreFieldOf(err); field != "" {
		msg := engine.MessageOf(err)
		var fe *coordinator.FieldError
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		d.Errors = templates.FieldErrs{field: msg}
	}
	pushURL(c, "/restore?item="+strconv.FormatInt(itemID, 10))
	return render(c, statusFor(err), templates.Restore(h.page(c, "Restore", "restore"), d))
}

// originalReplica fills in which replica an original restore of a group
// database replaces.
func (h *Handlers) originalReplica(c echo.Context, d *templates.RestoreData) {
	if h.Coord == nil {
		return
	}
	o, ok, err := h.Coord.OriginalReplicaOf(c.Request().Context(), d.Item.ID, d.Form.ReplicaID)
	if !ok {
		return
	}
	d.Original = &o
	if err != nil {
		d.OriginalProblem = engine.MessageOf(err)
	}
}

// originalServer names where an original restore goes, in words.
func (h *Handlers) originalServer(c echo.Context, it db.Item, f templates.RestoreForm) string {
	if h.Coord != nil {
		if o, ok, err := h.Coord.OriginalReplicaOf(c.Request().Context(), it.ID, f.ReplicaID); ok && err == nil {
			return o.Why + ", in availability group " + o.Group
		}
	}
	return it.ServerName
}
