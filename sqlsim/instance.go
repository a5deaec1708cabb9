// Package sqlsim is a SQL Server simulator for tests and demo mode. It
// speaks TDS (package tds) and behaves like SQL Server 2022 where sqlvault
// depends on it: logins and sysadmin, the catalog views discovery reads,
// databases with a transaction log and LSNs, BACKUP ... TO URL and RESTORE
// ... FROM URL against Azure-style block blobs, msdb's backup history, and
// SQL Server's error numbers. README.md is its specification.
package sqlsim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// Config sets up one simulated instance.
type Config struct {
	Addr              string // "127.0.0.1:0" picks a free port
	DataDir           string // state survives restarts here; "" keeps it in memory
	SAPassword        string
	TrustCA           *x509.CertPool    // CAs trusted for BACKUP/RESTORE URLs (SQL Server's OS store)
	Hosts             map[string]string // name -> IP, as the hosts file
	AllowedDevicePort int               // 0: SQL Server's rule, port 443 only
	InstanceName      string            // default MSSQLSERVER
	MachineName       string            // default SQLSIM
	Logins            []Login
	Blobs             Blobs // how URLs are reached; nil: HTTPS (sqlsim/blob)
	Logger            *slog.Logger
	Now               func() time.Time
	TLS               bool // offer TLS on the TDS port with a self-signed certificate

	// Host operating system (hostos.go). HostOS is "windows" (default) or
	// "linux". TrustCAPEM is a CA the host's administrator installed for
	// SQL Server: on windows added to TrustCA; on linux written into
	// CAStoreDir at Start, the only CAs SQL Server on Linux trusts (TrustCA,
	// the OS store, is ignored there). BlockListBOM starts windows' UTF-16LE
	// block lists with a byte order mark.
	HostOS       string
	TrustCAPEM   []byte
	BlockListBOM bool

	// The version and time zone played (flavour.go): ProductVersion as
	// SERVERPROPERTY answers it (default DefaultProductVersion), TimeZone
	// an IANA name (default UTC) whose wall clock GETDATE, msdb and STOPAT
	// use.
	ProductVersion string
	TimeZone       string

	// Fault is the initial setting of the fault knobs (SetFault changes it).
	Fault Fault
	// SyntheticDatabases are created at start unless a database of that
	// name exists already (see CreateSyntheticDatabase).
	SyntheticDatabases []SyntheticDatabase
	// AGSecondaries names databases the instance holds as secondary
	// replicas of an availability group (sys.databases.replica_id set,
	// is_primary_replica 0 in sys.dm_hadr_database_replica_states).
	AGSecondaries []string
}

// Fault injects failures for tests. The zero value injects none.
type Fault struct {
	// CutAtPercent > 0 drops the client's TCP connection when a BACKUP
	// reaches this percent of its pages, as a network failure would: the
	// blobs are left uncommitted (leases released, no Put Block List) and
	// msdb records nothing.
	CutAtPercent int
	// DeviceDelay pauses before each block (MAXTRANSFERSIZE bytes) a
	// BACKUP writes to a URL and before each block-sized read of a RESTORE:
	// a slow device.
	DeviceDelay time.Duration
	// RestoreCutAtPercent > 0 drops the client's TCP connection when a
	// RESTORE has read this percent of a backup's pages, before anything
	// is applied: the target database stays as the previous link left it.
	RestoreCutAtPercent int
	// RestoreLeavesRestoring makes a RESTORE ... WITH RECOVERY succeed but
	// leave the database RESTORING, as a real restore does when STOPAT
	// lies beyond the last log applied.
	RestoreLeavesRestoring bool
	// CorruptPages names databases with a damaged data page (dbcc.go):
	// DBCC CHECKDB reports 8928/8939 and backups carry the page.
	CorruptPages []string
}

// SyntheticDatabase is a database of Size bytes of generated pages.
type SyntheticDatabase struct {
	Name string
	Size int64
}

// Instance is a running simulated SQL Server.
type Instance struct {
	cfg  Config
	srv  *tds.Server
	l    net.Listener
	done chan struct{}

	flav flavour

	mu    sync.Mutex
	st    *state
	fault Fault
	inUse map[string]int // database -> sessions using it
	ag    agMember       // its availability group (ag.go)

	tlsCertPEM []byte // the TDS port's self-signed certificate (Config.TLS)
}

// TLSCertPEM is the certificate the TDS port presents with Config.TLS, for
// clients that verify it (TDS 8.0 strict encryption always does).
func (in *Instance) TLSCertPEM() []byte { return in.tlsCertPEM }

// state is what persists.
type state struct {
	Logins      map[string]*Login
	Credentials map[string]*Credential
	Databases   map[string]*Database
	NextDBID    int
	NextCredID  int
	Backupsets  []*Backupset
	NextSetID   int64
	Restores    []*Restorehistory
	AG          *agRecord // the availability group it is a replica of (ag_state.go)
}

