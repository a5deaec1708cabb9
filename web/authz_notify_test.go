package web

import "github.com/sqlvault/sqlvault/db"

// The notification routes and the change-policy pages join the route x
// role tables that TestEveryRouteIsAuthorized and TestAPIRolesOnEveryRoute walk.
func init() {
	apiRoles["POST /api/v1/settings/notifications/test"] = db.RoleAdmin
	for k, r := range map[string]db.Role{
		"POST /settings/notifications":      db.RoleAdmin,
		"POST /settings/notifications/test": db.RoleAdmin,
		"GET /items/policy":                 db.RoleAdmin,
		"POST /items/policy":                db.RoleAdmin,
	} {
		pageRoles[k] = r
	}
}
