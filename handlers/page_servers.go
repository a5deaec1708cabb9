package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/templates"
)

// registerTimeout bounds the connection test of the register form.
const registerTimeout = 20 * time.Second

// cardDatabases is how many databases a server's card on /servers lists;
// a server with more shows its counts and links to its own page, so the
// page stays small with thousands of databases.
const cardDatabases = 25

// serverPageSize is a page of the server page's database list.
const serverPageSize = 50

func (h *Handlers) serverView(c echo.Context, s db.Server) (templates.ServerView, error) {
	ctx := c.Request().Context()
	v := templates.ServerView{Server: s}
	var err error
	if v.Counts, err = h.DB.CountDatabases(ctx, s.ID); err != nil {
		return v, err
	}
	v.Collapsed = v.Counts.Total > cardDatabases
	if !v.Collapsed {
		if v.Databases, err = h.DB.ListDatabasesPage(ctx, s.ID, 0, cardDatabases); err != nil {
			return v, err
		}
	}
	if jid, err := h.DB.ActiveServerJob(ctx, "rediscover", s.ID); err == nil && jid != 0 {
		if j, err := h.DB.JobByID(ctx, jid); err == nil {
			v.Job = &j
		}
	}
	return v, nil
}

func (h *Handlers) serversData(c echo.Context) (templates.ServersData, error) {
	ctx := c.Request().Context()
	d := templates.ServersData{Now: time.Now()}
	servers, err := h.DB.ListServers(ctx)
	if err != nil {
		return d, err
	}
	for _, s := range servers {
		v, err := h.serverView(c, s)
		if err != nil {
			return d, err
		}
		d.Servers = append(d.Servers, v)
	}
	if d.Groups, err = h.Coord.AvailabilityGroups(ctx); err != nil {
		return d, err
	}
	d.Policies, err = h.Coord.Policies(ctx)
	return d, err
}

// DefaultEncrypt is a new registration's encryption when none is chosen:
// without TLS the LOGIN7 packet carries the sysadmin password under a
// reversible obfuscation ([MS-TDS] 2.2.6.4), so encryption is on unless
// the user turns it off.
const DefaultEncrypt = "true"

// Servers lists registered SQL Server instances with their databases.
func (h *Handlers) Servers(c echo.Context) error {
	d, err := h.serversData(c)
	if err != nil {
		return err
	}
	d.Form.Port = "1433" // SQL Server's default TCP port
	return render(c, http.StatusOK, templates.Servers(h.page(c, "Protected servers", "servers"), d))
}

// RegisterServer tests the connection and registers the instance; a
// failure is shown next to the field at fault.
func (h *Handlers) RegisterServer(c echo.Context) error {
	f := templates.ServerForm{Name: c.FormValue("name"), Host: c.FormValue("host"), Port: c.FormValue("port"),
		InstanceName: c.FormValue("instance_name"), Username: c.FormValue("username"), Encrypt: c.FormValue("encrypt"),
		Trust: formBool(c, "trust_server_certificate"), AutoProtect: c.FormValue("auto_protect_policy_id")}
	if f.Encrypt == "" {
		f.Encrypt = DefaultEncrypt
	}
	in := coordinator.ServerInput{Name: f.Name, Host: f.Host, InstanceName: f.InstanceName, Username: f.Username,
		Password: c.FormValue("password"), Encrypt: f.Encrypt, TrustServerCertificate: f.Trust}
	var err error
	if p := strings.TrimSpace(f.Port); p != "" {
		if in.Port, err = strconv.Atoi(p); err != nil {
			err = engine.Errorf(engine.CodeInvalidRequest, "port: %q is not a number", p)
			f.Errors = templates.FieldErrs{"port": "enter a number from 1 to 65535"}
		}
	}
	if err == nil && f.AutoProtect != "" {
		pid, perr := strconv.ParseInt(f.AutoProtect, 10, 64)
		if perr == nil {
			in.AutoProtectPolicyID = &pid
		}
	}
	if err == nil {
		var s db.Server
		// A host that accepts the connection but never answers must not
		// hold the form for minutes.
		ctx, cancel := context.WithTimeout(c.Request().Context(), registerTimeout)
		s, _, err = h.Coord.RegisterServer(ctx, in)
		cancel()
		if err == nil {
			return h.seeOtherFlash(c, "/servers#server-"+strconv.FormatInt(s.ID, 10), "Server "+s.Name+" registered.")
		}
		if field := coordinator.FieldOf(err); field != "" {
			msg := engine.MessageOf(err)
			var fe *coordinator.FieldError
			if errors.As(err, &fe) {
				msg = fe.Message
			}
			if refused(err) {
				// The host answered and refused: the port is what is wrong.
				field, msg = "port", "nothing listens on this port of "+in.Host+" (connection refused): check the instance's TCP port and the firewall"
			}
			f.Errors = templates.FieldErrs{field: msg}
		}
	}
	f.Problem = templates.ProblemOf(err)
	d, derr := h.serversData(c)
	if derr != nil {
		return derr
	}
	d.Form = f
	pushURL(c, "/servers")
	return render(c, statusFor(err), templates.Servers(h.page(c, "Protected servers", "servers"), d))
}

