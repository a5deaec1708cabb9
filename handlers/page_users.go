package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/accounts"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/templates"
)

// formProblem splits an accounts error into the field it is about (shown
// by that field) or a problem box.
func formProblem(err error) (templates.FieldErrs, *templates.Problem) {
	if f := accounts.FieldOf(err); f != "" {
		var fe *accounts.FieldError
		errors.As(err, &fe)
		return templates.FieldErrs{f: fe.Message}, nil
	}
	return nil, templates.ProblemOf(err)
}

func formStatus(err error) int {
	if errors.Is(err, db.ErrNotFound) {
		return http.StatusNotFound
	}
	return statusOf(engine.CodeOf(err))
}

// Users lists the users with the form to add one.
func (h *Handlers) Users(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, templates.UsersData{Form: templates.NewUserForm{Role: "reader"}})
}

func (h *Handlers) renderUsers(c echo.Context, status int, d templates.UsersData) error {
	us, err := h.DB.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	d.Users = us
	return render(c, status, templates.Users(h.page(c, "Users", "users"), d))
}

// AddUser handles the add-user form.
func (h *Handlers) AddUser(c echo.Context) error {
	name, role := c.FormValue("username"), c.FormValue("role")
	u, err := h.accounts().AddUser(c.Request().Context(), name, c.FormValue("password"), db.Role(role))
	if err != nil {
		d := templates.UsersData{Form: templates.NewUserForm{Username: name, Role: role}}
		d.Errors, d.Problem = formProblem(err)
		return h.renderUsers(c, formStatus(err), d)
	}
	NoteAudit(c, "user %s, role %s", u.Username, u.Role)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/users/%d", u.ID))
}

// userNotices are what the user page says after a change, by ?done=
// (never the query's own text, so no link can make the page say anything).
var userNotices = map[string]string{
	"saved": "Saved.",
	"reset": "The password was reset and the user's sessions ended.",
	"ended": "The session was ended.",
}

// User shows one user: role, status, password reset and sessions.
func (h *Handlers) User(c echo.Context) error {
	return h.renderUser(c, http.StatusOK, templates.UserData{Notice: userNotices[c.QueryParam("done")]})
}

func (h *Handlers) renderUser(c echo.Context, status int, d templates.UserData) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	if d.User, err = h.DB.UserByID(ctx, id); errors.Is(err, db.ErrNotFound) {
		return echo.ErrNotFound
	} else if err != nil {
		return err
	}
	if d.Sessions, err = h.DB.ListSessions(ctx, id); err != nil {
		return err
	}
	return render(c, status, templates.User(h.page(c, "User "+d.User.Username, "users"), d))
}

// UpdateUser handles the role and enable/disable forms.
func (h *Handlers) UpdateUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	var ch accounts.Change
	if r := c.FormValue("role"); r != "" {
		role := db.Role(r)
		ch.Role = &role
	}
	if v := c.FormValue("disabled"); v != "" {
		off := v == "true"
		ch.Disabled = &off
	}
	return h.changeUser(c, id, ch, "saved")
}

// ResetPassword handles an admin's password reset for a user.
func (h *Handlers) ResetPassword(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	pw := c.FormValue("password")
	return h.changeUser(c, id, accounts.Change{Password: &pw}, "reset")
}

func (h *Handlers) changeUser(c echo.Context, id int64, ch accounts.Change, done string) error {
	u, err := h.accounts().Update(c.Request().Context(), id, ch)
	if err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return echo.ErrNotFound
		}
		var d templates.UserData
		d.Errors, d.Problem = formProblem(err)
		return h.renderUser(c, formStatus(err), d)
	}
	NoteAudit(c, "user %s: %s", u.Username, describeChange(userChangeBody{Role: ch.Role, Disabled: ch.Disabled, Password: ch.Password}))
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/users/%d?done=%s", id, done))
}

// RemoveUser handles the remove button.
func (h *Handlers) RemoveUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	u, err := h.accounts().Remove(c.Request().Context(), id)
	if err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return echo.ErrNotFound
		}
		var d templates.UserData
		d.Errors, d.Problem = formProblem(err)
		return h.renderUser(c, formStatus(err), d)
	}
	NoteAudit(c, "user %s", u.Username)
	return c.Redirect(http.StatusSeeOther, "/users")
}

// EndSession handles a session's End button on its user's page.
func (h *Handlers) EndSession(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	s, err := h.DB.SessionInfoByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.ErrNotFound
	} else if err != nil {
		return err
	}
	if err := h.DB.EndSession(ctx, id); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	NoteAudit(c, "session of %s", s.Username)
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/users/%d?done=ended", s.UserID))
}

