package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/handlers"
)

// CSRF: a signed-in browser's writes must carry the token stored with its
// session (X-CSRF-Token header or _csrf form field), so a token is good
// for one session only and dies with it. Only requests authenticated by
// an API token skip the check: a browser never attaches one by itself.
// Before sign-in there is no session, so the sign-in form is guarded by a
// double-submit cookie of its own (login CSRF); signing in replaces it.

const loginCSRFCookie = "sqlvault_login_csrf"

// csrfKey is where handlers.CSRFToken finds the token for forms.
const csrfKey = "csrf"

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func sentCSRF(c echo.Context) string {
	if t := c.Request().Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	return c.FormValue("_csrf")
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sessionCSRF runs after authentication on every portal and API route.
func sessionCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, _ := handlers.PrincipalOf(c)
		if p.ViaToken || safeMethod(c.Request().Method) {
			return next(c)
		}
		if want, _ := c.Get(csrfKey).(string); sameToken(want, sentCSRF(c)) {
			return next(c)
		}
		return csrfRefused(c)
	}
}

// loginCSRF guards the sign-in form with a random cookie that the form
// must echo back.
func (s *Server) loginCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok := ""
		if ck, err := c.Cookie(loginCSRFCookie); err == nil && len(ck.Value) == 43 {
			tok = ck.Value
		}
		if !safeMethod(c.Request().Method) && !sameToken(tok, sentCSRF(c)) {
			return csrfRefused(c)
		}
		if tok == "" {
			b := make([]byte, 32)
			rand.Read(b)
			tok = base64.RawURLEncoding.EncodeToString(b)
			c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
				Secure: s.handlers.SecureRequest(c), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
		}
		c.Set(csrfKey, tok)
		return next(c)
	}
}

func csrfRefused(c echo.Context) error {
	msg := "the request's CSRF token does not match this session: reload the page and try again"
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		return handlers.APIErrorJSON(c, http.StatusForbidden, engine.CodeForbidden, msg)
	}
	return echo.NewHTTPError(http.StatusForbidden, msg)
}
