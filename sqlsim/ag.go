package sqlsim

// Always On availability groups (README.md "Availability groups").
//
// Go API (for tests and demo):
//
//	func NewGroup(name, listener, pref string, replicas ...*Instance) (*Group, error)
//	func (g *Group) AddDatabase(ctx context.Context, db string) error
//	func (g *Group) Failover(to *Instance) error
//	func (g *Group) Kill(r *Instance) error   // cut off; a killed primary hands over
//	func (g *Group) Revive(r *Instance) error // rejoins as a secondary
//	func (g *Group) SetPreference(pref string) error
//	func (g *Group) SetPriority(r *Instance, priority int) error
//	func (g *Group) Primary() *Instance
//	func (g *Group) ID() string                  // group_id, lower case
//	func (g *Group) ReplicaID(r *Instance) string // replica_id, lower case
//	func JoinGroup(in *Instance, name string, pc PeerConfig) (*Group, error) // ag_peer.go
//	func (g *Group) Close() error                  // stops a JoinGroup's peer endpoint
//
// Usage:
//
//	a, _ := sqlsim.Start(ctx, sqlsim.Config{SAPassword: pw, MachineName: "SQL1"})
//	b, _ := sqlsim.Start(ctx, sqlsim.Config{SAPassword: pw, MachineName: "SQL2"})
//	// CREATE DATABASE [Sales] on a (FULL recovery), then:
//	g, _ := sqlsim.NewGroup("ag1", "ag1-listener:1433", "secondary", a, b) // a is primary
//	_ = g.AddDatabase(ctx, "Sales") // Sales on b: same database_guid and LSNs
//	_ = g.SetPriority(b, 60)
//	_ = g.Failover(b) // b primary, a secondary
//	_ = g.Kill(b)     // a takes over; b is DISCONNECTED from a
//	_ = g.Revive(b)   // b resynchronizes as a secondary
//
// pref is automated_backup_preference_desc in any case: primary,
// secondary_only, secondary or none. Replicas are named by their
// @@SERVERNAME (Config.MachineName), which must differ.

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"

	"github.com/google/uuid"
)

// Group is an availability group of simulated instances: those of this
// process, and those of other processes reached through peers
// (ag_peer.go). Lock order: an Instance's mu, then the Group's mu; never
// two instances' mu at once.
type Group struct {
	mu       sync.Mutex
	name     string
	id       [16]byte
	listener string
	port     int
	pref     string // PRIMARY, SECONDARY_ONLY, SECONDARY, NONE
	replicas []*agReplica
	dbs      []*agDatabase
	created  time.Time
	version  int64    // counts changes of roles and settings; peers adopt a higher one
	peers    *agPeers // replicas in other processes; nil when all are local
}

// agReplica is one availability replica.
type agReplica struct {
	in       *Instance // nil for a replica in another process
	name     string    // replica_server_name
	host     string    // machine name, for endpoint_url
	peer     string    // another process's peer endpoint, HOST:PORT
	lastSeen time.Time // last word from a remote replica
	id       [16]byte
	priority int               // backup_priority 0..100
	primary  bool              // role PRIMARY
	async    bool              // ASYNCHRONOUS_COMMIT: not waited for (ag_commit.go)
	down     bool              // cut off from the group (Kill), or a remote replica silent too long
	synced   map[string]string // database -> fingerprint of the primary's copy it holds
	left     map[string]bool   // databases taken out here (ALTER DATABASE ... SET HADR OFF)
}

func newReplica(group, name, host string, priority int) *agReplica {
	return &agReplica{name: name, host: strings.ToLower(host), id: agGUID(group, "replica", strings.ToUpper(name)), priority: priority,
		synced: map[string]string{}, left: map[string]bool{}}
}

// agDatabase is a database joined to the group.
type agDatabase struct {
	name    string
	groupDB [16]byte // group_database_id, the same on every replica
}

