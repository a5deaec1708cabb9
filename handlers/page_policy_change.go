package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/templates"
)

// ChangePolicy is Modify policy for one item (its page) or several (the
// Backup items list): GET (or a POST without confirm) shows what changes
// for each item's retention; a POST with confirm=yes moves them.
func (h *Handlers) ChangePolicy(c echo.Context) error {
	ctx := c.Request().Context()
	pid, err := formInt(c, "policy_id")
	if err != nil {
		return h.pageErr(c, err)
	}
	next, err := h.Coord.Policy(ctx, pid)
	if err != nil {
		return h.pageErr(c, engine.Errorf(engine.CodeInvalidRequest, "policy_id: %s", engine.MessageOf(err)))
	}
	d := templates.PolicyChangeData{Policy: next}
	form, _ := c.FormParams()
	for _, v := range form["item"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		row, err := h.policyChangeRow(c, id, next.Retention)
		if err != nil {
			return h.pageErr(c, err)
		}
		d.Items = append(d.Items, row)
	}
	if len(d.Items) == 0 {
		return h.pageErr(c, engine.Errorf(engine.CodeInvalidRequest, "item: choose at least one backup item"))
	}
	if c.Request().Method == http.MethodPost && c.FormValue("confirm") == "yes" {
		d.Done = true
		for i := range d.Items {
			h.applyPolicyChange(c, &d.Items[i], pid)
		}
		if len(d.Items) == 1 && d.Items[0].Result == "" && d.Items[0].Problem == nil {
			return seeOther(c, "/items/"+strconv.FormatInt(d.Items[0].Item.ID, 10))
		}
	}
	return render(c, http.StatusOK, templates.PolicyChange(h.page(c, "Modify policy", "items"), d))
}

// policyChangeRow is one item with what the move does to its retention.
func (h *Handlers) policyChangeRow(c echo.Context, id int64, next policy.Retention) (templates.PolicyChangeItem, error) {
	ctx := c.Request().Context()
	it, err := h.DB.ItemByID(ctx, id)
	if err != nil {
		return templates.PolicyChangeItem{}, engine.Errorf(engine.CodeNotFound, "backup item %d does not exist", id)
	}
	row := templates.PolicyChangeItem{Item: it}
	if row.Totals, err = h.DB.ItemPointTotals(ctx, id); err != nil {
		return row, err
	}
	if it.PolicyID != nil {
		if cur, err := h.Coord.Policy(ctx, *it.PolicyID); err == nil {
			row.Current = &cur
			row.Shorter = coordinator.Shortened(cur.Retention, next)
		}
	}
	return row, nil
}

// applyPolicyChange moves one item, or records the approval request
// multi-user authorization asks for, or the refusal.
func (h *Handlers) applyPolicyChange(c echo.Context, row *templates.PolicyChangeItem, pid int64) {
	ctx := c.Request().Context()
	err := h.Coord.ChangePolicy(ctx, row.Item.ID, pid)
	if engine.CodeOf(err) == engine.CodeApprovalNeeded {
		p, _ := PrincipalOf(c)
		params, _ := json.Marshal(resumeBody{PolicyID: pid})
		a, aerr := h.DB.CreateApproval(ctx, db.Approval{Operation: "item.change_policy", TargetType: "item",
			TargetID: strconv.FormatInt(row.Item.ID, 10), Summary: engine.MessageOf(err), Params: string(params), RequestedBy: person(p)}, ApprovalTTL)
		if aerr == nil {
			NoteAudit(c, "approval %d requested: %s", a.ID, a.Summary)
			row.Result = fmt.Sprintf("Request %d waits for another admin's approval (Vault settings).", a.ID)
			return
		}
		err = aerr
	}
	row.Problem = templates.ProblemOf(err)
}
