package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/templates"
)

// SessionCookie is the portal's session cookie.
const SessionCookie = "sqlvault_session"

// SessionTTL is how long a portal session lasts.
const SessionTTL = 12 * time.Hour

// LoginForm shows the sign-in page.
func (h *Handlers) LoginForm(c echo.Context) error {
	return render(c, http.StatusOK, templates.Login(h.Version, CSRFToken(c), "", safeNext(c.QueryParam("next")), ""))
}

// Login checks the password, slowing down repeated failures per user name
// and address, and starts a session. Its answer to a wrong password is the
// same whether or not the user exists.
func (h *Handlers) Login(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	addr := c.RealIP()
	fail := func(status int, msg string) error {
		return render(c, status, templates.Login(h.Version, CSRFToken(c), name, next, msg))
	}

	failures, last, err := h.DB.LoginFailures(ctx, name, addr)
	if err != nil {
		return err
	}
	if wait := h.Throttle.Wait(failures, last, time.Now()); wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+1)))
		return fail(http.StatusTooManyRequests,
			fmt.Sprintf("Too many failed attempts. Wait %d seconds before trying again.", int(wait.Seconds()+1)))
	}

	u, err := h.DB.UserByName(ctx, name)
	ok := false
	switch {
	case errors.Is(err, db.ErrNotFound):
		auth.CheckUnknownUser(pw)
	case err != nil:
		return err
	default:
		ok, _ = auth.CheckPassword(u.PasswordHash, pw)
	}
	if !ok || u.Disabled { // a disabled user is answered as a wrong password
		h.signInFailed(c, name, u, ok)
		h.DB.RecordLoginFailure(ctx, name, addr)
		h.Logger.Warn("sign-in failed", "user", name, "addr", addr)
		return fail(http.StatusUnauthorized, "The user name or password is not right.")
	}
	h.DB.ClearLoginFailures(ctx, name, addr)
	id, _, err := h.DB.CreateSession(ctx, u.ID, SessionTTL)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: h.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL.Seconds()),
	})
	h.signedIn(c, u, id)
	h.Logger.Info("signed in", "user", u.Username, "addr", addr)
	return c.Redirect(http.StatusSeeOther, next)
}

// Logout ends the session.
func (h *Handlers) Logout(c echo.Context) error {
	if p, ok := PrincipalOf(c); ok && p.SessionID != "" {
		h.DB.DeleteSession(c.Request().Context(), p.SessionID)
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.Secure})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}
