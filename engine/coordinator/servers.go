package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// ServerInput registers a SQL Server instance.
type ServerInput struct {
	Name                   string `json:"name"`
	Host                   string `json:"host"`
	Port                   int    `json:"port"`
	InstanceName           string `json:"instance_name"`
	Username               string `json:"username"`
	Password               string `json:"password"`
	Encrypt                string `json:"encrypt"`
	TrustServerCertificate bool   `json:"trust_server_certificate"`
	AutoProtectPolicyID    *int64 `json:"auto_protect_policy_id"`
}

// FieldError is a problem with one input field; forms show it by the field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &engine.Error{Code: engine.CodeInvalidRequest, Message: field + ": " + msg, Err: &FieldError{field, msg}}
}

// FieldOf names the input field an error is about, for forms: a validation
// error names it; a connection test's failure points at the field a user
// most likely has to fix.
func FieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	switch engine.CodeOf(err) {
	case engine.CodeInstanceUnreachable:
		return "host"
	case engine.CodeNotSQLServer:
		return "port"
	case engine.CodeSQLLoginFailed:
		return "password"
	case engine.CodeTLSFailed:
		return "encrypt"
	}
	return ""
}

func (in *ServerInput) normalize() error {
	in.Host, in.Name, in.Username = strings.TrimSpace(in.Host), strings.TrimSpace(in.Name), strings.TrimSpace(in.Username)
	in.InstanceName = strings.TrimSpace(in.InstanceName) // "": whatever the instance says
	if in.Encrypt == "" {
		in.Encrypt = "disable"
	}
	if in.Port == 0 {
		in.Port = 1433
	}
	switch {
	case in.Host == "":
		return invalid("host", "enter the host name or address of the SQL Server")
	case in.Port < 1 || in.Port > 65535:
		return invalid("port", "a TCP port is between 1 and 65535")
	case in.Username == "":
		return invalid("username", "enter the SQL login sqlvault connects with")
	case in.Password == "":
		return invalid("password", "enter the login's password")
	case in.Encrypt != "disable" && in.Encrypt != "true" && in.Encrypt != "strict":
		return invalid("encrypt", "choose disable, true or strict")
	case len(in.Name) > 128:
		return invalid("name", "at most 128 characters")
	}
	return nil
}