// Start opens (or creates) the instance's state and listens.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	if cfg.InstanceName == "" {
		cfg.InstanceName = "MSSQLSERVER"
	}
	if cfg.MachineName == "" {
		cfg.MachineName = "SQLSIM"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	in := &Instance{cfg: cfg, done: make(chan struct{}), inUse: map[string]int{}, fault: cfg.Fault}
	var err error
	if in.flav, err = newFlavour(cfg); err != nil {
		return nil, err
	}
	if err := in.load(); err != nil {
		return nil, err
	}
	in.markAGSecondaries()
	for _, sd := range cfg.SyntheticDatabases {
		if _, ok := in.st.Databases[strings.ToLower(sd.Name)]; ok {
			continue
		}
		if err := in.CreateSyntheticDatabase(ctx, sd.Name, sd.Size); err != nil {
			return nil, err
		}
	}
	if in.cfg.Blobs == nil {
		in.cfg.Blobs = httpBlobs(cfg)
	}
	opts := tds.Options{Logger: cfg.Logger}
	if cfg.TLS {
		tlsCfg, certPEM, err := tds.SelfSignedTLS(cfg.MachineName, "localhost")
		if err != nil {
			return nil, err
		}
		in.tlsCertPEM = certPEM
		opts.TLSConfig = tlsCfg
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sqlsim listen: %w", err)
	}
	in.l = l
	in.srv = tds.NewServer(in, opts)
	go func() {
		defer close(in.done)
		in.srv.Serve(l)
	}()
	return in, nil
}

// Addr is the TDS address clients dial.
func (in *Instance) Addr() string { return in.l.Addr().String() }

// Port is the TDS port.
func (in *Instance) Port() int { return in.l.Addr().(*net.TCPAddr).Port }

// Close stops the instance; its state is already on disk.
func (in *Instance) Close() error {
	err := in.srv.Close()
	<-in.done
	return err
}

// SetFault sets the fault knobs; backups and restores that start later
// see the new setting.
func (in *Instance) SetFault(f Fault) {
	in.mu.Lock()
	in.fault = f
	in.mu.Unlock()
}

func (in *Instance) faults() Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fault
}

// ServerName is @@SERVERNAME: the machine, and the instance when named.
func (in *Instance) ServerName() string {
	if strings.EqualFold(in.cfg.InstanceName, "MSSQLSERVER") {
		return in.cfg.MachineName
	}
	return in.cfg.MachineName + `\` + in.cfg.InstanceName
}

func (in *Instance) statePath() string { return filepath.Join(in.cfg.DataDir, "sqlsim-state.gob") }

// load reads the saved state, or creates the system databases and logins.
func (in *Instance) load() error {
	if in.cfg.DataDir != "" {
		data, err := os.ReadFile(in.statePath())
		if err == nil {
			var st state
			if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
				return fmt.Errorf("sqlsim state %s: %w", in.statePath(), err)
			}
			in.st = &st
			in.applyConfigLogins()
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	now := in.cfg.Now()
	in.st = &state{Logins: map[string]*Login{}, Credentials: map[string]*Credential{}, Databases: map[string]*Database{}, NextDBID: 5, NextCredID: 65536, NextSetID: 1}
	for i, name := range []string{"master", "tempdb", "model", "msdb"} {
		rm := "SIMPLE"
		if name == "model" {
			rm = "FULL"
		}
		in.st.Databases[name] = &Database{Name: name, ID: i + 1, GUID: newGUID(), Created: now, State: "ONLINE", Recovery: rm,
			Compat: 160, Tables: map[string]*Table{}, Pages: 512}
	}
	in.applyConfigLogins()
	return in.save()
}

// applyConfigLogins makes sa and the configured logins match the config.
func (in *Instance) applyConfigLogins() {
	in.st.Logins["sa"] = &Login{Name: "sa", Password: in.cfg.SAPassword, Sysadmin: true, Created: in.cfg.Now()}
	for _, l := range in.cfg.Logins {
		l := l
		if l.Created.IsZero() {
			l.Created = in.cfg.Now()
		}
		in.st.Logins[strings.ToLower(l.Name)] = &l
	}
}

// save writes the state atomically. Callers hold in.mu. A failure is
// logged and answered as an error: a change that is not durable says so.
func (in *Instance) save() error {
	if in.cfg.DataDir == "" {
		return nil
	}
	if err := in.writeState(); err != nil {
		in.cfg.Logger.Error("sqlsim: state not saved; the change is undone", "path", in.statePath(), "err", err)
		in.reloadState()
		return sqlErr(50000, 16, "sqlsim could not save its state ("+err.Error()+"): the change is not durable and was undone.")
	}
	return nil
}

// reloadState goes back to the last state saved, so a change that could
// not be made durable is not kept in memory either. Callers hold in.mu.
func (in *Instance) reloadState() {
	data, err := os.ReadFile(in.statePath())
	if err != nil {
		return
	}
	var st state
	if gob.NewDecoder(bytes.NewReader(data)).Decode(&st) == nil {
		in.st = &st
		in.applyConfigLogins()
	}
}

func (in *Instance) writeState() error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(in.st); err != nil {
		return err
	}
	if err := os.MkdirAll(in.cfg.DataDir, 0o700); err != nil {
		return err
	}
	tmp := in.statePath() + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, in.statePath())
}

// Login implements tds.Handler.
func (in *Instance) Login(ctx context.Context, req tds.LoginRequest) (tds.Session, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	l, ok := in.st.Logins[strings.ToLower(req.User)]
	if !ok || l.Password != req.Password || req.Password == "" {
		return nil, tds.LoginFailed(req.User)
	}
	db := "master"
	if req.Database != "" {
		d, ok := in.st.Databases[strings.ToLower(req.Database)]
		if !ok || d.State != "ONLINE" {
			return nil, &tds.Message{Number: 4060, Class: 11, State: 1,
				Text: fmt.Sprintf("Cannot open database \"%s\" requested by the login. The login failed.", req.Database)}
		}
		db = d.Name
	}
	s := &session{in: in, login: l, db: db, loginDB: db}
	in.inUse[strings.ToLower(db)]++
	return s, nil
}
