package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/handlers"
)

// apiRoutes are the JSON API's routes under /api/v1, each with the role it
// needs: reader reads everything; operator runs backups now, restores and
// cancels jobs; admin registers servers and manages policies and
// protection. docs/api.md documents every one.
func apiRoutes(api *echo.Group, h *handlers.Handlers, r roles) {
	// With multi-user authorization on, a destructive request becomes an
	// approval request (202) instead of a refusal: every API route gets
	// h.Approvals after its role check.
	r = roles{chain(r.reader, h.Approvals), chain(r.operator, h.Approvals), chain(r.admin, h.Approvals)}
	api.GET("/me", h.Me, r.reader)

	// Servers and their databases.
	api.GET("/servers", h.ListServersAPI, r.reader)
	api.POST("/servers", h.RegisterServerAPI, r.admin)
	api.GET("/servers/:id", h.GetServerAPI, r.reader)
	api.PUT("/servers/:id", h.UpdateServerAPI, r.admin)
	api.DELETE("/servers/:id", h.RemoveServerAPI, r.admin)
	api.POST("/servers/:id/rediscover", h.RediscoverAPI, r.admin)
	api.GET("/servers/:id/permission-script", h.PermissionScriptAPI, r.reader)
	api.PUT("/servers/:id/auto-protect", h.SetAutoProtectAPI, r.admin)
	api.GET("/databases", h.ListDatabasesAPI, r.reader)
	api.GET("/availability-groups", h.ListAvailabilityGroupsAPI, r.reader)
	api.GET("/device/ca.crt", h.DeviceCAAPI, r.reader)

	// Policies.
	api.GET("/policies", h.ListPoliciesAPI, r.reader)
	api.POST("/policies", h.CreatePolicyAPI, r.admin)
	api.GET("/policies/:id", h.GetPolicyAPI, r.reader)
	api.PUT("/policies/:id", h.UpdatePolicyAPI, r.admin)
	api.DELETE("/policies/:id", h.DeletePolicyAPI, r.admin)

	// Backup items and their recovery points.
	api.GET("/items", h.ListItemsAPI, r.reader)
	api.POST("/items", h.ProtectAPI, r.admin)
	api.GET("/items/:id", h.GetItemAPI, r.reader)
	api.PUT("/items/:id", h.ChangePolicyAPI, r.admin)
	api.POST("/items/:id/backup", h.BackupNowAPI, r.operator)
	api.POST("/items/:id/stop", h.StopProtectionAPI, r.admin)
	api.POST("/items/:id/resume", h.ResumeProtectionAPI, r.admin)
	api.GET("/items/:id/recovery-points", h.ListPointsAPI, r.reader)
	api.GET("/items/:id/log-ranges", h.LogRangesAPI, r.reader)
	api.GET("/items/:id/plan", h.PlanAPI, r.reader)
	api.POST("/recovery-points/:id/undelete", h.UndeletePointAPI, r.admin)
	api.POST("/recovery-points/:id/purge", h.PurgePointAPI, r.admin)
	api.POST("/recovery-points/:id/verify", h.VerifyPointAPI, r.operator)
	api.POST("/items/:id/verify", h.VerifyItemAPI, r.operator)
	api.POST("/device/test-grants", h.CreateTestGrantAPI, r.admin)

	// Restores and jobs.
	api.POST("/restores", h.RestoreAPI, r.operator)
	api.POST("/restores/proposed-files", h.ProposedFilesAPI, r.operator) // connects to the instance
	api.GET("/jobs", h.ListJobsAPI, r.reader)
	api.GET("/jobs/:id", h.GetJobAPI, r.reader)
	api.POST("/jobs/:id/cancel", h.CancelJobAPI, r.operator)
	api.GET("/jobs/:id/files", h.JobFilesAPI, r.operator)
	api.GET("/jobs/:id/files/:n", h.JobFileAPI, r.operator)

	api.GET("/alerts", h.ListAlertsAPI, r.reader)
	api.POST("/alerts/:id/acknowledge", h.AcknowledgeAlertAPI, r.operator)
	api.GET("/reports/:table", h.ReportAPI, r.reader)

	// Users, their sessions and API tokens. Operators make tokens up to
	// their own role and see and revoke those they made; admins all of them.
	// A reader changes nothing, so its own password only in the portal.
	api.GET("/users", h.ListUsersAPI, r.admin)
	api.POST("/users", h.CreateUserAPI, r.admin)
	api.GET("/users/:id", h.GetUserAPI, r.admin)
	api.PUT("/users/:id", h.UpdateUserAPI, r.admin)
	api.DELETE("/users/:id", h.DeleteUserAPI, r.admin)
	api.GET("/users/:id/sessions", h.ListUserSessionsAPI, r.admin)
	api.DELETE("/sessions/:id", h.EndSessionAPI, r.admin)
	api.GET("/tokens", h.ListTokensAPI, r.reader)
	api.POST("/tokens", h.CreateTokenAPI, r.operator)
	api.DELETE("/tokens/:id", h.RevokeTokenAPI, r.operator)

	// The audit log: read only, through every route.
	api.GET("/audit", h.ListAuditAPI, r.reader)

	// Vault settings (immutability, soft delete, multi-user authorization)
	// and the requests multi-user authorization holds: a second admin
	// decides them.
	api.GET("/settings", h.GetSettingsAPI, r.reader)
	api.PUT("/settings", h.UpdateSettingsAPI, r.admin)
	api.GET("/approvals", h.ListApprovalsAPI, r.reader)
	api.POST("/approvals/:id/approve", h.ApproveAPI, r.admin)
	api.POST("/approvals/:id/reject", h.RejectAPI, r.admin)
	// Notification channels are part of the settings; Test sends to each now.
	api.POST("/settings/notifications/test", h.TestNotificationsAPI, r.admin)
}

// chain runs first, then second, as one middleware.
func chain(first, second echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc { return first(second(next)) }
}