// matchInstance checks the instance name the user gave against the one
// the instance reports, then takes the instance's (and names the server
// host[\instance] if no name was given).
func (in *ServerInput) matchInstance(info mssql.Instance) error {
	if in.InstanceName != "" && !strings.EqualFold(in.InstanceName, info.InstanceName) {
		return invalid("instance_name", "%s:%d is the instance %s, not %s", in.Host, in.Port, info.InstanceName, in.InstanceName)
	}
	in.InstanceName = info.InstanceName
	if in.Name == "" {
		in.Name = in.Host
		if !strings.EqualFold(in.InstanceName, "MSSQLSERVER") {
			in.Name += `\` + in.InstanceName
		}
	}
	return nil
}

// instanceKey is what an instance says it is: the computer (for a failover
// cluster instance the virtual server name, which stays across failovers)
// and the instance name, as SERVERPROPERTY('MachineName') and
// ('InstanceName') report them, whatever host name, address or port
// reached it. "" when the instance does not say.
func instanceKey(info mssql.Instance) string {
	machine := info.MachineName
	if machine == "" {
		machine, _, _ = strings.Cut(info.ServerName, `\`)
	}
	if machine == "" {
		return ""
	}
	return strings.ToUpper(machine + `\` + cmpOr(info.InstanceName, "MSSQLSERVER"))
}

// alreadyRegistered is the refusal of a second registration of an instance.
func alreadyRegistered(existing db.Server, in ServerInput, key string) error {
	msg := fmt.Sprintf("%s:%d is the instance %s, already registered as server %q (id %d)", in.Host, in.Port, key, existing.Name, existing.ID)
	return &engine.Error{Code: engine.CodeServerAlreadyRegistered, Message: msg,
		Err: &FieldError{"host", fmt.Sprintf("this instance is already registered as %q", existing.Name)}}
}

// checkNotRegistered refuses key if a server other than self holds it.
func (c *Coordinator) checkNotRegistered(ctx context.Context, key string, self int64, in ServerInput) error {
	if key == "" {
		return nil
	}
	other, err := c.cfg.DB.ServerByInstanceKey(ctx, key)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID != self:
		return alreadyRegistered(other, in, key)
	}
	return nil
}

func (in ServerInput) target() mssql.Target {
	return mssql.Target{Host: in.Host, Port: in.Port, User: in.Username, Password: in.Password,
		Encrypt: in.Encrypt, TrustServerCertificate: in.TrustServerCertificate}
}

// RegisterServer tests the connection, stores the instance with its
// password sealed, and queues its first discovery. A login without sysadmin
// is registered (so its permission script can be downloaded) but marked
// with UserErrorSQLNoSysadminMembership.
func (c *Coordinator) RegisterServer(ctx context.Context, in ServerInput) (db.Server, int64, error) {
	if err := in.normalize(); err != nil {
		return db.Server{}, 0, err
	}
	conn, err := c.cfg.Connect(ctx, in.target())
	if err != nil {
		return db.Server{}, 0, err
	}
	info, err := conn.Instance(ctx)
	key := identity(ctx, conn, in.Host, in.Port, info) // a listener's is its group's
	conn.Close()
	if err != nil {
		return db.Server{}, 0, err
	}
	if err := in.matchInstance(info); err != nil {
		return db.Server{}, 0, err
	}
	if err := c.checkNotRegistered(ctx, key, 0, in); err != nil {
		return db.Server{}, 0, err
	}
	s, err := c.cfg.DB.CreateServer(ctx, db.Server{Name: in.Name, Host: in.Host, Port: in.Port, InstanceName: in.InstanceName,
		Username: in.Username, PasswordEnc: c.cfg.Secrets.Seal(in.Password), Encrypt: in.Encrypt,
		TrustServerCertificate: in.TrustServerCertificate, InstanceKey: key})
	if errors.Is(err, db.ErrInstanceRegistered) {
		// Registered by a concurrent request since the check above.
		if err := c.checkNotRegistered(ctx, key, 0, in); err != nil {
			return db.Server{}, 0, err
		}
	}
	if errors.Is(err, db.ErrDuplicate) {
		return db.Server{}, 0, &engine.Error{Code: engine.CodeConflict, Message: fmt.Sprintf("a server named %q is already registered", in.Name),
			Err: &FieldError{"name", "this name is taken"}}
	}
	if err != nil {
		return db.Server{}, 0, err
	}
	if in.AutoProtectPolicyID != nil {
		if err := c.SetAutoProtect(ctx, s.ID, in.AutoProtectPolicyID); err != nil {
			return s, 0, err
		}
	}
	c.recordSysadmin(ctx, s, info)
	jobID, err := c.Rediscover(ctx, s.ID)
	if err != nil {
		return s, 0, err
	}
	s, err = c.cfg.DB.ServerByID(ctx, s.ID)
	return s, jobID, err
}

// UpdateServer changes how sqlvault reaches a registered server (host,
// port, login, password, encryption), after testing the new settings, and
// queues a rediscovery. The name stays.
func (c *Coordinator) UpdateServer(ctx context.Context, id int64, in ServerInput) (db.Server, int64, error) {
	s, err := c.server(ctx, id)
	if err != nil {
		return s, 0, err
	}
	in.Name = s.Name
	if err := in.normalize(); err != nil {
		return s, 0, err
	}
	conn, err := c.cfg.Connect(ctx, in.target())
	if err != nil {
		return s, 0, err
	}
	info, err := conn.Instance(ctx)
	key := identity(ctx, conn, in.Host, in.Port, info)
	conn.Close()
	if err != nil {
		return s, 0, err
	}
	if err := in.matchInstance(info); err != nil {
		return s, 0, err
	}
	if err := c.checkNotRegistered(ctx, key, id, in); err != nil {
		return s, 0, err
	}
	s.Host, s.Port, s.InstanceName, s.Username, s.Encrypt = in.Host, in.Port, in.InstanceName, in.Username, in.Encrypt
	s.PasswordEnc, s.TrustServerCertificate, s.InstanceKey = c.cfg.Secrets.Seal(in.Password), in.TrustServerCertificate, key
	if err := c.cfg.DB.UpdateServerConnection(ctx, s); errors.Is(err, db.ErrInstanceRegistered) {
		return s, 0, c.checkNotRegistered(ctx, key, id, in)
	} else if err != nil {
		return s, 0, err
	}
	c.mu.Lock()
	if p, ok := c.conns[id]; ok {
		p.conn.Close()
		delete(c.conns, id)
	}
	c.mu.Unlock()
	c.recordSysadmin(ctx, s, info)
	jobID, err := c.Rediscover(ctx, id)
	if err != nil {
		return s, 0, err
	}
	s, err = c.cfg.DB.ServerByID(ctx, id)
	return s, jobID, err
}

// recordSysadmin sets the server's health from the login's role.
func (c *Coordinator) recordSysadmin(ctx context.Context, s db.Server, info mssql.Instance) {
	if info.Sysadmin {
		c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusHealthy, "", "")
		return
	}
	msg := fmt.Sprintf("login %q is not a member of the sysadmin server role on %s", s.Username, cmpOr(info.ServerName, s.Name))
	c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusUnhealthy, string(engine.CodeNoSysadmin), msg)
	c.raise(ctx, db.Alert{Code: string(engine.CodeNoSysadmin), Message: s.Name + ": " + msg, ServerID: &s.ID})
}

// Rediscover queues a discovery of the server's databases.
func (c *Coordinator) Rediscover(ctx context.Context, serverID int64) (int64, error) {
	if _, err := c.server(ctx, serverID); err != nil {
		return 0, err
	}
	if id, err := c.cfg.DB.ActiveServerJob(ctx, "rediscover", serverID); err != nil || id != 0 {
		return id, err
	}
	return c.enqueue(ctx, db.NewJob{Operation: "rediscover", ServerID: serverID})
}

// SetAutoProtect makes new databases of the server protected by policyID
// (nil turns it off).
func (c *Coordinator) SetAutoProtect(ctx context.Context, serverID int64, policyID *int64) error {
	if _, err := c.server(ctx, serverID); err != nil {
		return err
	}
	if policyID != nil {
		if _, err := c.Policy(ctx, *policyID); err != nil {
			return err
		}
	}
	return c.cfg.DB.SetServerAutoProtect(ctx, serverID, policyID)
}

// PermissionScript is the script that grants sqlvault's login sysadmin
// on the server and makes its host trust the device: PowerShell for
// Windows, or a shell script for SQL Server on Linux. instance, when not
// empty, is the default of the PowerShell script's -InstanceName parameter;
// otherwise the server's registered instance name is.
func (c *Coordinator) PermissionScript(ctx context.Context, serverID int64, instance string, linux bool) (string, error) {
	s, err := c.server(ctx, serverID)
	if err != nil {
		return "", err
	}
	o := mssql.ScriptOptions{Login: s.Username, ServerName: s.Name, ScriptSource: "sqlvault", InstanceName: s.InstanceName,
		FileName: mssql.ScriptFileName(s.Name, linux)}
	if strings.TrimSpace(instance) != "" {
		o.InstanceName = strings.TrimSpace(instance)
	}
	if c.cfg.Device != nil {
		o.DeviceName, o.DeviceCAPEM = c.cfg.DeviceName, c.cfg.Device.CACertPEM()
	}
	if linux {
		return mssql.LinuxPermissionScript(o), nil
	}
	return mssql.PermissionScript(o), nil
}

func (c *Coordinator) server(ctx context.Context, id int64) (db.Server, error) {
	s, err := c.cfg.DB.ServerByID(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return s, engine.Errorf(engine.CodeNotFound, "server %d does not exist", id)
	}
	return s, err
}

// conn opens (or reuses) the plugin's connection pool to a server.
func (c *Coordinator) conn(ctx context.Context, s db.Server) (*mssql.Conn, error) {
	c.mu.Lock()
	p, ok := c.conns[s.ID]
	c.mu.Unlock()
	// A pooled connection to an instance that restarted or went away
	// fails with EOF, which reads as "not SQL Server"; a fresh connect
	// names the real cause (unreachable) or works again.
	if ok && p.key == connKey(s) && p.conn.DB().PingContext(ctx) == nil {
		return p.conn, nil
	}
	pw, err := c.cfg.Secrets.Open(s.PasswordEnc)
	if err != nil {
		return nil, engine.Wrap(engine.CodeInternal, err, "the stored password cannot be decrypted with this server's key")
	}
	conn, err := c.cfg.Connect(ctx, mssql.Target{Host: s.Host, Port: s.Port, User: s.Username, Password: pw,
		Encrypt: s.Encrypt, TrustServerCertificate: s.TrustServerCertificate})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.conns[s.ID]; ok {
		if cur.conn != p.conn && cur.key == connKey(s) {
			// Another job connected while this one did: share its pool
			// rather than close one that job is using.
			conn.Close()
			return cur.conn, nil
		}
		cur.conn.Close()
	}
	c.conns[s.ID] = pooled{conn: conn, key: connKey(s)}
	return conn, nil
}

type pooled struct {
	conn *mssql.Conn
	key  string
}

func connKey(s db.Server) string {
	return fmt.Sprintf("%s|%d|%s|%x|%s|%v", s.Host, s.Port, s.Username, s.PasswordEnc, s.Encrypt, s.TrustServerCertificate)
}

// runRediscover discovers the server's databases, checks sysadmin, notes
// changes and auto-protects new databases.
func (c *Coordinator) runRediscover(ctx context.Context, j db.Job, st *steps) error {
	if j.ServerID == nil {
		return engine.Errorf(engine.CodeInternal, "discovery job %d names no server", j.ID)
	}
	s, err := c.server(ctx, *j.ServerID)
	if err != nil {
		return err
	}
	st.begin("Connect", s.Host)
	conn, err := c.conn(ctx, s)
	if err != nil {
		c.serverDown(ctx, s, err)
		return err
	}
	st.begin("Check permissions", "IS_SRVROLEMEMBER('sysadmin')")
	info, err := conn.Instance(ctx)
	if err != nil {
		c.serverDown(ctx, s, err)
		return err
	}
	if err := c.checkIdentity(ctx, s, info); err != nil {
		return err
	}
	c.recordSysadmin(ctx, s, info)
	if !info.Sysadmin {
		return engine.Errorf(engine.CodeNoSysadmin, "login %q is not a member of the sysadmin server role on %s", s.Username, s.Name)
	}
	c.cfg.DB.ResolveAlerts(ctx, s.ID, 0)
	st.begin("Discover databases", "")
	found, err := conn.Databases(ctx)
	if err == nil {
		found, err = listenerDatabases(ctx, conn, s, found)
	}
	if err != nil {
		return err
	}
	c.cfg.DB.JobProgress(ctx, j.ID, 60, 0)
	rows := make([]db.Database, 0, len(found))
	for _, d := range found {
		if d.IsSnapshot {
			continue // a database snapshot is never backed up: not offered at all
		}
		rows = append(rows, db.Database{Name: d.Name, GUID: d.GUID, State: d.State, RecoveryModel: d.RecoveryModel,
			CompatibilityLevel: d.CompatibilityLevel, SizeBytes: d.SizeBytes, IsSystem: d.IsSystem,
			IsReadOnly: d.IsReadOnly, IsInStandby: d.IsInStandby, IsAGSecondary: d.AGSecondary})
	}
	res, err := c.cfg.DB.SaveDiscovery(ctx, s.ID, db.InstanceInfo{Version: info.Version, Edition: info.Edition,
		DefaultDataPath: info.DefaultDataPath, DefaultLogPath: info.DefaultLogPath}, rows)
	if err != nil {
		return err
	}
	groups := c.discoverGroups(ctx, conn, s)
	st.detail(fmt.Sprintf("%d databases: %d new, %d gone, %d changed; %d availability groups", len(rows), len(res.New), len(res.Gone), len(res.Changed), groups))
	if err := c.noteRecoveryModels(ctx, s.ID); err != nil {
		return err
	}
	c.protectReplaced(ctx, s, res.Replaced)
	if s.AutoProtectPolicyID != nil && len(res.New) > 0 {
		st.begin("Auto-protect", fmt.Sprintf("%d new databases", len(res.New)))
		return c.autoProtect(ctx, s, res.New)
	}
	return nil
}

// protectReplaced handles databases dropped and recreated under their
// name (a new database_guid: another database to SQL Server, whose log
// chain shares nothing with the old one): discovery has stopped the old
// item, which keeps its points; an alert says so, and the new database is
// protected afresh under the old item's policy if that item was protected.
// With auto-protection on, a new database is protected by it anyway.
func (c *Coordinator) protectReplaced(ctx context.Context, s db.Server, list []db.Replacement) {
	for _, r := range list {
		old, err := c.item(ctx, r.OldItemID)
		if err != nil {
			c.log.Error("replaced database", "database", r.Name, "err", err)
			continue
		}
		msg := fmt.Sprintf("%s: database %s was replaced (dropped and recreated): the points of item %d stay restorable", s.Name, r.Name, old.ID)
		var policyID *int64
		if old.PolicyID != nil && r.OldItemProtected {
			policyID = old.PolicyID
		} else if s.AutoProtectPolicyID != nil {
			policyID = s.AutoProtectPolicyID
		}
		if policyID != nil {
			if it, _, err := c.Protect(ctx, r.NewDatabaseID, *policyID); err == nil {
				msg += fmt.Sprintf("; item %d protects the new database", it.ID)
			} else {
				msg += "; the new database could not be protected: " + engine.MessageOf(err)
			}
		} else {
			msg += "; protect the new database to back it up"
		}
		c.raise(ctx, db.Alert{Severity: "warning", Code: string(engine.CodeDatabaseReplaced), Message: msg, ServerID: &s.ID, ItemID: &old.ID})
	}
}

// connectSysadmin connects to a server for a backup or restore and checks
// the login is sysadmin, keeping the server's health and alerts up to
// date either way.
func (c *Coordinator) connectSysadmin(ctx context.Context, s db.Server) (*mssql.Conn, mssql.Instance, error) {
	conn, err := c.conn(ctx, s)
	if err != nil {
		c.serverDown(ctx, s, err)
		return nil, mssql.Instance{}, err
	}
	info, err := conn.Instance(ctx)
	if err != nil {
		c.serverDown(ctx, s, err)
		return nil, info, err
	}
	if err := c.checkIdentity(ctx, s, info); err != nil {
		return nil, info, err
	}
	if !info.Sysadmin {
		c.recordSysadmin(ctx, s, info)
		return nil, info, engine.Errorf(engine.CodeNoSysadmin, "login %q is not a member of the sysadmin server role on %s", s.Username, s.Name)
	}
	if s.Status != db.StatusHealthy {
		// Reached with sysadmin again: the outage or missing role is over.
		c.recordSysadmin(ctx, s, info)
		c.cfg.DB.ResolveAlerts(ctx, s.ID, 0)
	}
	return conn, info, nil
}

// checkIdentity makes sure the instance a server reaches is not one that
// another registration holds (a catalog from before identities were
// stored may have two), recording its identity the first time. Two
// registrations backing up one database break each other's log chains.
func (c *Coordinator) checkIdentity(ctx context.Context, s db.Server, info mssql.Instance) error {
	if isListenerKey(s.InstanceKey) {
		return c.checkListener(ctx, s) // a new primary after a failover is expected (ag_listener.go)
	}
	key := instanceKey(info)
	if key == "" || key == s.InstanceKey {
		return nil
	}
	in := ServerInput{Host: s.Host, Port: s.Port}
	err := c.checkNotRegistered(ctx, key, s.ID, in)
	if err == nil {
		if s.InstanceKey != "" {
			c.log.Warn("the instance a server reaches now says it is another", "server", s.Name, "was", s.InstanceKey, "now", key)
		}
		err = c.cfg.DB.SetServerInstanceKey(ctx, s.ID, key)
		if errors.Is(err, db.ErrInstanceRegistered) {
			err = c.checkNotRegistered(ctx, key, s.ID, in)
		}
	}
	if engine.CodeOf(err) == engine.CodeServerAlreadyRegistered {
		msg := engine.MessageOf(err) + "; unregister one of the two"
		c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusUnhealthy, string(engine.CodeServerAlreadyRegistered), msg)
		c.raise(ctx, db.Alert{Code: string(engine.CodeServerAlreadyRegistered), Message: s.Name + ": " + msg, ServerID: &s.ID})
	}
	return err
}

// serverDown marks a server unreachable and raises an alert.
func (c *Coordinator) serverDown(ctx context.Context, s db.Server, err error) {
	code := engine.CodeOf(err)
	c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusUnhealthy, string(code), engine.MessageOf(err))
	c.raise(ctx, db.Alert{Code: string(code), Message: s.Name + ": " + engine.MessageOf(err), ServerID: &s.ID})
}

// noteRecoveryModels explains on each item of the server why log backups
// are off (SIMPLE recovery) or clears that note.
func (c *Coordinator) noteRecoveryModels(ctx context.Context, serverID int64) error {
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{ServerID: serverID})
	if err != nil {
		return err
	}
	for _, it := range items {
		note := ""
		if strings.EqualFold(it.RecoveryModel, "SIMPLE") {
			note = simpleNote
		}
		if it.IsReadOnly {
			note = protectNote(db.Database{Name: it.DatabaseName, IsReadOnly: true})
		}
		// Only its own note: others (a replaced database) stay.
		if note != it.Note && (note == simpleNote || it.Note == simpleNote) {
			c.cfg.DB.SetItemNote(ctx, it.ID, note)
		}
	}
	return nil
}

const simpleNote = "Log backups are off: the database uses the SIMPLE recovery model, which keeps no log chain. Full and differential backups run."

func (c *Coordinator) autoProtect(ctx context.Context, s db.Server, names []string) error {
	dbs, err := c.cfg.DB.ListDatabases(ctx, s.ID)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		// A database that cannot be protected shows why in its list; no
		// warning each time it is discovered.
		if d.IsSystem || d.ItemID != nil || !contains(names, d.Name) || !ProtectabilityOf(d).Protectable() {
			continue
		}
		if _, _, err := c.Protect(ctx, d.ID, *s.AutoProtectPolicyID); err != nil {
			c.log.Warn("auto-protect", "server", s.Name, "database", d.Name, "err", err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RemoveServer unregisters a server and closes its connections. It is
// refused while a database of it is protected or keeps backup data; data
// already soft-deleted is purged with it.
func (c *Coordinator) RemoveServer(ctx context.Context, id int64) error {
	s, err := c.server(ctx, id)
	if err != nil {
		return err
	}
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{ServerID: id})
	if err != nil {
		return err
	}
	points, err := c.cfg.DB.ServerPoints(ctx, id)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.State == db.ItemProtected {
			return engine.Errorf(engine.CodeConflict, "%s still protects %s; stop its protection first", s.Name, it.DatabaseName)
		}
	}
	for _, p := range points {
		if p.DeletedAt == nil {
			return engine.Errorf(engine.CodeConflict, "%s keeps backups of its databases; stop protection with delete data first", s.Name)
		}
	}
	if err := c.guardRemoveServer(ctx, len(points)); err != nil {
		return err
	}
	for _, p := range points {
		for _, b := range p.Blobs {
			if err := c.cfg.Vault.DeleteBlob(ctx, b); err != nil {
				return err
			}
		}
	}
	if err := c.cfg.DB.DeleteServer(ctx, id); err != nil {
		return err
	}
	c.mu.Lock()
	if p, ok := c.conns[id]; ok {
		p.conn.Close()
		delete(c.conns, id)
	}
	c.mu.Unlock()
	return nil
}
