package handlers

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// serverJSON is a server as the API shows it: never its password.
type serverJSON struct {
	db.Server
	Databases          int    `json:"databases"`           // discovered, not dropped
	ProtectedDatabases int    `json:"protected_databases"` // with a backup item
	DiscoveryJobID     *int64 `json:"discovery_job_id,omitempty"`
}

func (h *Handlers) serversJSON(c echo.Context, servers []db.Server) ([]serverJSON, error) {
	dbs, err := h.DB.ListDatabases(c.Request().Context(), 0)
	if err != nil {
		return nil, err
	}
	count, protected := map[int64]int{}, map[int64]int{}
	for _, d := range dbs {
		if d.Gone {
			continue
		}
		count[d.ServerID]++
		if d.ItemID != nil {
			protected[d.ServerID]++
		}
	}
	out := make([]serverJSON, 0, len(servers))
	for _, s := range servers {
		out = append(out, serverJSON{Server: s, Databases: count[s.ID], ProtectedDatabases: protected[s.ID]})
	}
	return out, nil
}

func (h *Handlers) serverJSON(c echo.Context, id int64) (serverJSON, error) {
	s, err := h.DB.ServerByID(c.Request().Context(), id)
	if err != nil {
		return serverJSON{}, notFound(err, "server %d does not exist", id)
	}
	out, err := h.serversJSON(c, []db.Server{s})
	if err != nil {
		return serverJSON{}, err
	}
	return out[0], nil
}

// notFound turns the catalog's ErrNotFound into a 404 with a message.
func notFound(err error, format string, args ...any) error {
	if err == db.ErrNotFound {
		return engine.Errorf(engine.CodeNotFound, format, args...)
	}
	return err
}

// RegisterServerAPI tests the connection to a SQL Server instance,
// registers it and queues its first discovery.
func (h *Handlers) RegisterServerAPI(c echo.Context) error {
	var in coordinator.ServerInput
	if err := decodeBody(c, &in, false); err != nil {
		return apiErr(c, err)
	}
	if in.Encrypt == "" {
		in.Encrypt = DefaultEncrypt
	}
	ctx := c.Request().Context()
	if in.AutoProtectPolicyID != nil {
		// Checked first: a server must not be registered by a request
		// that then fails.
		if _, err := h.Coord.Policy(ctx, *in.AutoProtectPolicyID); err != nil {
			if engine.CodeOf(err) == engine.CodeNotFound {
				err = invalidField("auto_protect_policy_id", "no policy has id %d", *in.AutoProtectPolicyID)
			}
			return apiErr(c, err)
		}
	}
	s, jobID, err := h.Coord.RegisterServer(ctx, in)
	if err != nil && s.ID == 0 {
		return apiErr(c, err)
	}
	if err != nil {
		h.Logger.Warn("server registered, discovery not queued", "server", s.ID, "err", err)
	}
	out, err := h.serverJSON(c, s.ID)
	if err != nil {
		return apiErr(c, err)
	}
	if jobID != 0 {
		out.DiscoveryJobID = &jobID
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/servers/%d", s.ID))
	return c.JSON(http.StatusCreated, out)
}

// ListServersAPI lists registered servers with their health.
func (h *Handlers) ListServersAPI(c echo.Context) error {
	servers, err := h.DB.ListServers(c.Request().Context())
	if err != nil {
		return apiErr(c, err)
	}
	out, err := h.serversJSON(c, servers)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"servers": out})
}

// GetServerAPI returns one server.
func (h *Handlers) GetServerAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	out, err := h.serverJSON(c, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// RediscoverAPI queues a discovery of the server's databases (or answers
// the one already queued).
func (h *Handlers) RediscoverAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	jobID, err := h.Coord.Rediscover(c.Request().Context(), id)
	if err != nil {
		return apiErr(c, err)
	}
	return jobAccepted(c, jobID)
}

// autoProtectBody is PUT /servers/:id/auto-protect; a null or absent
// policy_id turns auto-protection off.
type autoProtectBody struct {
	PolicyID *int64 `json:"policy_id"`
}

