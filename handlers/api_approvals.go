package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// ApprovalTTL is how long a request waits for a second admin.
const ApprovalTTL = 24 * time.Hour

const (
	approvalsKey = "sqlvault.approvals"
	bodyKey      = "sqlvault.body"
)

// approvalOps names the operation each guarded API route becomes when
// multi-user authorization holds it for approval; runApproved runs it.
var approvalOps = map[string]string{
	"POST /api/v1/items/:id/stop":               "item.stop_delete",
	"PUT /api/v1/items/:id":                     "item.change_policy",
	"PUT /api/v1/policies/:id":                  "policy.update",
	"DELETE /api/v1/servers/:id":                "server.remove",
	"POST /api/v1/recovery-points/:id/undelete": "recovery_point.undelete",
	"POST /api/v1/recovery-points/:id/purge":    "recovery_point.purge",
	"PUT /api/v1/settings":                      "settings.update",
}

// Approvals lets apiErr turn a refusal for want of approval into a
// request (the API's routes get it; the portal's refuse instead).
func (h *Handlers) Approvals(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(approvalsKey, h)
		return next(c)
	}
}

// keepBody remembers a request's decoded body, which an approved
// request is run with later.
func keepBody(c echo.Context, v any, err error) {
	if err == nil {
		c.Set(bodyKey, v)
	}
}

// person is who a principal acts for: a token made by a user is that
// user, so one admin's two tokens are still one admin.
func person(p Principal) string {
	if p.ViaToken && p.Owner != "" {
		return p.Owner
	}
	return p.Name
}

// approvalAnswer is the 202 of a request held for approval: the error
// shape with the request's id.
type approvalAnswer struct {
	APIError
	ApprovalID int64       `json:"approval_id"`
	Approval   db.Approval `json:"approval"`
}

// requestApproval records the refused operation as a pending request
// and answers 202 with UserErrorApprovalRequired.
func (h *Handlers) requestApproval(c echo.Context, cause error) error {
	op, ok := approvalOps[c.Request().Method+" "+c.Path()]
	if !ok {
		return c.JSON(http.StatusForbidden, APIError{Code: engine.CodeApprovalNeeded, Message: engine.MessageOf(cause),
			Action: engine.CodeApprovalNeeded.Action()})
	}
	a, err := h.newApproval(c, op, c.Get(bodyKey), cause)
	if err != nil {
		return apiErr(c, err)
	}
	msg := fmt.Sprintf("%s; request %d waits for another admin until %s", a.Summary, a.ID, a.ExpiresAt.Format(time.RFC3339))
	return c.JSON(http.StatusAccepted, approvalAnswer{APIError: APIError{Code: engine.CodeApprovalNeeded, Message: msg,
		Action: engine.CodeApprovalNeeded.Action()}, ApprovalID: a.ID, Approval: a})
}

// newApproval records a pending request for op on the request's :id,
// run later with params, and notes it in this request's audit entry.
func (h *Handlers) newApproval(c echo.Context, op string, params any, cause error) (db.Approval, error) {
	raw, _ := json.Marshal(params)
	p, _ := PrincipalOf(c)
	a, err := h.DB.CreateApproval(c.Request().Context(), db.Approval{Operation: op, TargetType: targetOf(op),
		TargetID: c.Param("id"), Summary: engine.MessageOf(cause), Params: string(raw), RequestedBy: person(p)}, ApprovalTTL)
	if err == nil {
		NoteAudit(c, "approval %d requested: %s", a.ID, a.Summary)
	}
	return a, err
}

func targetOf(op string) string {
	for i := range op {
		if op[i] == '.' {
			return op[:i]
		}
	}
	return op
}

// ListApprovalsAPI lists requests, newest first; ?status= filters.
func (h *Handlers) ListApprovalsAPI(c echo.Context) error {
	status := c.QueryParam("status")
	switch status {
	case "", db.ApprovalPending, db.ApprovalApproved, db.ApprovalRejected, db.ApprovalExpired:
	default:
		return apiErr(c, invalidField("status", "pending, approved, rejected or expired, not %q", status))
	}
	list, err := h.DB.ListApprovals(c.Request().Context(), status, 0)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"approvals": list})
}

// ApproveAPI approves a request and runs its operation as the requester.
func (h *Handlers) ApproveAPI(c echo.Context) error { return h.decideAPI(c, true) }

// RejectAPI rejects a request; nothing runs.
func (h *Handlers) RejectAPI(c echo.Context) error { return h.decideAPI(c, false) }

