package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// ListAvailabilityGroupsAPI lists the Always On availability groups
// discovery found: each with its backup preference, its replicas (role,
// backup priority, synchronization health, the registered server or none)
// and its databases (one backup item each, whichever replica protects it).
func (h *Handlers) ListAvailabilityGroupsAPI(c echo.Context) error {
	groups, err := h.Coord.AvailabilityGroups(c.Request().Context())
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"availability_groups": groups})
}
