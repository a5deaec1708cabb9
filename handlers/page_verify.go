package handlers

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/templates"
)

// VerifyItem is the item page's Verify now: the newest point with its
// chain, on the policy's verification instance; the job page follows.
func (h *Handlers) VerifyItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	jobID, err := h.Coord.VerifyItem(c.Request().Context(), id, coordinator.VerifyRequest{Level: c.FormValue("level")})
	if err != nil {
		return h.itemProblem(c, id, err)
	}
	return h.seeOtherFlash(c, "/jobs/"+strconv.FormatInt(jobID, 10), "Verification queued")
}

// verifiedTile counts the protected items with a clean verification in
// the last 7 days, for the overview.
func (h *Handlers) verifiedTile(ctx context.Context, d *templates.OverviewData, views []templates.ItemView, now time.Time) error {
	last, err := h.DB.LatestItemVerifications(ctx)
	if err != nil {
		return err
	}
	for _, v := range views {
		if v.Item.State != db.ItemProtected {
			continue
		}
		d.Protected++
		if lv, ok := last[v.ID]; ok && lv.Status == db.VerifyClean && now.Sub(lv.At) <= 7*24*time.Hour {
			d.Verified7d++
		}
	}
	return nil
}

// verifyFromForm reads the policy form's verification option; nil when
// it is off.
func verifyFromForm(c echo.Context, num func(string) int) *policy.Verify {
	if !formBool(c, "verify.enabled") {
		return nil
	}
	return &policy.Verify{Enabled: true, AfterFull: formBool(c, "verify.after_full"), EveryDays: num("verify.every_days"),
		ServerID: int64(num("verify.server_id")), Level: c.FormValue("verify.level"),
		MaxBytes: int64(num("verify.max_size_gib")) << 30, PhysicalOnlyAbove: int64(num("verify.physical_only_above_gib")) << 30}
}

// withServers offers the registered instances as verification instances.
func (h *Handlers) withServers(c echo.Context, d templates.PolicyFormData) templates.PolicyFormData {
	servers, err := h.DB.ListServers(c.Request().Context())
	if err != nil {
		return d
	}
	for _, s := range servers {
		d.Servers = append(d.Servers, templates.VerifyServer{ID: s.ID, Name: s.Name})
	}
	return d
}