// agMember is the Instance's link to its group (Instance.ag).
type agMember = atomic.Pointer[Group]

// backupPreferences are automated_backup_preference's codes
// (/sql/relational-databases/system-catalog-views/sys-availability-groups-transact-sql).
var backupPreferences = map[string]int64{"PRIMARY": 0, "SECONDARY_ONLY": 1, "SECONDARY": 2, "NONE": 3}

// NewGroup forms a group of replicas; the first is the primary.
func NewGroup(name, listener, pref string, replicas ...*Instance) (*Group, error) {
	g, err := newGroup(name, listener, pref, replicas...)
	if err != nil {
		return nil, err
	}
	for _, in := range replicas {
		in.ag.Store(g)
	}
	g.persist()
	return g, nil
}

// newGroup builds a group and restores its saved state, unpublished.
func newGroup(name, listener, pref string, replicas ...*Instance) (*Group, error) {
	if len(replicas) == 0 {
		return nil, fmt.Errorf("sqlsim: a group needs a replica")
	}
	pref = strings.ToUpper(pref)
	if _, ok := backupPreferences[pref]; !ok {
		return nil, fmt.Errorf("sqlsim: automated backup preference %q: want primary, secondary_only, secondary or none", pref)
	}
	g := &Group{name: name, id: agGUID(name), pref: pref, port: 1433, created: time.Now().UTC()}
	if listener != "" {
		g.listener = listener
		if h, p, err := net.SplitHostPort(listener); err == nil {
			g.listener = h
			g.port, _ = strconv.Atoi(p)
		}
	}
	seen := map[string]bool{}
	for i, in := range replicas {
		n := strings.ToUpper(in.ServerName())
		if seen[n] {
			return nil, fmt.Errorf("sqlsim: two replicas named %s", n)
		}
		if in.ag.Load() != nil {
			return nil, fmt.Errorf("sqlsim: %s is already a replica of a group", n)
		}
		seen[n] = true
		// 50 is CREATE AVAILABILITY GROUP's default BACKUP_PRIORITY.
		r := newReplica(name, in.ServerName(), in.cfg.MachineName, 50)
		r.in, r.primary = in, i == 0
		g.replicas = append(g.replicas, r)
	}
	g.restore() // ag_state.go
	return g, nil
}

// AddDatabase joins db (on the primary, FULL recovery) to the group and
// seeds it on every secondary with the same database_guid and LSNs.
func (g *Group) AddDatabase(ctx context.Context, db string) error {
	p := g.Primary()
	if p == nil {
		return fmt.Errorf("sqlsim: group %s has no primary", g.name)
	}
	p.mu.Lock()
	d, ok := p.st.Databases[strings.ToLower(db)]
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("sqlsim: no database %s on %s", db, p.ServerName())
	case d.Recovery != "FULL":
		// /sql/database-engine/availability-groups/windows/prereqs-restrictions-recommendations-always-on-availability
		err = fmt.Errorf("sqlsim: %s is in %s recovery; a group database must use FULL", db, d.Recovery)
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	g.mu.Lock()
	if g.dbLocked(db) == nil {
		g.dbs = append(g.dbs, g.newDatabase(d.Name))
		g.version++
	}
	g.mu.Unlock()
	g.changed()
	g.sync()
	return nil
}

func (g *Group) newDatabase(name string) *agDatabase {
	return &agDatabase{name: name, groupDB: agGUID(g.name, "database", strings.ToLower(name))}
}

// changed records the group in the local replicas' state files and tells
// the replicas in other processes. Callers hold no lock.
func (g *Group) changed() {
	g.persist()
	g.peers.broadcast()
}

// Failover makes to the primary (a planned failover without data loss:
// every secondary holds the primary's log first).
func (g *Group) Failover(to *Instance) error {
	g.sync()
	g.mu.Lock()
	r := g.replicaLocked(to)
	if r == nil || r.down {
		g.mu.Unlock()
		return fmt.Errorf("sqlsim: %s is not a connected replica of %s", to.ServerName(), g.name)
	}
	g.makePrimaryLocked(r)
	g.mu.Unlock()
	g.changed()
	return nil
}

