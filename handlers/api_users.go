package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/accounts"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

func (h *Handlers) accounts() accounts.Service { return accounts.Service{DB: h.DB} }

// accountErr carries the field an accounts refusal names into the error
// apiErr reads it from.
func accountErr(err error) error {
	f := accounts.FieldOf(err)
	if f == "" {
		return err
	}
	var e *engine.Error
	if !errors.As(err, &e) {
		return err
	}
	return &engine.Error{Code: e.Code, Message: e.Message, Err: &coordinator.FieldError{Field: f, Message: e.Message}}
}

// ListUsersAPI lists every user.
func (h *Handlers) ListUsersAPI(c echo.Context) error {
	us, err := h.DB.ListUsers(c.Request().Context())
	if err != nil {
		return apiErr(c, err)
	}
	if us == nil {
		us = []db.User{}
	}
	return c.JSON(http.StatusOK, map[string]any{"users": us})
}

// GetUserAPI returns one user.
func (h *Handlers) GetUserAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	u, err := h.DB.UserByID(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, u)
}

type newUserBody struct {
	Username string  `json:"username"`
	Password string  `json:"password"`
	Role     db.Role `json:"role"`
}

// CreateUserAPI adds a user: 201, or 422 naming the field at fault
// (UserErrorWeakPassword for the password).
func (h *Handlers) CreateUserAPI(c echo.Context) error {
	var b newUserBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	u, err := h.accounts().AddUser(c.Request().Context(), b.Username, b.Password, b.Role)
	if err != nil {
		return apiErr(c, accountErr(err))
	}
	NoteAudit(c, "user %s, role %s", u.Username, u.Role)
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/users/%d", u.ID))
	return c.JSON(http.StatusCreated, u)
}

type userChangeBody struct {
	Role     *db.Role `json:"role"`
	Disabled *bool    `json:"disabled"`
	Password *string  `json:"password"`
}

// UpdateUserAPI changes a user's role, disables or enables it, or resets
// its password; disabling or a reset ends its sessions.
func (h *Handlers) UpdateUserAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b userChangeBody
	if err := decodeIgnoring(c, &b, "id", "username", "created_at"); err != nil {
		return apiErr(c, err)
	}
	u, err := h.accounts().Update(c.Request().Context(), id, accounts.Change{Role: b.Role, Disabled: b.Disabled, Password: b.Password})
	if err != nil {
		return apiErr(c, accountErr(err))
	}
	NoteAudit(c, "user %s: %s", u.Username, describeChange(b))
	return c.JSON(http.StatusOK, u)
}

func describeChange(b userChangeBody) string {
	s := ""
	if b.Role != nil {
		s += "role " + string(*b.Role) + "; "
	}
	if b.Disabled != nil {
		s += map[bool]string{true: "disabled; ", false: "enabled; "}[*b.Disabled]
	}
	if b.Password != nil {
		s += "password reset; "
	}
	if s == "" {
		return "no change"
	}
	return s[:len(s)-2]
}

// DeleteUserAPI removes a user with its sessions and the tokens it made.
func (h *Handlers) DeleteUserAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	u, err := h.accounts().Remove(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, accountErr(err))
	}
	NoteAudit(c, "user %s", u.Username)
	return c.NoContent(http.StatusNoContent)
}

// ListUserSessionsAPI lists a user's live sessions.
func (h *Handlers) ListUserSessionsAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if _, err := h.DB.UserByID(ctx, id); err != nil {
		return apiErr(c, err)
	}
	ss, err := h.DB.ListSessions(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": ss})
}

// EndSessionAPI ends one session; its cookie opens nothing from then on.
func (h *Handlers) EndSessionAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	s, err := h.DB.SessionInfoByID(ctx, id)
	if err != nil {
		return apiErr(c, err)
	}
	if err := h.DB.EndSession(ctx, id); err != nil {
		return apiErr(c, err)
	}
	NoteAudit(c, "session of %s", s.Username)
	return c.NoContent(http.StatusNoContent)
}

// sessionUser is the signed-in user making the request; tokens have none.
func (h *Handlers) sessionUser(c echo.Context) (db.User, error) {
	p, _ := PrincipalOf(c)
	if p.ViaToken || p.SessionID == "" {
		return db.User{}, engine.Errorf(engine.CodeForbidden, "an API token has no password; sign in to the portal as the user")
	}
	return h.DB.UserByName(c.Request().Context(), p.Name)
}
