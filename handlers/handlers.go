// Package handlers holds the HTTP handlers: portal pages rendered with templ
// and the JSON API under /api/v1. Handlers parse requests, call the catalog
// or the coordinator, and render; they hold no SQL Server or vault logic.
package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/templates"
)

// Handlers carries what the handlers need; main wires it.
type Handlers struct {
	DB       *db.DB
	Coord    *coordinator.Coordinator
	Logger   *slog.Logger
	Version  string
	Secure   bool // cookies always Secure (else only on https requests)
	Throttle auth.Throttle
	Hashing  *auth.Gate // bounds password checks at once; web.New sets a default
}

// Principal is who makes a request: a signed-in user or an API token.
type Principal struct {
	Name      string
	Role      db.Role
	SessionID string // empty for API tokens
	ViaToken  bool
	Owner     string // the user who made the token, if one did
}

const principalKey = "sqlvault.principal"

// SetPrincipal records who makes the request (the auth middleware calls
// it), also in the request's context, so the jobs it queues name them (a
// token acts for the user who made it).
func SetPrincipal(c echo.Context, p Principal) {
	c.Set(principalKey, p)
	who := p.Name
	if p.ViaToken && p.Owner != "" {
		who = p.Owner + " (token " + p.Name + ")"
	} else if p.ViaToken {
		who = "token " + p.Name
	}
	c.SetRequest(c.Request().WithContext(engine.WithActor(c.Request().Context(), who)))
}

// PrincipalOf returns who makes the request.
func PrincipalOf(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

// CSRFToken is the token the CSRF middleware put in the context.
func CSRFToken(c echo.Context) string {
	s, _ := c.Get("csrf").(string)
	return s
}

func (h *Handlers) page(c echo.Context, title, nav string) templates.Page {
	p, _ := PrincipalOf(c)
	return templates.Page{Title: title, Nav: nav, User: p.Name, Role: string(p.Role), CSRF: CSRFToken(c), Version: h.Version,
		Flash: h.takeFlash(c)}
}

func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

// APIError is the JSON body of every API error. Field names the input
// field at fault (a body field such as "password" or "target.database_name",
// or a query parameter); Fields lists every problem of a policy.
type APIError struct {
	Code    engine.Code         `json:"code"`
	Message string              `json:"message"`
	Action  string              `json:"action"`
	Field   string              `json:"field,omitempty"`
	Fields  []policy.FieldError `json:"fields,omitempty"`
}

// statusOf maps an error code to the HTTP status the API answers with.
func statusOf(code engine.Code) int {
	switch code {
	case engine.CodeInvalidRequest, engine.CodePolicyInvalid, engine.CodeWeakPassword,
		// Registering: the connection test failed on what the user entered.
		engine.CodeInstanceUnreachable, engine.CodeSQLLoginFailed, engine.CodeTLSFailed, engine.CodeNotSQLServer,
		// A database that does not allow the protection or backup asked for.
		engine.CodeDatabaseNotOnline, engine.CodeDatabaseInStandby, engine.CodeAGSecondary, engine.CodeReadOnlyBackupType,
		// The planner's refusals and restore or backup requests that cannot be met.
		engine.CodeTimeNotCovered, engine.CodeLogChainBroken, engine.CodeMissingFullBackup,
		engine.CodeRecoveryPointExpired, engine.CodeOverwriteNotConfirmed, engine.CodeLogBackupSimple,
		engine.CodeStorageLockMissing, engine.CodeAGRestoreOverGroup:
		return http.StatusUnprocessableEntity
	case engine.CodeUnauthorized:
		return http.StatusUnauthorized
	case engine.CodeForbidden, engine.CodeRoleTooHigh, engine.CodeSelfApproval:
		return http.StatusForbidden
	case engine.CodeNotFound, engine.CodeDatabaseNotFound:
		return http.StatusNotFound
	case engine.CodeConflict, engine.CodeLastAdmin, engine.CodePolicyInUse, engine.CodeAlreadyInProgress,
		engine.CodeDatabaseAlreadyProtd, engine.CodeTargetDatabaseExists, engine.CodeProtectionStopped,
		engine.CodeServerAlreadyRegistered, engine.CodeVaultImmutable, engine.CodeImmutabilityLocked:
		return http.StatusConflict
	case engine.CodeTooManyLogins:
		return http.StatusTooManyRequests
	case engine.CodeInternal, engine.CodeVaultCorrupt:
		return http.StatusInternalServerError
	case engine.CodeCatalogStorageFull:
		return http.StatusInsufficientStorage
	case engine.CodeSystemDatabaseTarget:
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadRequest
}

// fieldOfCode names the request field a code is about when the error
// itself names none.
var fieldOfCode = map[engine.Code]string{
	engine.CodeOverwriteNotConfirmed: "target.overwrite",
	engine.CodeTargetDatabaseExists:  "target.database_name",
	engine.CodeTimeNotCovered:        "point_in_time",
	engine.CodeWeakPassword:          "password",
	engine.CodeRoleTooHigh:           "role",
}

// apiErr answers an API request with the JSON error for err, naming the
// field at fault when the error knows it.
func apiErr(c echo.Context, err error) error {
	code := engine.CodeOf(err)
	if errors.Is(err, db.ErrNotFound) {
		code = engine.CodeNotFound
	}
	msg := engine.MessageOf(err)
	if db.IsStorageFull(err) {
		code, msg = engine.CodeCatalogStorageFull, "the catalog's disk is full: the change was not saved"
		if h, ok := c.Get(approvalsKey).(*Handlers); ok && h.Coord != nil {
			h.Coord.CatalogTrouble(code, fmt.Sprintf("a catalog write failed for want of space (%s %s)", c.Request().Method, c.Path()))
		}
	}
	if code == engine.CodeApprovalNeeded {
		if h, ok := c.Get(approvalsKey).(*Handlers); ok {
			return h.requestApproval(c, err)
		}
	}
	if code == engine.CodeInternal {
		slog.Default().Error("api request failed", "path", c.Path(), "err", err)
		msg = "internal error"
	}
	e := APIError{Code: code, Message: msg, Action: code.Action(), Field: coordinator.FieldOf(err), Fields: policy.Fields(err)}
	if e.Field == "" {
		e.Field = fieldOfCode[code]
	}
	if e.Field == "" && len(e.Fields) > 0 {
		e.Field = e.Fields[0].Field
	}
	return c.JSON(statusOf(code), e)
}

// APIErrorJSON answers with a JSON error of the given status and code; the
// central error handler uses it for errors raised by middleware.
func APIErrorJSON(c echo.Context, status int, code engine.Code, msg string) error {
	return c.JSON(status, APIError{Code: code, Message: msg, Action: code.Action()})
}

// ErrorPage renders the portal's error page.
func (h *Handlers) ErrorPage(c echo.Context, status int, heading, msg string) error {
	return render(c, status, templates.ErrorPage(h.page(c, heading, ""), status, heading, msg))
}