func (g *Group) makePrimaryLocked(r *agReplica) {
	for _, o := range g.replicas {
		o.primary = o == r
	}
	g.version++
}

// Kill cuts r off from the group, as a crash or a network partition
// would; its TDS port keeps answering (it sees itself RESOLVING). A
// killed primary hands over to the first connected secondary
// (automatic failover).
func (g *Group) Kill(r *Instance) error {
	g.sync() // synchronous commit: the secondaries hold every commit
	g.mu.Lock()
	defer g.mu.Unlock()
	rep := g.replicaLocked(r)
	if rep == nil {
		return fmt.Errorf("sqlsim: %s is not a replica of %s", r.ServerName(), g.name)
	}
	rep.down = true
	if rep.primary {
		rep.primary = false
		for _, o := range g.replicas {
			if !o.down {
				o.primary = true
				break
			}
		}
	}
	return nil
}

// Revive brings r back as a secondary (or as primary when none is).
func (g *Group) Revive(r *Instance) error {
	g.mu.Lock()
	rep := g.replicaLocked(r)
	if rep == nil {
		g.mu.Unlock()
		return fmt.Errorf("sqlsim: %s is not a replica of %s", r.ServerName(), g.name)
	}
	rep.down = false
	if g.primaryLocked() == nil {
		rep.primary = true
	}
	g.mu.Unlock()
	g.sync()
	return nil
}

// SetPreference sets automated_backup_preference.
func (g *Group) SetPreference(pref string) error {
	pref = strings.ToUpper(pref)
	if _, ok := backupPreferences[pref]; !ok {
		return fmt.Errorf("sqlsim: automated backup preference %q", pref)
	}
	g.mu.Lock()
	g.pref = pref
	g.version++
	g.mu.Unlock()
	g.changed()
	return nil
}

// SetPriority sets r's backup_priority (0..100; 0: never chosen).
func (g *Group) SetPriority(r *Instance, priority int) error {
	if priority < 0 || priority > 100 {
		return fmt.Errorf("sqlsim: backup priority %d: want 0..100", priority)
	}
	return g.setPriority(r.ServerName(), priority)
}

// setPriority sets the backup_priority of the replica named name.
func (g *Group) setPriority(name string, priority int) error {
	if priority < 0 || priority > 100 {
		return fmt.Errorf("sqlsim: backup priority %d: want 0..100", priority)
	}
	g.mu.Lock()
	rep := g.byNameLocked(name)
	if rep == nil {
		g.mu.Unlock()
		return fmt.Errorf("sqlsim: %s is not a replica of %s", name, g.name)
	}
	rep.priority = priority
	g.version++
	g.mu.Unlock()
	g.changed()
	return nil
}

// Primary is the replica in the primary role, nil when none is.
func (g *Group) Primary() *Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.primaryLocked(); r != nil {
		return r.in
	}
	return nil
}

// ID is group_id in lower case.
func (g *Group) ID() string { return strings.ToLower(guidString(g.id)) }

// ReplicaID is r's replica_id in lower case, "" when r is not a replica.
func (g *Group) ReplicaID(r *Instance) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rep := g.replicaLocked(r); rep != nil {
		return strings.ToLower(guidString(rep.id))
	}
	return ""
}

func (g *Group) primaryLocked() *agReplica {
	for _, r := range g.replicas {
		if r.primary && !r.down {
			return r
		}
	}
	return nil
}

func (g *Group) replicaLocked(in *Instance) *agReplica {
	for _, r := range g.replicas {
		if r.in == in {
			return r
		}
	}
	return nil
}

func (g *Group) byNameLocked(name string) *agReplica {
	for _, r := range g.replicas {
		if strings.EqualFold(r.name, name) {
			return r
		}
	}
	return nil
}