// refused reports a connection the host actively refused.
func refused(err error) bool {
	return engine.CodeOf(err) == engine.CodeInstanceUnreachable &&
		(errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(engine.MessageOf(err), "connection refused"))
}

// UnregisterServer removes a server under the API's rules (refused while
// it protects a database or keeps backups); a refusal is shown on the
// server's card with the way out.
func (h *Handlers) UnregisterServer(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	err = h.Coord.RemoveServer(c.Request().Context(), id)
	if err == nil {
		return h.seeOtherFlash(c, "/servers", "Server unregistered.")
	}
	if engine.CodeOf(err) == engine.CodeNotFound {
		return h.pageErr(c, err)
	}
	if engine.CodeOf(err) == engine.CodeApprovalNeeded {
		return h.afterPortalChange(c, "server.remove", nil, err, "")
	}
	d, derr := h.serversData(c)
	if derr != nil {
		return derr
	}
	for i := range d.Servers {
		if d.Servers[i].ID == id {
			d.Servers[i].Problem = templates.ProblemOf(err)
		}
	}
	pushURL(c, "/servers#server-"+c.Param("id"))
	return render(c, statusFor(err), templates.Servers(h.page(c, "Protected servers", "servers"), d))
}

// Rediscover queues a discovery and shows its progress in place; when it
// ends the database list refreshes.
func (h *Handlers) Rediscover(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	jobID, err := h.Coord.Rediscover(ctx, id)
	if !isFragment(c) {
		if err != nil {
			return h.pageErr(c, err)
		}
		return seeOther(c, "/servers#server-"+c.Param("id"))
	}
	if err != nil {
		return render(c, http.StatusOK, templates.InlineProblem(templates.ProblemOf(err)))
	}
	j, err := h.DB.JobByID(ctx, jobID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.JobProgress(j, time.Now(), "/servers/"+c.Param("id")+"/databases", "#server-"+c.Param("id"), true))
}

// pathServer is the server the path's :id names; false when there is none.
func (h *Handlers) pathServer(c echo.Context) (db.Server, bool) {
	id, err := pathID(c)
	if err != nil {
		return db.Server{}, false
	}
	s, err := h.DB.ServerByID(c.Request().Context(), id)
	return s, err == nil
}

// ServerDatabases is the fragment of a server's card: its health, error,
// version, discovery time and databases, refreshed after a discovery.
func (h *Handlers) ServerDatabases(c echo.Context) error {
	s, ok := h.pathServer(c)
	if !ok {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	if !isFragment(c) {
		return seeOther(c, "/servers#server-"+c.Param("id"))
	}
	v, err := h.serverView(c, s)
	if err != nil {
		return err
	}
	pols, err := h.Coord.Policies(ctx)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.ServerCard(h.page(c, "", ""), v, pols, time.Now()))
}

// Server is one server's page: its card with its databases, a page at a
// time (?offset=).
func (h *Handlers) Server(c echo.Context) error {
	s, ok := h.pathServer(c)
	if !ok {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	v, err := h.serverView(c, s)
	if err != nil {
		return err
	}
	offset, _ := strconv.Atoi(c.QueryParam("offset"))
	offset = max(offset, 0)
	if v.Databases, err = h.DB.ListDatabasesPage(ctx, s.ID, offset, serverPageSize); err != nil {
		return err
	}
	v.Collapsed, v.Pager = false, &templates.DatabasePager{Offset: offset, Size: serverPageSize}
	pols, err := h.Coord.Policies(ctx)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, templates.ServerPage(h.page(c, s.Name, "servers"), v, pols, time.Now()))
}

// SetAutoProtect turns auto-protection of new databases on or off.
func (h *Handlers) SetAutoProtect(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	ctx := c.Request().Context()
	var pid *int64
	if v, err := formInt(c, "policy_id"); err != nil {
		return h.pageErr(c, err)
	} else if v != 0 {
		pid = &v
	}
	err = h.Coord.SetAutoProtect(ctx, id, pid)
	if !isFragment(c) {
		if err != nil {
			return h.pageErr(c, err)
		}
		return seeOther(c, "/servers#server-"+c.Param("id"))
	}
	s, serr := h.DB.ServerByID(ctx, id)
	if serr != nil {
		return h.NotFound(c)
	}
	pols, perr := h.Coord.Policies(ctx)
	if perr != nil {
		return perr
	}
	msg := "Saved: auto-protection is off."
	if err != nil {
		msg = engine.MessageOf(err)
	} else if pid != nil {
		msg = "Saved: new databases are protected automatically."
	}
	return render(c, http.StatusOK, templates.AutoProtectForm(h.page(c, "", ""), s, pols, msg))
}

// Protect puts a database under a policy and shows its backup item, where
// the first full backup is running.
func (h *Handlers) Protect(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return h.NotFound(c)
	}
	pid, err := formInt(c, "policy_id")
	if err != nil {
		return h.pageErr(c, err)
	}
	it, _, err := h.Coord.Protect(c.Request().Context(), id, pid)
	if err != nil {
		return h.pageErr(c, err)
	}
	return h.seeOtherFlash(c, "/items/"+strconv.FormatInt(it.ID, 10), "Protection configured; the first full backup is queued.")
}
