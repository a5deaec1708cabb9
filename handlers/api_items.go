package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/restore"
)

// itemJSON is a protected item with its RPO.
type itemJSON struct {
	db.Item
	RPOSeconds       *int64 `json:"rpo_seconds"`        // since the newest restorable point; null without one
	RPOTargetSeconds *int64 `json:"rpo_target_seconds"` // what the policy promises; null without a policy
	RPOBreached      bool   `json:"rpo_breached"`       // over twice the target
	JobID            *int64 `json:"job_id,omitempty"`   // the backup a protect or resume queued
}

// toItemsJSON adds health to items, reading each policy once.
func (h *Handlers) toItemsJSON(ctx context.Context, items []db.Item) []itemJSON {
	health := h.Coord.HealthOf(ctx, items)
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = withHealth(it, health[i])
	}
	return out
}

func withHealth(it db.Item, hl coordinator.ItemHealth) itemJSON {
	out := itemJSON{Item: it}
	if hl.HasPoint {
		s := int64(hl.RPO / time.Second)
		out.RPOSeconds = &s
	}
	if hl.Target > 0 {
		s := int64(hl.Target / time.Second)
		out.RPOTargetSeconds = &s
	}
	out.RPOBreached = hl.Breaching
	return out
}

func (h *Handlers) itemJSON(ctx context.Context, id int64) (itemJSON, error) {
	it, err := h.DB.ItemByID(ctx, id)
	if err != nil {
		return itemJSON{}, notFound(err, "backup item %d does not exist", id)
	}
	return h.toItemsJSON(ctx, []db.Item{it})[0], nil
}

// protectBody is POST /items.
type protectBody struct {
	DatabaseID int64 `json:"database_id"`
	PolicyID   int64 `json:"policy_id"`
}

// ProtectAPI puts a database under a policy and queues its first full
// backup.
func (h *Handlers) ProtectAPI(c echo.Context) error {
	var b protectBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	switch {
	case b.DatabaseID <= 0:
		return apiErr(c, invalidField("database_id", "choose the database to protect"))
	case b.PolicyID <= 0:
		return apiErr(c, invalidField("policy_id", "choose the policy that protects it"))
	}
	ctx := c.Request().Context()
	it, jobID, err := h.Coord.Protect(ctx, b.DatabaseID, b.PolicyID)
	if err != nil && it.ID == 0 {
		return apiErr(c, err)
	}
	if err != nil {
		h.Logger.Warn("item protected, first backup not queued", "item", it.ID, "err", err)
	}
	out, err := h.itemJSON(ctx, it.ID)
	if err != nil {
		return apiErr(c, err)
	}
	if jobID != 0 {
		out.JobID = &jobID
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/items/%d", it.ID))
	return c.JSON(http.StatusCreated, out)
}

var itemStates = map[string]bool{"": true, db.ItemProtected: true, db.ItemStopped: true, db.ItemStoppedDeleted: true}

// ListItemsAPI lists protected items, filtered by ?server_id=,
// ?policy_id= and ?state=.
func (h *Handlers) ListItemsAPI(c echo.Context) error {
	var f db.ItemFilter
	var err error
	if f.ServerID, err = queryInt(c, "server_id"); err != nil {
		return apiErr(c, err)
	}
	if f.PolicyID, err = queryInt(c, "policy_id"); err != nil {
		return apiErr(c, err)
	}
	if f.State = c.QueryParam("state"); !itemStates[f.State] {
		return apiErr(c, invalidField("state", "%q is not one of protected, stopped, stopped_deleted", f.State))
	}
	ctx := c.Request().Context()
	items, err := h.DB.ListItems(ctx, f)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": h.toItemsJSON(ctx, items)})
}

// GetItemAPI returns one item.
func (h *Handlers) GetItemAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	out, err := h.itemJSON(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// backupBody is POST /items/:id/backup.
type backupBody struct {
	Type       string `json:"type"`
	RetainDays int    `json:"retain_days"`
}

// BackupNowAPI queues an on-demand backup.
func (h *Handlers) BackupNowAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b backupBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	jobID, err := h.Coord.BackupNow(c.Request().Context(), id, b.Type, b.RetainDays)
	if err != nil {
		return apiErr(c, err)
	}
	return jobAccepted(c, jobID)
}

// stopBody is POST /items/:id/stop.
type stopBody struct {
	DeleteData bool `json:"delete_data"`
}

// StopProtectionAPI stops scheduled backups, keeping the recovery points
// or (delete_data) soft-deleting them.
func (h *Handlers) StopProtectionAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b stopBody
	if err := decodeBody(c, &b, true); err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if err := h.Coord.StopProtection(ctx, id, b.DeleteData); err != nil {
		return apiErr(c, err)
	}
	out, err := h.itemJSON(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// resumeBody is POST /items/:id/resume; policy_id 0 or absent keeps the
// item's policy.
type resumeBody struct {
	PolicyID int64 `json:"policy_id"`
}

// ResumeProtectionAPI restarts scheduled backups of a stopped item.
func (h *Handlers) ResumeProtectionAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b resumeBody
	if err := decodeBody(c, &b, true); err != nil {
		return apiErr(c, err)
	}
	if b.PolicyID < 0 {
		return apiErr(c, invalidField("policy_id", "must be a policy id"))
	}
	ctx := c.Request().Context()
	if _, err := h.DB.ItemByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "backup item %d does not exist", id))
	}
	jobID, err := h.Coord.ResumeProtection(ctx, id, b.PolicyID)
	if err != nil {
		if engine.CodeOf(err) == engine.CodeNotFound {
			err = invalidField("policy_id", "%s", engine.MessageOf(err))
		}
		return apiErr(c, err)
	}
	out, err := h.itemJSON(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	if jobID != 0 {
		out.JobID = &jobID
	}
	return c.JSON(http.StatusOK, out)
}