func (g *Group) dbLocked(name string) *agDatabase {
	for _, d := range g.dbs {
		if strings.EqualFold(d.name, name) {
			return d
		}
	}
	return nil
}

// sync ships the primary's copy of each group database to every
// connected secondary: the same database_guid, log records and LSNs, and
// the log chain's state (so log backups on any replica form one chain).
// Secondaries call it before each batch, so they read as synchronous-
// commit replicas do: everything the primary committed. A secondary in
// this process whose primary is in another fetches the copy (pull).
func (g *Group) sync() {
	g.mu.Lock()
	p := g.primaryLocked()
	var names []string
	for _, d := range g.dbs {
		names = append(names, d.name)
	}
	g.mu.Unlock()
	if p == nil {
		return
	}
	for _, name := range names {
		if p.in == nil {
			g.pull(p, name) // ag_peer.go
			continue
		}
		var targets []*agReplica
		fp, data := p.in.snapshotDB(name, func(fp string) bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			targets = g.targetsLocked(p, name, fp)
			return len(targets) > 0
		})
		if data != nil {
			g.install(targets, name, fp, data)
		}
	}
}

// targetsLocked are the local, connected secondaries that lack the
// primary's copy fp of database name (remote ones fetch it themselves).
func (g *Group) targetsLocked(p *agReplica, name, fp string) []*agReplica {
	var out []*agReplica
	for _, r := range g.replicas {
		if r != p && r.in != nil && !r.down && !r.left[strings.ToLower(name)] && r.synced[strings.ToLower(name)] != fp {
			out = append(out, r)
		}
	}
	return out
}

// install puts the primary's copy fp of database name on targets.
func (g *Group) install(targets []*agReplica, name, fp string, data []byte) {
	for _, r := range targets {
		if r.in.installReplica(data) == nil {
			g.mu.Lock()
			r.synced[strings.ToLower(name)] = fp
			g.mu.Unlock()
		}
	}
}

// snapshotDB encodes a database, when a replica lacks it (need), with a
// fingerprint of what changes it.
func (in *Instance) snapshotDB(name string, need func(fp string) bool) (string, []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return "", nil
	}
	fp := d.fingerprint()
	if !need(fp) {
		return fp, nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(d); err != nil {
		return "", nil
	}
	return fp, buf.Bytes()
}

// fingerprint changes whenever what a replica must copy does.
func (d *Database) fingerprint() string {
	return fmt.Sprint(d.LogN, d.LogStart, d.LastLogBack, d.ChainOpen, d.DiffBase, d.Recovery, d.State, d.Pages, len(d.ChangedPages))
}

// installReplica puts the primary's copy in place of the local one,
// keeping the local database_id.
func (in *Instance) installReplica(data []byte) error {
	var nd Database
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&nd); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	key := strings.ToLower(nd.Name)
	if d, ok := in.st.Databases[key]; ok {
		nd.ID = d.ID
		*d = nd // in place: a running backup holds the pointer
	} else {
		nd.ID = in.st.NextDBID
		in.st.NextDBID++
		in.st.Databases[key] = &nd
	}
	return in.save()
}

// agSync brings a replica's databases up to the primary's before a batch.
func (in *Instance) agSync() {
	if g := in.ag.Load(); g != nil {
		g.sync()
	}
}

