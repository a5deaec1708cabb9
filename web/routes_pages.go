package web

import (
	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/handlers"
)

// pageRoutes are the portal's pages and forms. Readers see every page;
// operators run backups and restores and cancel jobs; admins manage
// servers, protection and policies.
func pageRoutes(p *echo.Group, h *handlers.Handlers, r roles) {
	p.GET("/", h.Overview, r.reader)

	p.GET("/servers", h.Servers, r.reader)
	p.POST("/servers", h.RegisterServer, r.admin)
	p.GET("/servers/:id", h.Server, r.reader)
	p.GET("/servers/:id/databases", h.ServerDatabases, r.reader)
	p.POST("/servers/:id/rediscover", h.Rediscover, r.admin)
	p.POST("/servers/:id/unregister", h.UnregisterServer, r.admin)
	p.POST("/servers/:id/auto-protect", h.SetAutoProtect, r.admin)
	p.POST("/databases/:id/protect", h.Protect, r.admin)

	p.GET("/items", h.Items, r.reader)
	p.GET("/items/policy", h.ChangePolicy, r.admin) // what Modify policy does, to confirm
	p.POST("/items/policy", h.ChangePolicy, r.admin)
	p.GET("/items/:id", h.Item, r.reader)
	p.GET("/items/:id/summary", h.ItemSummary, r.reader)
	p.POST("/items/:id/backup", h.BackupNow, r.operator)
	p.POST("/items/:id/verify", h.VerifyItem, r.operator)
	p.GET("/items/:id/stop", h.StopProtection, r.admin) // the confirmation only
	p.POST("/items/:id/stop", h.StopProtection, r.admin)
	p.POST("/items/:id/resume", h.ResumeProtection, r.admin)

	p.GET("/policies", h.Policies, r.reader)
	p.GET("/policies/new", h.NewPolicy, r.admin)
	p.POST("/policies", h.SavePolicy, r.admin)
	p.POST("/policies/preview", h.PreviewPolicy, r.reader)
	p.GET("/policies/:id", h.EditPolicy, r.reader)
	p.POST("/policies/:id", h.SavePolicy, r.admin)
	p.POST("/policies/:id/delete", h.DeletePolicy, r.admin)

	p.GET("/jobs", h.Jobs, r.reader)
	p.GET("/jobs/:id", h.Job, r.reader)
	p.GET("/jobs/:id/progress", h.JobProgress, r.reader)
	p.POST("/jobs/:id/cancel", h.CancelJob, r.operator)

	p.GET("/restore", h.Restore, r.reader)
	p.POST("/restore/plan", h.RestorePlan, r.reader)
	p.POST("/restore", h.StartRestore, r.operator)
	p.POST("/restore/files", h.RestoreFilesPage, r.operator) // asks the instance

	p.GET("/alerts", h.Alerts, r.reader)
	p.POST("/alerts/:id/acknowledge", h.AcknowledgeAlert, r.operator)
	p.GET("/reports", h.Reports, r.reader)

	// Users and their sessions (admins); tokens up to one's own role
	// (operators); one's own password (everyone); the audit log (read only).
	p.GET("/users", h.Users, r.admin)
	p.POST("/users", h.AddUser, r.admin)
	p.GET("/users/:id", h.User, r.admin)
	p.POST("/users/:id", h.UpdateUser, r.admin)
	p.POST("/users/:id/password", h.ResetPassword, r.admin)
	p.POST("/users/:id/delete", h.RemoveUser, r.admin)
	p.POST("/sessions/:id/end", h.EndSession, r.admin)
	p.GET("/tokens", h.Tokens, r.reader)
	p.POST("/tokens", h.AddToken, r.operator)
	p.POST("/tokens/:id/delete", h.RevokeToken, r.operator)
	p.GET("/account", h.Account, r.reader)
	p.POST("/account/password", h.ChangeOwnPassword, r.reader)
	p.GET("/audit", h.Audit, r.reader)

	// Vault settings, approval requests (a second admin decides) and the
	// soft-deleted points that can still be undeleted.
	p.GET("/settings", h.Settings, r.reader)
	p.POST("/settings", h.SaveSettings, r.admin)
	p.POST("/settings/notifications", h.SaveNotifications, r.admin)
	p.POST("/settings/notifications/test", h.TestNotifications, r.admin)
	p.POST("/approvals/:id/approve", h.ApproveRequest, r.admin)
	p.POST("/approvals/:id/reject", h.RejectRequest, r.admin)
	p.POST("/recovery-points/:id/undelete", h.UndeletePoint, r.admin)
	p.POST("/recovery-points/:id/purge", h.PurgePoint, r.admin)
}