// ListPointsAPI lists an item's recovery points, oldest first;
// ?deleted=true lists those retention soft-deleted (undelete brings them
// back).
func (h *Handlers) ListPointsAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if _, err := h.DB.ItemByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "backup item %d does not exist", id))
	}
	var points []db.Point
	switch c.QueryParam("deleted") {
	case "", "false":
		points, err = h.DB.ListPoints(ctx, id)
	case "true":
		points, err = h.DB.ListDeletedPoints(ctx, id)
	default:
		return apiErr(c, invalidField("deleted", "must be true or false, not %q", c.QueryParam("deleted")))
	}
	if err != nil {
		return apiErr(c, err)
	}
	views, err := h.withVerifications(ctx, id, points) // [] rather than null
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"recovery_points": views})
}

// LogRangesAPI returns the spans of an item restorable to any second.
func (h *Handlers) LogRangesAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ranges, err := h.Coord.LogRanges(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	if ranges == nil {
		ranges = []restore.Range{}
	}
	for i := range ranges {
		ranges[i].From, ranges[i].To = ranges[i].From.UTC(), ranges[i].To.UTC()
	}
	return c.JSON(http.StatusOK, map[string]any{"log_ranges": ranges})
}

// planStepJSON is one RESTORE of a plan.
type planStepJSON struct {
	RecoveryPointID int64      `json:"recovery_point_id"`
	Type            string     `json:"type"`
	StartTime       time.Time  `json:"start_time"`
	EndTime         time.Time  `json:"end_time"`
	FirstLSN        string     `json:"first_lsn"`
	LastLSN         string     `json:"last_lsn"`
	StopAt          *time.Time `json:"stop_at,omitempty"`
}

// PlanAPI answers the chain a restore to ?recovery_point_id= or
// ?point_in_time= would run, or the planner's refusal (422 with its code).
func (h *Handlers) PlanAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	pointID, err := queryInt(c, "recovery_point_id")
	if err != nil {
		return apiErr(c, err)
	}
	at, err := queryTime(c, "point_in_time")
	if err != nil {
		return apiErr(c, err)
	}
	if pointID != 0 && at != nil {
		return apiErr(c, invalidField("point_in_time", "give recovery_point_id or point_in_time, not both"))
	}
	ctx := c.Request().Context()
	if _, err := h.DB.ItemByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "backup item %d does not exist", id))
	}
	plan, err := h.Coord.Plan(ctx, id, pointID, at)
	if err != nil {
		return apiErr(c, err)
	}
	steps := make([]planStepJSON, 0, len(plan.Steps))
	for _, s := range plan.Steps {
		p := s.Point
		steps = append(steps, planStepJSON{RecoveryPointID: p.ID, Type: p.Kind, StartTime: p.Start.UTC(), EndTime: p.End.UTC(),
			FirstLSN: p.FirstLSN, LastLSN: p.LastLSN, StopAt: s.StopAt})
	}
	return c.JSON(http.StatusOK, map[string]any{"item_id": id, "steps": steps, "summary": plan.String()})
}

// UndeletePointAPI brings back a recovery point retention soft-deleted;
// it is kept 14 more days.
func (h *Handlers) UndeletePointAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if _, err := h.DB.PointByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "recovery point %d does not exist", id))
	}
	if err := h.Coord.UndeletePoint(ctx, id); err != nil {
		if engine.CodeOf(err) == engine.CodeNotFound {
			// It exists, so it is live: nothing to undo.
			err = engine.Errorf(engine.CodeConflict, "recovery point %d is not deleted", id)
		}
		return apiErr(c, err)
	}
	p, err := h.DB.PointByID(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, p)
}

// PurgePointAPI deletes a soft-deleted point for good before its soft
// delete period ends: POST /recovery-points/{id}/purge answers 204.
func (h *Handlers) PurgePointAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	if err := h.Coord.PurgePoint(c.Request().Context(), id); err != nil {
		return apiErr(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// ChangePolicyAPI moves a protected item to another policy:
// PUT /items/{id} {"policy_id": ID}.
func (h *Handlers) ChangePolicyAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b resumeBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if err := h.Coord.ChangePolicy(ctx, id, b.PolicyID); err != nil {
		return apiErr(c, err)
	}
	out, err := h.itemJSON(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}
