package web

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/handlers"
)

// authenticator finds who makes a request: an API bearer token or the
// portal's session cookie.
type authenticator struct {
	db  *db.DB
	log *slog.Logger
}

func bearer(c echo.Context) string {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// api requires a bearer token or a session, answering JSON errors.
func (a *authenticator) api(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if tok := bearer(c); tok != "" {
			t, err := a.db.TokenBySecret(c.Request().Context(), tok)
			if errors.Is(err, db.ErrNotFound) {
				return handlers.APIErrorJSON(c, http.StatusUnauthorized, engine.CodeUnauthorized, "the API token is not valid")
			}
			if err != nil {
				return err
			}
			p := handlers.Principal{Name: "token:" + t.Name, Role: t.Role, ViaToken: true}
			if t.CreatorID != nil {
				p.Owner = t.CreatedBy
			}
			handlers.SetPrincipal(c, p)
			return next(c)
		}
		if a.session(c) {
			return next(c)
		}
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="sqlvault"`)
		return handlers.APIErrorJSON(c, http.StatusUnauthorized, engine.CodeUnauthorized, "sign in or send Authorization: Bearer TOKEN")
	}
}

// portal requires a session, sending the browser to the sign-in page.
func (a *authenticator) portal(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if a.session(c) {
			// A signed-in page must not come back from the browser's cache
			// (the back button after sign-out).
			c.Response().Header().Set("Cache-Control", "no-store")
			return next(c)
		}
		login := "/login?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		if c.Request().Header.Get("HX-Request") == "true" {
			// htmx follows redirects inside the swap; ask for a full navigation.
			c.Response().Header().Set("HX-Redirect", login)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, login)
	}
}

func (a *authenticator) session(c echo.Context) bool {
	ck, err := c.Cookie(handlers.SessionCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	s, err := a.db.SessionByID(c.Request().Context(), ck.Value)
	if err != nil {
		return false
	}
	handlers.SetPrincipal(c, handlers.Principal{Name: s.User.Username, Role: s.User.Role, SessionID: ck.Value})
	c.Set(csrfKey, s.CSRFToken) // this session's own CSRF token
	return true
}

// require refuses callers whose role does not reach need.
func require(need db.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ok := handlers.PrincipalOf(c)
			if ok && p.Role.Allows(need) {
				return next(c)
			}
			msg := "this action needs the " + string(need) + " role; you have " + string(p.Role)
			if strings.HasPrefix(c.Request().URL.Path, "/api/") {
				return handlers.APIErrorJSON(c, http.StatusForbidden, engine.CodeForbidden, msg)
			}
			return echo.NewHTTPError(http.StatusForbidden, msg)
		}
	}
}
