package handlers

import (
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// FlashCookie carries one confirmation ("Policy saved") across the
// redirect that ends a successful form post; the next page shows it once.
const FlashCookie = "sqlvault_flash"

// maxFlash bounds the message (in characters) so the cookie stays small.
const maxFlash = 200

// Flash queues msg for the next page this browser shows. Call it just
// before seeOther, or use seeOtherFlash.
func (h *Handlers) Flash(c echo.Context, msg string) {
	if r := []rune(strings.ToValidUTF8(msg, "?")); len(r) > maxFlash {
		msg = string(r[:maxFlash])
	}
	c.SetCookie(&http.Cookie{Name: FlashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: "/", HttpOnly: true, Secure: h.SecureRequest(c), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// seeOtherFlash ends a successful form post with a redirect to `to` that
// shows msg there.
func (h *Handlers) seeOtherFlash(c echo.Context, to, msg string) error {
	h.Flash(c, msg)
	return seeOther(c, to)
}

// takeFlash returns the queued message, if any, and clears it so it shows
// once. A fragment request leaves it for the page that follows.
func (h *Handlers) takeFlash(c echo.Context) string {
	if isFragment(c) {
		return ""
	}
	ck, err := c.Cookie(FlashCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	c.SetCookie(&http.Cookie{Name: FlashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.SecureRequest(c), SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) > 4*maxFlash || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}
