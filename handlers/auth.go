package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
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

// SecureRequest reports whether cookies set on this request get the
// Secure flag: always with Secure set, else when the request came over
// TLS (directly, or through a trusted proxy saying X-Forwarded-Proto:
// https; the server's scheme extractor decides whom to believe).
func (h *Handlers) SecureRequest(c echo.Context) bool { return h.Secure || c.Scheme() == "https" }

// Login checks the password and starts a session. Failures are throttled
// by the client's address (the socket's, or a trusted proxy's report) and
// by user name (auth.Throttle); password checks run under h.Hashing. Its
// answer to a wrong password is the same whether or not the user exists.
func (h *Handlers) Login(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	addr := c.RealIP()
	fail := func(status int, msg string) error {
		shown := name
		if utf8.RuneCountInString(name) > auth.MaxUsernameLen {
			shown = ""
		}
		return render(c, status, templates.Login(h.Version, CSRFToken(c), shown, next, msg))
	}
	if utf8.RuneCountInString(name) > auth.MaxUsernameLen {
		h.Logger.Warn("sign-in refused: user name too long", "user", truncate(name, 32), "length", len(name), "addr", addr)
		return fail(http.StatusUnprocessableEntity, fmt.Sprintf("User names are at most %d characters.", auth.MaxUsernameLen))
	}
	pair, byAddr, byUser := auth.ThrottleKeys(name, addr)
	f, err := h.failures(ctx, pair, byAddr, byUser)
	if err != nil {
		return err
	}
	if wait := h.Throttle.Refuse(f, time.Now()); wait > 0 {
		secs := int(wait.Seconds() + 1)
		c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
		return fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Wait %d seconds before trying again.", secs))
	}
	if err := sleep(ctx, h.Throttle.Delay(f)); err != nil {
		return err
	}

	u, ok, err := h.checkPassword(ctx, name, pw)
	if errors.Is(err, auth.ErrBusy) {
		c.Response().Header().Set("Retry-After", "1")
		return fail(http.StatusServiceUnavailable, fmt.Sprintf("The server is busy checking other sign-ins (%s). Try again in a second.", engine.CodeTooManyLogins))
	}
	if err != nil {
		return err
	}
	if !ok || u.Disabled { // a disabled user is answered as a wrong password
		h.signInFailed(c, name, u, ok)
		if err := h.DB.RecordFailure(ctx, h.Throttle.Window, pair, byAddr, byUser); err != nil {
			return err
		}
		h.Logger.Warn("sign-in failed", "user", name, "addr", addr)
		return fail(http.StatusUnauthorized, "The user name or password is not right.")
	}
	h.DB.ClearFailures(ctx, pair, byUser)
	id, _, err := h.DB.CreateSession(ctx, u.ID, SessionTTL)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: h.SecureRequest(c),
		SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL.Seconds()),
	})
	h.signedIn(c, u, id)
	h.Logger.Info("signed in", "user", u.Username, "addr", addr)
	return c.Redirect(http.StatusSeeOther, next)
}

// failures reads the three counts the throttle judges a sign-in by.
func (h *Handlers) failures(ctx context.Context, pair, byAddr, byUser string) (auth.Failures, error) {
	since := time.Now().Add(-h.Throttle.Window)
	if h.Throttle.Window <= 0 {
		since = time.Time{}
	}
	var f auth.Failures
	for _, k := range []struct {
		key string
		to  *auth.Failure
	}{{pair, &f.Pair}, {byAddr, &f.Addr}, {byUser, &f.User}} {
		n, err := h.DB.FailuresSince(ctx, k.key, since)
		if err != nil {
			return f, err
		}
		*k.to = auth.Failure{N: n.N, Last: n.Last}
	}
	return f, nil
}

// checkPassword looks the user up and checks the password inside the
// hashing gate; an unknown user costs the same hash as a known one.
func (h *Handlers) checkPassword(ctx context.Context, name, pw string) (db.User, bool, error) {
	u, err := h.DB.UserByName(ctx, name)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return u, false, err
	}
	known := err == nil
	ok := false
	err = h.Hashing.Do(ctx, func() {
		if known {
			ok, _ = auth.CheckPassword(u.PasswordHash, pw)
		} else {
			auth.CheckUnknownUser(pw)
		}
	})
	return u, ok, err
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// truncate shortens s to n runes for a log line.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Logout ends the session.
func (h *Handlers) Logout(c echo.Context) error {
	if p, ok := PrincipalOf(c); ok && p.SessionID != "" {
		h.DB.DeleteSession(c.Request().Context(), p.SessionID)
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.SecureRequest(c)})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site: a path starting with
// one "/", with no backslash or control character, and no form that a
// browser would read as another host ("//", "/\", a scheme), also once
// percent-decoded (a browser may decode %2f or %5c before resolving).
// Anything else sends the user to "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") {
		return "/"
	}
	s := next
	for range 3 { // percent-encoded, twice-encoded...
		if !samePath(s) {
			return "/"
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return "/"
		}
		if d == s {
			return next
		}
		s = d
	}
	return "/"
}

// samePath checks one decoding of a redirect target.
func samePath(s string) bool {
	path, _, _ := strings.Cut(s, "?")
	path, _, _ = strings.Cut(path, "#")
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsRune(s, '\\') {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
