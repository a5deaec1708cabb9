package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/accounts"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// creator is who makes a token in this request: a signed-in user, or a
// token (whose own maker the new token inherits).
func (h *Handlers) creator(c echo.Context) (accounts.Creator, error) {
	p, _ := PrincipalOf(c)
	by := accounts.Creator{Name: p.Name, Role: p.Role}
	ctx := c.Request().Context()
	if p.ViaToken {
		t, err := h.DB.TokenByName(ctx, strings.TrimPrefix(p.Name, "token:"))
		if err != nil {
			return by, err
		}
		by.UserID, by.Token = t.CreatorID, &t
		return by, nil
	}
	u, err := h.DB.UserByName(ctx, p.Name)
	if err != nil {
		return by, err
	}
	by.UserID = &u.ID
	return by, nil
}

// mayManage reports whether the caller may see and revoke token t: an
// admin any, anyone else the tokens made by the same user.
func mayManage(by accounts.Creator, t db.Token) bool {
	if by.Role == db.RoleAdmin {
		return true
	}
	return by.UserID != nil && t.CreatorID != nil && *by.UserID == *t.CreatorID
}

// ListTokensAPI lists tokens: an admin sees all, others those they made.
// The secrets are never shown again.
func (h *Handlers) ListTokensAPI(c echo.Context) error {
	by, err := h.creator(c)
	if err != nil {
		return apiErr(c, err)
	}
	ts, err := h.DB.ListTokens(c.Request().Context())
	if err != nil {
		return apiErr(c, err)
	}
	out := []db.Token{}
	for _, t := range ts {
		if mayManage(by, t) {
			out = append(out, t)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": out})
}

type newTokenBody struct {
	Name      string  `json:"name"`
	Role      db.Role `json:"role"`
	ExpiresAt *string `json:"expires_at"`
}

// CreateTokenAPI makes a token no stronger than its creator and answers
// 201 {id, token, ...}: the only time the token's text is shown.
func (h *Handlers) CreateTokenAPI(c echo.Context) error {
	var b newTokenBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	var exp *time.Time
	if b.ExpiresAt != nil && *b.ExpiresAt != "" {
		t, err := parseTime("expires_at", *b.ExpiresAt)
		if err != nil {
			return apiErr(c, err)
		}
		exp = t
	}
	by, err := h.creator(c)
	if err != nil {
		return apiErr(c, err)
	}
	secret, t, err := h.accounts().CreateToken(c.Request().Context(), by, b.Name, b.Role, exp)
	if err != nil {
		return apiErr(c, accountErr(err))
	}
	NoteAudit(c, "token %s, role %s", t.Name, t.Role)
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/tokens/%d", t.ID))
	return c.JSON(http.StatusCreated, struct {
		db.Token
		Secret string `json:"token"`
	}{t, secret})
}

// RevokeTokenAPI deletes a token; it gets 401 from then on.
func (h *Handlers) RevokeTokenAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	t, err := h.revocable(c, id)
	if err != nil {
		return apiErr(c, err)
	}
	if _, err := h.accounts().Revoke(c.Request().Context(), t.ID); err != nil {
		return apiErr(c, accountErr(err))
	}
	NoteAudit(c, "token %s", t.Name)
	return c.NoContent(http.StatusNoContent)
}

// revocable finds a token the caller may revoke; another user's token is
// not found, so ids reveal nothing.
func (h *Handlers) revocable(c echo.Context, id int64) (db.Token, error) {
	by, err := h.creator(c)
	if err != nil {
		return db.Token{}, err
	}
	t, err := h.DB.TokenByID(c.Request().Context(), id)
	if err != nil || !mayManage(by, t) {
		return db.Token{}, engine.Errorf(engine.CodeNotFound, "no token with id %d", id)
	}
	return t, nil
}
