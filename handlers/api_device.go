package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// CreateTestGrantAPI opens a scratch device container for a DBA to try
// BACKUP TO URL by hand: POST /device/test-grants {minutes} answers 201
// {container, url, sas, credential_sql, expires_at}. Admin only: the SAS
// lets its holder write to the device.
func (h *Handlers) CreateTestGrantAPI(c echo.Context) error {
	var b struct {
		Minutes int `json:"minutes"`
	}
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	g, err := h.Coord.OpenTestGrant(time.Duration(b.Minutes) * time.Minute)
	if err != nil {
		return apiErr(c, err)
	}
	c.Set(auditTargetKey, g.Container)
	return c.JSON(http.StatusCreated, g)
}
