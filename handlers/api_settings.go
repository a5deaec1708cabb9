package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// settingsJSON is GET /settings: the vault's settings and what its
// storage enforces by itself.
type settingsJSON struct {
	vault.Settings
	Storage       storageJSON        `json:"storage"`
	Notifications *notificationsJSON `json:"notifications,omitempty"` // admins only
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
	// Notifications, when present, replace the notification settings.
	Notifications *notificationsJSON `json:"notifications,omitempty"`
}

// MarshalJSON keeps the notifications, and the SMTP password in them, out
// of what an approval request stores: they are saved at once, unguarded.
func (b settingsBody) MarshalJSON() ([]byte, error) {
	type plain settingsBody
	p := plain(b)
	p.Notifications = nil
	return json.Marshal(p)
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

func (h *Handlers) settingsJSON(c echo.Context) settingsJSON {
	kind, worm := h.Coord.Storage()
	s := settingsJSON{Settings: h.Coord.Settings(), Storage: storageJSON{Kind: kind, EnforcesWriteOnce: worm}}
	if p, _ := PrincipalOf(c); p.Role == db.RoleAdmin {
		s.Notifications = h.notificationsJSON()
	}
	return s
}

// GetSettingsAPI answers the vault's settings and, to admins, the
// notification settings (secrets never).
func (h *Handlers) GetSettingsAPI(c echo.Context) error {
	return c.JSON(http.StatusOK, h.settingsJSON(c))
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
	ctx := c.Request().Context()
	if n := b.Notifications; n != nil {
		if err := n.Validate(); err != nil {
			return apiErr(c, err)
		}
	}
	// A body of notifications only leaves the vault settings, and their
	// approval rules, alone.
	if b.Immutability != nil || b.SoftDeleteDays != nil || b.MultiUserAuth != nil {
		p, _ := PrincipalOf(c)
		if _, err := h.Coord.UpdateSettings(ctx, b.apply(h.Coord.Settings(), person(p))); err != nil {
			return apiErr(c, err)
		}
	}
	if n := b.Notifications; n != nil {
		if err := h.Coord.Notifier().Save(ctx, n.Config); err != nil {
			return apiErr(c, err)
		}
	}
	return c.JSON(http.StatusOK, h.settingsJSON(c))
}
