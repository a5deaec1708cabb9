package web

import "github.com/sqlvault/sqlvault/db"

// The verification routes join the route x role tables that
// TestEveryRouteIsAuthorized and TestAPIRolesOnEveryRoute walk: starting a
// verification is an operator's, as Backup now is.
func init() {
	for k, r := range map[string]db.Role{
		"POST /api/v1/recovery-points/:id/verify": db.RoleOperator,
		"POST /api/v1/items/:id/verify":           db.RoleOperator,
	} {
		apiRoles[k] = r
	}
	pageRoles["POST /items/:id/verify"] = db.RoleOperator
}
