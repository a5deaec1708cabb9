package handlers

import (
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
)

const auditNoteKey = "sqlvault.audit.note"

// NoteAudit adds a short human summary to the audit entry the web
// package's middleware records for this request (e.g. the user name a
// request created), since the route and ids alone do not say it.
func NoteAudit(c echo.Context, format string, args ...any) {
	c.Set(auditNoteKey, fmt.Sprintf(format, args...))
}

const auditTargetKey = "sqlvault.audit.target"

// AuditTarget names the object a request made when neither its path nor
// a Location header says it (a portal form that answers in place).
func AuditTarget(c echo.Context, id int64) { c.Set(auditTargetKey, strconv.FormatInt(id, 10)) }

// AuditTargetOf is the id AuditTarget left, if any.
func AuditTargetOf(c echo.Context) string {
	s, _ := c.Get(auditTargetKey).(string)
	return s
}

// AuditNote is the summary NoteAudit left, if any.
func AuditNote(c echo.Context) string {
	s, _ := c.Get(auditNoteKey).(string)
	return s
}

// Sign-in actions in the audit log. The middleware records every other
// change; sign-ins have no principal yet, so Login records them itself.
const (
	ActionSignIn       = "auth.sign_in"
	ActionSignInFailed = "auth.sign_in_failed"
)

// auditSignIn records a sign-in or a failed one, under the name tried.
func (h *Handlers) auditSignIn(c echo.Context, username string, ok bool, detail string) {
	e := db.AuditEntry{Actor: username, Addr: c.RealIP(), Action: ActionSignInFailed, Method: c.Request().Method,
		Route: c.Path(), TargetType: "user", Outcome: db.AuditDenied, Detail: detail}
	if ok {
		e.Action, e.Outcome = ActionSignIn, db.AuditSuccess
	}
	if err := h.DB.RecordAudit(c.Request().Context(), e); err != nil {
		h.Logger.Error("audit entry not recorded", "action", e.Action, "user", username, "err", err)
	}
}

// signedIn completes a successful sign-in for the audit log and the
// session list: where the session was opened from.
func (h *Handlers) signedIn(c echo.Context, u db.User, cookie string) {
	h.DB.NoteSessionClient(c.Request().Context(), cookie, c.RealIP(), c.Request().UserAgent())
	h.auditSignIn(c, u.Username, true, "")
}

// signInFailed records a refused sign-in; passwordOK means the password
// was right but the user is disabled.
func (h *Handlers) signInFailed(c echo.Context, name string, u db.User, passwordOK bool) {
	detail := ""
	if passwordOK && u.Disabled {
		detail = "the user is disabled"
	}
	h.auditSignIn(c, name, false, detail)
}