func (h *Handlers) decideAPI(c echo.Context, approve bool) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	a, err := h.decide(c, id, approve)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, a)
}

// decide records the decision of the principal and, on approval, runs
// the operation and records it in the audit log under the requester.
func (h *Handlers) decide(c echo.Context, id int64, approve bool) (db.Approval, error) {
	ctx := c.Request().Context()
	p, _ := PrincipalOf(c)
	a, err := h.DB.DecideApproval(ctx, id, person(p), approve)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return a, engine.Errorf(engine.CodeNotFound, "approval request %d does not exist", id)
	case errors.Is(err, db.ErrSelfApproval):
		return a, engine.Errorf(engine.CodeSelfApproval, "%s requested %d: another admin must decide it", a.RequestedBy, id)
	case errors.Is(err, db.ErrNotPending):
		return a, engine.Errorf(engine.CodeConflict, "approval request %d is %s, no longer pending", id, a.Status)
	case err != nil:
		return a, err
	}
	AuditTarget(c, id)
	if !approve {
		NoteAudit(c, "rejected %s requested by %s", a.Operation, a.RequestedBy)
		return a, nil
	}
	NoteAudit(c, "approved %s requested by %s", a.Operation, a.RequestedBy)
	// The operation outlives a client that goes away now: it was decided.
	ctx = context.WithoutCancel(ctx)
	runErr := h.requesterMayStill(ctx, a)
	if runErr == nil {
		runErr = h.runApproved(ctx, a)
	}
	result, outcome := "completed", db.AuditSuccess
	if runErr != nil {
		result, outcome = "failed: "+engine.MessageOf(runErr), db.AuditFailed
	}
	h.DB.SetApprovalResult(ctx, a.ID, result)
	e := db.AuditEntry{Actor: a.RequestedBy, Addr: c.RealIP(), Action: a.Operation, TargetType: a.TargetType,
		TargetID: a.TargetID, Outcome: outcome, Status: http.StatusOK,
		Detail: fmt.Sprintf("run on approval %d by %s: %s", a.ID, person(p), result)}
	if runErr != nil {
		e.Status = statusOf(engine.CodeOf(runErr))
	}
	if err := h.DB.RecordAudit(ctx, e); err != nil {
		h.Logger.Error("audit entry not recorded", "action", e.Action, "approval", a.ID, "err", err)
	}
	a.Result = result
	return a, nil
}

// requesterMayStill refuses to run a request whose requester is no
// longer an enabled admin: the operation runs with their rights.
func (h *Handlers) requesterMayStill(ctx context.Context, a db.Approval) error {
	u, err := h.DB.UserByName(ctx, a.RequestedBy)
	if err != nil {
		return nil // a token no user made (the CLI's): its role was checked at the request
	}
	if u.Disabled || u.Role != db.RoleAdmin {
		return engine.Errorf(engine.CodeForbidden, "%s is no longer an enabled admin", a.RequestedBy)
	}
	return nil
}

// runApproved runs an approved request's operation.
func (h *Handlers) runApproved(ctx context.Context, a db.Approval) error {
	id, _ := strconv.ParseInt(a.TargetID, 10, 64)
	ctx = coordinator.WithApproval(ctx, a.ID)
	switch a.Operation {
	case "item.stop_delete":
		return h.Coord.StopProtection(ctx, id, true)
	case "item.change_policy":
		var b resumeBody
		if err := json.Unmarshal([]byte(a.Params), &b); err != nil {
			return err
		}
		return h.Coord.ChangePolicy(ctx, id, b.PolicyID)
	case "policy.update":
		var p policy.Policy
		if err := json.Unmarshal([]byte(a.Params), &p); err != nil {
			return err
		}
		_, err := h.Coord.UpdatePolicy(ctx, id, p)
		return err
	case "server.remove":
		return h.Coord.RemoveServer(ctx, id)
	case "recovery_point.undelete":
		return h.Coord.UndeletePoint(ctx, id)
	case "recovery_point.purge":
		return h.Coord.PurgePoint(ctx, id)
	case "settings.update":
		var b settingsBody
		if err := json.Unmarshal([]byte(a.Params), &b); err != nil {
			return err
		}
		_, err := h.Coord.UpdateSettings(ctx, b.apply(h.Coord.Settings(), a.RequestedBy))
		return err
	}
	return fmt.Errorf("approval %d: unknown operation %q", a.ID, a.Operation)
}
