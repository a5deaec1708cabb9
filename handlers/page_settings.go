package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/notify"
	"github.com/sqlvault/sqlvault/templates"
)

// Settings shows the vault settings, the approval requests and the
// soft-deleted points.
func (h *Handlers) Settings(c echo.Context) error {
	return h.renderSettings(c, http.StatusOK, "", nil)
}

func (h *Handlers) renderSettings(c echo.Context, status int, notice string, err error) error {
	return h.renderSettingsWith(c, status, notice, err, nil)
}

// renderSettingsWith also shows a notification test's outcomes.
func (h *Handlers) renderSettingsWith(c echo.Context, status int, notice string, err error, outcomes []notify.Outcome) error {
	ctx := c.Request().Context()
	s := h.Coord.Settings()
	kind, _ := h.Coord.Storage()
	d := templates.SettingsData{Settings: s, Storage: kind, Notice: notice, Problem: templates.ProblemOf(err)}
	var lerr error
	if d.Notify, lerr = h.notifyView(c, outcomes); lerr != nil {
		return lerr
	}
	if d.Approvals, lerr = h.DB.ListApprovals(ctx, "", 50); lerr != nil {
		return lerr
	}
	points, lerr := h.DB.ListSoftDeleted(ctx, 200)
	if lerr != nil {
		return lerr
	}
	names := map[int64]string{}
	for _, p := range points {
		if _, ok := names[p.ItemID]; !ok {
			if it, err := h.DB.ItemByID(ctx, p.ItemID); err == nil {
				names[p.ItemID] = it.ServerName + " / " + it.DatabaseName
			}
		}
		dp := templates.DeletedPoint{Point: p, Database: names[p.ItemID]}
		if p.DeletedAt != nil {
			dp.PurgeAt = p.DeletedAt.Add(s.SoftDelete()).UTC().Format("2006-01-02 15:04")
		}
		d.Deleted = append(d.Deleted, dp)
	}
	pushURL(c, "/settings")
	return render(c, status, templates.Settings(h.page(c, "Vault settings", "settings"), d))
}

// SaveSettings handles the settings form; weakening them under
// multi-user authorization becomes an approval request.
func (h *Handlers) SaveSettings(c echo.Context) error {
	days, err := strconv.Atoi(c.FormValue("soft_delete_days"))
	if err != nil {
		return h.renderSettings(c, http.StatusUnprocessableEntity, "", invalidField("soft_delete_days", "a number of days, 14 to 180"))
	}
	imm, mua := c.FormValue("immutability"), c.FormValue("multi_user_authorization") == "on"
	b := settingsBody{Immutability: &imm, SoftDeleteDays: &days, MultiUserAuth: &mua}
	p, _ := PrincipalOf(c)
	_, err = h.Coord.UpdateSettings(c.Request().Context(), b.apply(h.Coord.Settings(), person(p)))
	return h.afterPortalChange(c, "settings.update", b, err, "Settings saved.")
}

// UndeletePoint handles a soft-deleted point's Undelete button.
func (h *Handlers) UndeletePoint(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	err = h.Coord.UndeletePoint(c.Request().Context(), id)
	return h.afterPortalChange(c, "recovery_point.undelete", nil, err, fmt.Sprintf("Recovery point %d undeleted.", id))
}

// PurgePoint handles a soft-deleted point's Purge now button.
func (h *Handlers) PurgePoint(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	err = h.Coord.PurgePoint(c.Request().Context(), id)
	return h.afterPortalChange(c, "recovery_point.purge", nil, err, fmt.Sprintf("Recovery point %d purged.", id))
}

// afterPortalChange answers a portal form: done, held for approval (a
// request is recorded), or refused.
func (h *Handlers) afterPortalChange(c echo.Context, op string, params any, err error, done string) error {
	if engine.CodeOf(err) == engine.CodeApprovalNeeded {
		a, aerr := h.newApproval(c, op, params, err)
		if aerr != nil {
			return h.renderSettings(c, statusFor(aerr), "", aerr)
		}
		AuditTarget(c, a.ID)
		return h.renderSettings(c, http.StatusAccepted, fmt.Sprintf("Request %d waits for another admin's approval until %s.", a.ID, a.ExpiresAt.Format("2006-01-02 15:04 UTC")), nil)
	}
	if err != nil {
		return h.renderSettings(c, statusFor(err), "", err)
	}
	return h.renderSettings(c, http.StatusOK, done, nil)
}

// ApproveRequest and RejectRequest are the approval list's buttons.
func (h *Handlers) ApproveRequest(c echo.Context) error { return h.decidePage(c, true) }

func (h *Handlers) RejectRequest(c echo.Context) error { return h.decidePage(c, false) }

func (h *Handlers) decidePage(c echo.Context, approve bool) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	a, err := h.decide(c, id, approve)
	if err != nil {
		return h.renderSettings(c, statusFor(err), "", err)
	}
	return h.renderSettings(c, http.StatusOK, fmt.Sprintf("Request %d %s (%s).", a.ID, a.Status, a.Result), nil)
}
