package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// readOnlyPosts are POST routes that change nothing (previews and
// plans); every other POST, PUT and DELETE is audited.
var readOnlyPosts = map[string]bool{
	"POST /policies/preview": true,
	"POST /restore/plan":     true,
}

// actionNames name routes whose derived action would read badly.
var actionNames = map[string]string{
	"POST /logout":                         "auth.sign_out",
	"POST /api/v1/items":                   "item.protect",
	"PUT /api/v1/items/:id":                "item.change_policy",
	"PUT /api/v1/me/password":              "user.change_own_password",
	"POST /account/password":               "user.change_own_password",
	"POST /api/v1/servers":                 "server.register",
	"POST /servers":                        "server.register",
	"DELETE /api/v1/servers/:id":           "server.remove",
	"POST /api/v1/restores":                "restore.start",
	"POST /restore":                        "restore.start",
	"POST /api/v1/tokens":                  "token.create",
	"DELETE /api/v1/tokens/:id":            "token.revoke",
	"POST /tokens/:id/delete":              "token.revoke",
	"DELETE /api/v1/sessions/:id":          "session.end",
	"PUT /api/v1/servers/:id/auto-protect": "server.auto_protect",
	"PUT /api/v1/settings":                 "settings.update",
	"POST /settings":                       "settings.update",
}

// auditLog records every mutating request that passed authentication,
// whatever its outcome, once it has been answered: who, from where, the
// action and target derived from the route, and the status. It sits on
// the portal's and the API's groups, so no route can be left out.
func auditLog(catalog *db.DB, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			m := c.Request().Method
			if m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || readOnlyPosts[m+" "+c.Path()] {
				return next(c)
			}
			err := next(c)
			e := auditEntry(c, err)
			// Written even when the client has gone: the change may be done.
			if rerr := catalog.RecordAudit(context.WithoutCancel(c.Request().Context()), e); rerr != nil {
				log.Error("audit entry not recorded", "action", e.Action, "actor", e.Actor, "err", rerr)
			}
			return err
		}
	}
}

func auditEntry(c echo.Context, err error) db.AuditEntry {
	p, _ := handlers.PrincipalOf(c)
	route := c.Path()
	action, target := actionOf(c.Request().Method, route)
	status := c.Response().Status
	if err != nil {
		status = http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
		}
	}
	e := db.AuditEntry{Actor: p.Name, Addr: c.RealIP(), Action: action, Method: c.Request().Method, Route: route,
		TargetType: target, TargetID: c.Param("id"), Status: status, Detail: handlers.AuditNote(c)}
	if e.TargetID == "" {
		e.TargetID = handlers.AuditTargetOf(c)
	}
	if e.TargetID == "" && status < 400 {
		e.TargetID = createdID(c.Response().Header().Get(echo.HeaderLocation), target)
	}
	switch {
	case status < 400:
		e.Outcome = db.AuditSuccess
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Outcome = db.AuditDenied
	default:
		e.Outcome = db.AuditFailed
	}
	return e
}

// actionOf derives "target.verb" from a route: the first segment after
// /api/v1, singular, is the target; a last segment that is not a
// parameter is the verb; else POST creates (or, on a portal form with an
// id, updates), PUT updates and DELETE deletes.
func actionOf(method, route string) (action, target string) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(route, "/api/v1"), "/"), "/")
	target = singular(segs[0])
	verb := ""
	if last := segs[len(segs)-1]; len(segs) > 1 && !strings.HasPrefix(last, ":") {
		verb = strings.ReplaceAll(last, "-", "_")
	}
	if verb == "" {
		hasID := strings.Contains(route, "/:")
		switch {
		case method == http.MethodPost && !hasID:
			verb = "create"
		case method == http.MethodDelete:
			verb = "delete"
		default:
			verb = "update"
		}
	}
	action = target + "." + verb
	if name, ok := actionNames[method+" "+route]; ok {
		action = name
	}
	return action, target
}

func singular(s string) string {
	s = strings.ReplaceAll(s, "-", "_")
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "s"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

// createdID is the id at the end of a 201's Location when it names an
// object of the target's kind, e.g. /api/v1/policies/3 for a policy.
func createdID(location, target string) string {
	i := strings.LastIndexByte(location, '/')
	if i < 0 || singular(location[strings.LastIndexByte(location[:i], '/')+1:i]) != target {
		return ""
	}
	return location[i+1:]
}
