package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// settingsJSON is GET /settings: the vault's settings and what its
// storage enforces by itself.
type settingsJSON struct {
	vault.Settings
	Storage storageJSON `json:"storage"`
}

type storageJSON struct {
	Kind              string `json:"kind"`
	EnforcesWriteOnce bool   `json:"enforces_write_once"`
}

// settingsBody is PUT /settings; an absent field keeps its value.
type settingsBody struct {
	Immutability   *string `json:"immutability"`
	SoftDeleteDays *int    `json:"soft_delete_days"`
	MultiUserAuth  *bool   `json:"multi_user_authorization"`
	// ObjectLock asks the storage to enforce write-once (S3 Object Lock,
	// Azure immutability policies); not supported yet, refused clearly.
	ObjectLock bool `json:"object_lock,omitempty"`
}

// apply is cur with the body's fields, saved by who.
func (b settingsBody) apply(cur vault.Settings, who string) vault.Settings {
	if b.Immutability != nil {
		cur.Immutability = *b.Immutability
	}
	if b.SoftDeleteDays != nil {
		cur.SoftDeleteDays = *b.SoftDeleteDays
	}
	if b.MultiUserAuth != nil {
		cur.MultiUserAuth = *b.MultiUserAuth
	}
	cur.UpdatedBy = who
	return cur
}

func (h *Handlers) settingsJSON() settingsJSON {
	kind, worm := h.Coord.Storage()
	return settingsJSON{Settings: h.Coord.Settings(), Storage: storageJSON{Kind: kind, EnforcesWriteOnce: worm}}
}

// GetSettingsAPI answers the vault's settings.
func (h *Handlers) GetSettingsAPI(c echo.Context) error {
	return c.JSON(http.StatusOK, h.settingsJSON())
}

// UpdateSettingsAPI changes the vault's settings: immutability (disabled,
// enabled, locked), soft delete days (14-180) and multi-user
// authorization. Weakening them under multi-user authorization answers
// 202 with an approval request.
func (h *Handlers) UpdateSettingsAPI(c echo.Context) error {
	var b settingsBody
	if err := decodeIgnoring(c, &b, "updated_at", "updated_by", "storage"); err != nil {
		return apiErr(c, err)
	}
	if b.ObjectLock {
		msg := "sqlvault does not yet write S3 Object Lock retention or Azure immutability policies on the vault's objects"
		return apiErr(c, &engine.Error{Code: engine.CodeStorageLockMissing, Message: "object_lock: " + msg,
			Err: &coordinator.FieldError{Field: "object_lock", Message: msg}})
	}
	p, _ := PrincipalOf(c)
	if _, err := h.Coord.UpdateSettings(c.Request().Context(), b.apply(h.Coord.Settings(), person(p))); err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, h.settingsJSON())
}
