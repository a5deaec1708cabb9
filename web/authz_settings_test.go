package web

import "github.com/sqlvault/sqlvault/db"

// The settings and approvals routes join the route x role tables that
// TestEveryRouteIsAuthorized and TestAPIRolesOnEveryRoute walk.
func init() {
	for k, r := range map[string]db.Role{
		"GET /api/v1/settings":               db.RoleReader,
		"PUT /api/v1/settings":               db.RoleAdmin,
		"GET /api/v1/approvals":              db.RoleReader,
		"POST /api/v1/approvals/:id/approve": db.RoleAdmin,
		"POST /api/v1/approvals/:id/reject":  db.RoleAdmin,
	} {
		apiRoles[k] = r
	}
	for k, r := range map[string]db.Role{
		"GET /settings":                      db.RoleReader,
		"POST /settings":                     db.RoleAdmin,
		"POST /approvals/:id/approve":        db.RoleAdmin,
		"POST /approvals/:id/reject":         db.RoleAdmin,
		"POST /recovery-points/:id/undelete": db.RoleAdmin,
		"POST /recovery-points/:id/purge":    db.RoleAdmin,
	} {
		pageRoles[k] = r
	}
}