// Tokens lists the tokens the caller may manage, with the form to make one.
func (h *Handlers) Tokens(c echo.Context) error {
	return h.renderTokens(c, http.StatusOK, templates.TokensData{Form: templates.NewTokenForm{Role: "reader"}})
}

func (h *Handlers) renderTokens(c echo.Context, status int, d templates.TokensData) error {
	by, err := h.creator(c)
	if err != nil {
		return err
	}
	ts, err := h.DB.ListTokens(c.Request().Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		if mayManage(by, t) {
			d.Tokens = append(d.Tokens, t)
		}
	}
	return render(c, status, templates.Tokens(h.page(c, "API tokens", "tokens"), d))
}

// AddToken handles the new-token form; the answer shows the token's text
// once (it is not a redirect, so the text is in no URL or history).
func (h *Handlers) AddToken(c echo.Context) error {
	f := templates.NewTokenForm{Name: c.FormValue("name"), Role: c.FormValue("role"), Expires: c.FormValue("expires_at")}
	d := templates.TokensData{Form: f}
	var exp *time.Time
	if f.Expires != "" {
		t, err := time.Parse("2006-01-02", f.Expires)
		if err != nil {
			d.Errors = templates.FieldErrs{"expires_at": "must be a date (YYYY-MM-DD)"}
			return h.renderTokens(c, http.StatusUnprocessableEntity, d)
		}
		exp = &t
	}
	by, err := h.creator(c)
	if err != nil {
		return err
	}
	secret, t, err := h.accounts().CreateToken(c.Request().Context(), by, f.Name, db.Role(f.Role), exp)
	if err != nil {
		d.Errors, d.Problem = formProblem(err)
		return h.renderTokens(c, formStatus(err), d)
	}
	NoteAudit(c, "token %s, role %s", t.Name, t.Role)
	AuditTarget(c, t.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return h.renderTokens(c, http.StatusOK, templates.TokensData{Secret: secret, Created: t.Name, Form: templates.NewTokenForm{Role: "reader"}})
}

// RevokeToken handles a token's Revoke button.
func (h *Handlers) RevokeToken(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return echo.ErrNotFound
	}
	t, err := h.revocable(c, id)
	if err != nil {
		return echo.ErrNotFound
	}
	if _, err := h.accounts().Revoke(c.Request().Context(), t.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	NoteAudit(c, "token %s", t.Name)
	return c.Redirect(http.StatusSeeOther, "/tokens")
}

// Account shows the signed-in user's own page.
func (h *Handlers) Account(c echo.Context) error {
	return render(c, http.StatusOK, templates.Account(h.page(c, "Your account", ""), templates.AccountData{}))
}

// ChangeOwnPassword handles the own-password form.
func (h *Handlers) ChangeOwnPassword(c echo.Context) error {
	u, err := h.sessionUser(c)
	if err != nil {
		return err
	}
	p, _ := PrincipalOf(c)
	err = h.accounts().ChangeOwnPassword(c.Request().Context(), u.ID, c.FormValue("current_password"), c.FormValue("new_password"), p.SessionID)
	var d templates.AccountData
	if err != nil {
		errs, prob := formProblem(err)
		if prob != nil {
			return err
		}
		if m, ok := errs["password"]; ok {
			errs = templates.FieldErrs{"new_password": m}
		}
		d.Errors = errs
		return render(c, formStatus(err), templates.Account(h.page(c, "Your account", ""), d))
	}
	NoteAudit(c, "own password of %s", u.Username)
	d.Notice = "Your password was changed; your other sessions ended."
	return render(c, http.StatusOK, templates.Account(h.page(c, "Your account", ""), d))
}

const auditPerPage = 100

// Audit shows the audit log with its filters, newest first.
func (h *Handlers) Audit(c echo.Context) error {
	d := templates.AuditData{Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), Since: c.QueryParam("since")}
	f := db.AuditFilter{Actor: d.Actor, Action: d.Action, Limit: auditPerPage + 1}
	if d.Since != "" {
		t, err := time.Parse("2006-01-02", d.Since)
		if err != nil {
			d.Problem = &templates.Problem{Code: string(engine.CodeInvalidRequest), Message: "since: must be a date (YYYY-MM-DD)", Action: engine.CodeInvalidRequest.Action()}
			return render(c, http.StatusUnprocessableEntity, templates.Audit(h.page(c, "Audit log", "audit"), d))
		}
		f.Since = &t
	}
	f.BeforeID, _ = queryInt(c, "before")
	es, err := h.DB.ListAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if len(es) > auditPerPage {
		es = es[:auditPerPage]
		d.NextBefore = es[auditPerPage-1].ID
	}
	d.Entries = es
	return render(c, http.StatusOK, templates.Audit(h.page(c, "Audit log", "audit"), d))
}