// agRole is the local replica's view of database name: in a group, and
// whether this replica is primary or cut off. Callers may hold in.mu.
func (in *Instance) agRole(name string) (g *Group, rep *agReplica, db *agDatabase) {
	g = in.ag.Load()
	if g == nil {
		return nil, nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rep = g.replicaLocked(in)
	db = g.dbLocked(name)
	if rep == nil || db == nil || rep.left[strings.ToLower(name)] {
		return g, rep, nil
	}
	return g, rep, db
}

// agSecondary reports whether d is a group database whose local replica
// is not the primary. Callers may hold in.mu.
func (in *Instance) agSecondary(d *Database) bool {
	g, rep, db := in.agRole(d.Name)
	if db == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return !(rep.primary && !rep.down)
}

// agConnected reports whether this replica is connected to a primary.
func (in *Instance) agConnected() bool {
	g := in.ag.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	me := g.replicaLocked(in)
	return me != nil && !me.down && g.primaryLocked() != nil
}

// agLogRecord writes rec to d's log, except on a secondary, whose log is
// the primary's: a backup there writes no log of its own. It returns the
// LSN counter of rec, or of the last record on a secondary.
func (in *Instance) agLogRecord(d *Database, now time.Time, rec LogRecord) int64 {
	if in.agSecondary(d) {
		return d.LogN
	}
	return d.appendLog(now, rec)
}

// agBackupRefusal is SQL Server's refusal of a backup type a secondary
// replica does not take: only copy-only fulls and regular (not
// copy-only) log backups
// (/sql/database-engine/availability-groups/windows/active-secondaries-backup-on-secondary-replicas-always-on-availability-groups).
// The error is 3059 (KB 2998962, /troubleshoot/sql/releases/sqlserver-2022/cumulativeupdate18).
func (in *Instance) agBackupRefusal(d *Database, isLog bool, o backupOpts) *tds.Message {
	if !in.agSecondary(d) {
		return nil
	}
	if !in.agConnected() { // the number SQL Server uses is not documented (Unknowns)
		return sqlErr(50000, 16, "sqlsim: a secondary replica backs up only while it is connected to the primary replica (SYNCHRONIZED or SYNCHRONIZING); this one is not.")
	}
	if (isLog && o.copyOnly) || (!isLog && (!o.copyOnly || o.differential)) {
		return sqlErr(3059, 16, "This BACKUP or RESTORE command is not supported on a database mirror or secondary replica.")
	}
	return nil
}

// agLogBackupOnPrimary writes the record a log backup logs into the
// primary's log when the backup runs on a secondary, and ships it: the
// secondary's log is the primary's, and every log backup, wherever it
// runs, covers at least one record, as on a primary.
func (in *Instance) agLogBackupOnPrimary(name string) {
	in.agOnPrimary(name, "begin", 0)
}

// agLogBackedUp hands the end of a log backup taken on a secondary to
// the primary, so that the next log backup anywhere starts there.
func (in *Instance) agLogBackedUp(name string, lastN int64) {
	in.agOnPrimary(name, "end", lastN)
}

// agOnPrimary runs a log backup's step op on the primary (here or in its
// process) when the backup runs on a connected secondary, then ships.
func (in *Instance) agOnPrimary(name, op string, lastN int64) {
	g, rep, db := in.agRole(name)
	if db == nil || !in.agConnected() {
		return
	}
	g.mu.Lock()
	p := g.primaryLocked()
	g.mu.Unlock()
	if p == nil || p == rep {
		return
	}
	if p.in != nil {
		p.in.logBackupStep(name, op, lastN)
	} else if err := g.peers.logBackup(p.peer, name, op, lastN); err != nil {
		in.cfg.Logger.Warn("sqlsim: availability group: primary unreachable", "op", op, "err", err)
	}
	g.sync()
}

// logBackupStep is a secondary's log backup as the primary logs it:
// begin writes the record it covers, end moves the chain's start.
func (in *Instance) logBackupStep(name, op string, lastN int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	switch {
	case !ok:
		return
	case op == "begin" && d.ChainOpen:
		d.appendLog(in.cfg.Now().UTC(), LogRecord{Op: "log_backup"})
	case op == "end" && d.LastLogBack < lastN:
		d.LastLogBack = lastN
		d.truncateLog(lastN)
	default:
		return
	}
	in.save()
}

// agRestoreRefusal is 3104: RESTORE is not allowed on a group database,
// primary or secondary (/sql/database-engine/availability-groups/windows/active-secondaries-backup-on-secondary-replicas-always-on-availability-groups,
// /troubleshoot/sql/database-engine/availability-groups/alwayson-availability-databases-recovery-pending-suspect).
// Callers hold in.mu.
func (in *Instance) agRestoreRefusal(name string) *tds.Message {
	if _, _, db := in.agRole(name); db == nil {
		return nil
	}
	return sqlErr(3104, 16, fmt.Sprintf("RESTORE cannot operate on database '%s' because it is configured for database mirroring or has joined an availability group. If you intend to restore the database, use ALTER DATABASE to remove mirroring or to remove the database from its availability group.", name))
}

// agDropRefusal is 3752: a group database is not dropped (the
// troubleshooting page agRestoreRefusal cites). Callers hold in.mu.
func (in *Instance) agDropRefusal(name string) *tds.Message {
	if _, _, db := in.agRole(name); db == nil {
		return nil
	}
	return sqlErr(3752, 16, fmt.Sprintf("The database '%s' is currently joined to an availability group. Before you can drop the database, you need to remove it from the availability group.", name))
}

// agHadrOff is ALTER DATABASE [d] SET HADR OFF on a secondary: the
// database leaves the group here and stays RESTORING
// (/sql/database-engine/availability-groups/windows/remove-a-secondary-database-from-an-availability-group-sql-server).
// Callers hold in.mu.
func (in *Instance) agHadrOff(d *Database) error {
	g, rep, db := in.agRole(d.Name)
	if db == nil {
		return sqlErr(50000, 16, fmt.Sprintf("sqlsim: database '%s' is not joined to an availability group.", d.Name))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if rep.primary { // 35240 (the troubleshooting page agRestoreRefusal cites)
		return sqlErr(35240, 16, fmt.Sprintf("Database '%s' cannot be joined to or unjoined from availability group '%s'. This operation is not supported on the primary replica of the availability group.", d.Name, g.name))
	}
	rep.left[strings.ToLower(d.Name)] = true
	d.State = "RESTORING"
	rec := g.recordLocked(rep)
	in.st.AG = &rec // saved with the database's change
	return nil
}

// preferred is sys.fn_hadr_backup_is_preferred_replica for in: the
// replica the preference and priorities choose among connected replicas
// (/sql/relational-databases/system-functions/sys-fn-hadr-backup-is-preferred-replica-transact-sql,
// /sql/t-sql/statements/create-availability-group-transact-sql AUTOMATED_BACKUP_PREFERENCE, BACKUP_PRIORITY).
// Ties go to the lower replica_server_name (Unknowns in docs/compatibility.md).
func (g *Group) preferred(in *Instance) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	me := g.replicaLocked(in)
	if me == nil || me.down {
		return false
	}
	if g.pref == "PRIMARY" {
		return me.primary
	}
	var cands []*agReplica
	for _, r := range g.replicas {
		if r.down || r.priority == 0 {
			continue
		}
		if g.pref != "NONE" && r.primary {
			continue
		}
		cands = append(cands, r)
	}
	if len(cands) == 0 && g.pref == "SECONDARY" {
		return me.primary // the primary is the only replica online
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].priority != cands[j].priority {
			return cands[i].priority > cands[j].priority
		}
		return strings.ToUpper(cands[i].name) < strings.ToUpper(cands[j].name)
	})
	return len(cands) > 0 && cands[0] == me
}

// agGUID derives a group's ids from its names. A real cluster keeps
// group_id, replica_id and group_database_id for the group's life;
// deriving them gives the group a restarted demo builds again, and every
// process of a group, the same ids (a version 5 UUID).
func agGUID(names ...string) [16]byte {
	return uuid.NewSHA1(agNamespace, []byte(strings.ToUpper(strings.Join(names, "\x00"))))
}

// agNamespace is sqlsim's own UUID namespace for group ids.
var agNamespace = uuid.MustParse("6f1d3c2a-8a51-4c1e-9b7e-2f0c5d9a4e11")