// SetAutoProtectAPI makes the server's new databases protected by a
// policy, or stops doing so.
func (h *Handlers) SetAutoProtectAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var b autoProtectBody
	if err := decodeBody(c, &b, false); err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if _, err := h.DB.ServerByID(ctx, id); err != nil {
		return apiErr(c, notFound(err, "server %d does not exist", id))
	}
	if b.PolicyID != nil {
		if _, err := h.Coord.Policy(ctx, *b.PolicyID); err != nil {
			if engine.CodeOf(err) == engine.CodeNotFound {
				err = invalidField("policy_id", "no policy has id %d", *b.PolicyID)
			}
			return apiErr(c, err)
		}
	}
	if err := h.Coord.SetAutoProtect(ctx, id, b.PolicyID); err != nil {
		return apiErr(c, err)
	}
	out, err := h.serverJSON(c, id)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, out)
}

// instanceName is what SQL Server allows as an instance name.
var instanceName = regexp.MustCompile(`^[A-Za-z_&#][A-Za-z0-9_$&#]{0,15}$`)

// PermissionScriptAPI downloads the PowerShell script that grants the
// server's login sysadmin and makes the host trust the device; ?instance=
// sets the default of its -InstanceName parameter; ?os=linux answers the
// shell script for SQL Server on Linux instead.
func (h *Handlers) PermissionScriptAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	instance := strings.TrimSpace(c.QueryParam("instance"))
	if instance != "" && !instanceName.MatchString(instance) {
		return apiErr(c, invalidField("instance", "%q is not a SQL Server instance name (1 to 16 letters, digits, _ $ & #, starting with a letter, _, & or #)", instance))
	}
	ctx := c.Request().Context()
	s, err := h.DB.ServerByID(ctx, id)
	if err != nil {
		return apiErr(c, notFound(err, "server %d does not exist", id))
	}
	linux := c.QueryParam("os") == "linux"
	script, err := h.Coord.PermissionScript(ctx, id, instance, linux)
	if err != nil {
		return apiErr(c, err)
	}
	if linux {
		attachment(c, mssql.ScriptFileName(s.Name, true))
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(script))
	}
	b := []byte(script)
	if !isASCII(b) {
		// Windows PowerShell 5.1 reads a script without a BOM as ANSI.
		b = append([]byte("\xef\xbb\xbf"), b...)
	}
	attachment(c, mssql.ScriptFileName(s.Name, false))
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", b)
}

func isASCII(b []byte) bool {
	return !bytes.ContainsFunc(b, func(r rune) bool { return r >= utf8.RuneSelf })
}

// DeviceCAAPI downloads the device's CA certificate (PEM) that SQL Server
// hosts must trust.
func (h *Handlers) DeviceCAAPI(c echo.Context) error {
	attachment(c, "sqlvault-device-ca.crt")
	return c.Blob(http.StatusOK, "application/x-pem-file", h.Coord.DeviceCA())
}

// ListDatabasesAPI lists discovered databases, of one server with
// ?server_id=.
func (h *Handlers) ListDatabasesAPI(c echo.Context) error {
	serverID, err := queryInt(c, "server_id")
	if err != nil {
		return apiErr(c, err)
	}
	ctx := c.Request().Context()
	if serverID != 0 {
		if _, err := h.DB.ServerByID(ctx, serverID); err != nil {
			return apiErr(c, notFound(err, "server %d does not exist", serverID))
		}
	}
	dbs, err := h.DB.ListDatabases(ctx, serverID)
	if err != nil {
		return apiErr(c, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"databases": coordinator.DatabaseViews(dbs)})
}

// UpdateServerAPI changes how sqlvault reaches and logs in to a server
// (host, port, instance, login, password, encryption); the new settings
// are tested first and a rediscovery is queued. The name stays.
func (h *Handlers) UpdateServerAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	var in coordinator.ServerInput
	if err := decodeBody(c, &in, false); err != nil {
		return apiErr(c, err)
	}
	s, jobID, err := h.Coord.UpdateServer(c.Request().Context(), id, in)
	if err != nil {
		return apiErr(c, err)
	}
	out, err := h.serverJSON(c, s.ID)
	if err != nil {
		return apiErr(c, err)
	}
	if jobID != 0 {
		out.DiscoveryJobID = &jobID
	}
	return c.JSON(http.StatusOK, out)
}

// RemoveServerAPI unregisters a server that protects nothing and keeps no
// backups.
func (h *Handlers) RemoveServerAPI(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return apiErr(c, err)
	}
	if err := h.Coord.RemoveServer(c.Request().Context(), id); err != nil {
		return apiErr(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}
