package coordinator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// Always On availability groups. A group database is one item, whichever
// replica it was protected from; each backup runs on the replica SQL
// Server's rules and the group's backup preference choose
// (learn.microsoft.com/sql/database-engine/availability-groups/windows/
// active-secondaries-backup-on-secondary-replicas-always-on-availability-groups):
// full and differential on the primary (a secondary takes only copy-only
// fulls, and no differentials), logs and copy-only fulls on the preferred
// replica. Log backups from any replica form one chain, so points are the
// item's whatever replica wrote them and the planner follows LSNs.

// Backup preferences, as automated_backup_preference_desc in lower case.
const (
	PreferPrimary       = "primary"
	PreferSecondaryOnly = "secondary_only"
	PreferSecondary     = "secondary"
	PreferNone          = "none"
)

// discoverGroups records the groups the instance hosts a replica of, ties
// their replicas to registered servers and the instance's databases to
// their group. A failure is logged: the databases are saved already.
func (c *Coordinator) discoverGroups(ctx context.Context, conn *mssql.Conn, s db.Server) int {
	groups, err := conn.AvailabilityGroups(ctx)
	if err != nil {
		c.log.Warn("discover availability groups", "server", s.Name, "err", err)
		return 0
	}
	servers, err := c.cfg.DB.ListServers(ctx)
	if err != nil {
		c.log.Warn("discover availability groups", "server", s.Name, "err", err)
		return 0
	}
	for _, g := range groups {
		if isListenerKey(s.InstanceKey) && listenerKey(g.GroupID) != s.InstanceKey {
			continue // a listener registration speaks for its own group only
		}
		if _, err := c.cfg.DB.SaveAG(ctx, s.ID, agFound(g), func(name string) *int64 { return replicaServer(servers, name) }); err != nil {
			c.log.Warn("save availability group", "group", g.Name, "err", err)
		}
	}
	return len(groups)
}

func agFound(g mssql.AvailabilityGroup) db.AGFound {
	f := db.AGFound{GroupID: g.GroupID, Name: g.Name, Preference: cmp.Or(g.Preference, PreferSecondary), Listener: g.Listener}
	for _, r := range g.Replicas {
		f.Replicas = append(f.Replicas, db.AGReplica{ReplicaID: r.ReplicaID, Name: r.ServerName, Role: r.Role,
			Priority: r.Priority, Synchronization: r.Health, Connected: r.Connected})
	}
	for _, d := range g.Databases {
		f.Databases = append(f.Databases, db.AGLocalDatabase{Name: d.Name, GroupDatabaseID: d.GroupDatabaseID, SynchronizationState: d.State})
	}
	return f
}

// replicaServer is the registered server of a replica: replica_server_name
// is SERVER for a default instance and SERVER\INSTANCE otherwise, the
// instance key (see instanceKey) SERVER\INSTANCE always; a server
// registered under the replica's name matches too.
func replicaServer(servers []db.Server, name string) *int64 {
	key := strings.ToUpper(name)
	if !strings.Contains(key, `\`) {
		key += `\MSSQLSERVER`
	}
	for _, s := range servers {
		if s.InstanceKey == key {
			return &s.ID
		}
	}
	for _, s := range servers {
		if strings.EqualFold(s.Name, name) {
			return &s.ID
		}
	}
	return nil
}

// AGView is a group as the API lists it, with the replicas sqlvault
// cannot reach yet.
type AGView struct {
	db.AG
	// Missing names the replicas without a registration, or whose
	// registration lacks sysadmin: every replica needs one, since a
	// backup may run on any of them.
	Missing []string `json:"missing_registrations"`
	// ListenerServerID is the server registered by the group's listener,
	// which reaches whichever replica is primary; nil without one.
	ListenerServerID *int64 `json:"listener_server_id"`
}

// AvailabilityGroups lists every group discovered.
func (c *Coordinator) AvailabilityGroups(ctx context.Context) ([]AGView, error) {
	groups, err := c.cfg.DB.ListAGs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AGView, len(groups))
	for i, g := range groups {
		out[i] = AGView{AG: g, Missing: []string{}, ListenerServerID: c.listenerServer(ctx, g)}
		for _, r := range g.Replicas {
			switch {
			case r.ServerID == nil:
				out[i].Missing = append(out[i].Missing, r.Name+": not registered")
			case r.ServerStatusCode == string(engine.CodeNoSysadmin):
				out[i].Missing = append(out[i].Missing, r.Name+": the login is not sysadmin")
			}
		}
	}
	return out, nil
}

// protectGroupDatabase protects a group database as one item of its
// group, refusing a second one from another replica.
func (c *Coordinator) protectGroupDatabase(ctx context.Context, d db.Database, policyID int64, m db.AGMembership) (db.Item, int64, error) {
	if id, ok, err := c.cfg.DB.GroupItem(ctx, m); err != nil {
		return db.Item{}, 0, err
	} else if ok {
		return db.Item{}, 0, engine.Errorf(engine.CodeDatabaseAlreadyProtd,
			"database %s of availability group %s is already protected by backup item %d", d.Name, m.AGName, id)
	}
	it, err := c.cfg.DB.CreateGroupItem(ctx, d.ID, policyID, protectNote(d), m)
	if err != nil {
		if strings.Contains(err.Error(), "already protected") {
			return db.Item{}, 0, engine.Errorf(engine.CodeDatabaseAlreadyProtd, "database %s of availability group %s is already protected", d.Name, m.AGName)
		}
		return db.Item{}, 0, err
	}
	jobID, err := c.enqueueBackup(ctx, it, mssql.KindFull, 0, "protection configured")
	return it, jobID, err
}

// replicaCandidate is one replica as a backup finds it just before running.
type replicaCandidate struct {
	Name      string
	ServerID  int64 // 0: not registered
	Priority  int
	Reachable bool
	Down      string // why it is not reachable
	Role      string // PRIMARY or SECONDARY, as it says now
	State     string // the database's synchronization_state_desc there
	Connected bool
	Preferred bool // sys.fn_hadr_backup_is_preferred_replica said 1
}

func (r replicaCandidate) primary() bool { return r.Reachable && strings.EqualFold(r.Role, "PRIMARY") }

// unfit says why a replica cannot take a backup now ("" when it can).
// SQL Server backs up a secondary database only while its replica talks
// to the primary and it is SYNCHRONIZED or SYNCHRONIZING.
func (r replicaCandidate) unfit() string {
	switch {
	case r.ServerID == 0:
		return "not registered in sqlvault"
	case !r.Reachable:
		return "unreachable (" + r.Down + ")"
	case r.primary():
		return ""
	case !r.Connected:
		return "disconnected from the primary"
	case r.State != "SYNCHRONIZED" && r.State != "SYNCHRONIZING":
		return "not synchronizing (" + cmp.Or(r.State, "state unknown") + ")"
	}
	return ""
}

// replicaChoice is where a backup runs and as what.
type replicaChoice struct {
	Index int
	Kind  string
	Why   string
}

// pickReplica chooses the replica for a backup of kind under the group's
// preference: full and differential on the primary (without one, a full
// becomes a copy-only full on the replica a log would use, the only full
// a secondary takes; a differential fails); logs and copy-only fulls on
// the best replica the preference allows, by
// fn_hadr_backup_is_preferred_replica, then backup priority (0: never).
func pickReplica(pref, kind string, cands []replicaCandidate) (replicaChoice, error) {
	if kind == mssql.KindFull || kind == mssql.KindDifferential {
		for i, r := range cands {
			if r.primary() && r.ServerID != 0 {
				return replicaChoice{i, kind, fmt.Sprintf("%s, the primary replica (%s backups run on the primary)", r.Name, kindWord(kind))}, nil
			}
		}
		if kind == mssql.KindDifferential {
			return replicaChoice{}, engine.Errorf(engine.CodeAGNoReplica,
				"no primary replica is reachable (%s), and SQL Server takes no differential backups on a secondary", passed(cands, -1))
		}
		ch, err := pickByPreference(PreferNone, cands)
		if err != nil {
			return ch, err
		}
		ch.Kind = mssql.KindCopyOnlyFull
		ch.Why = fmt.Sprintf("no primary replica is reachable (%s): a copy-only full on %s, the only full a secondary takes", passed(cands, ch.Index), cands[ch.Index].Name)
		return ch, nil
	}
	ch, err := pickByPreference(pref, cands)
	ch.Kind = kind
	return ch, err
}

// pickByPreference is the replica for a log or copy-only full.
func pickByPreference(pref string, cands []replicaCandidate) (replicaChoice, error) {
	allowed := func(r replicaCandidate, secondariesOnly bool) bool {
		if r.Priority == 0 && !(pref == PreferPrimary && r.primary()) {
			return false // backup_priority 0: never chosen
		}
		switch {
		case pref == PreferPrimary:
			return strings.EqualFold(r.Role, "PRIMARY")
		case secondariesOnly:
			return !strings.EqualFold(r.Role, "PRIMARY")
		}
		return true
	}
	order := rank(cands)
	try := func(secondariesOnly bool) (int, int) {
		first, chosen := -1, -1
		for _, i := range order {
			if !allowed(cands[i], secondariesOnly) {
				continue
			}
			// The replica the priorities prefer, healthy or not, for the why.
			if first < 0 || cands[i].Priority > cands[first].Priority {
				first = i
			}
			if chosen < 0 && cands[i].unfit() == "" {
				chosen = i
			}
		}
		return chosen, first
	}
	i, first := try(pref == PreferSecondary || pref == PreferSecondaryOnly)
	if i < 0 && pref == PreferSecondary {
		i, _ = try(false) // the primary when no secondary can
	}
	if i < 0 {
		return replicaChoice{}, engine.Errorf(engine.CodeAGNoReplica, "no replica the backup preference %q allows can take the backup: %s",
			pref, passed(cands, -1))
	}
	r := cands[i]
	why := fmt.Sprintf("%s, the preferred backup replica (preference %s, priority %d)", r.Name, pref, r.Priority)
	if first >= 0 && first != i && cands[first].unfit() != "" {
		why = fmt.Sprintf("%s, since the preferred replica %s is %s (preference %s, priority %d)", r.Name, cands[first].Name,
			cands[first].unfit(), pref, r.Priority)
	} else if first < 0 {
		why = fmt.Sprintf("%s, the primary, since no secondary can take it (%s)", r.Name, passed(cands, i))
	}
	return replicaChoice{Index: i, Why: why}, nil
}

// rank orders replicas as SQL Server prefers them: the one
// fn_hadr_backup_is_preferred_replica names, then by backup priority, then
// by name.
func rank(cands []replicaCandidate) []int {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := cands[a], cands[b]
		if x.Preferred != y.Preferred {
			if x.Preferred {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(y.Priority, x.Priority), strings.Compare(x.Name, y.Name))
	})
	return order
}

// passed says why each replica but the one chosen was passed over.
func passed(cands []replicaCandidate, chosen int) string {
	var out []string
	for i, r := range cands {
		if why := r.unfit(); i != chosen && why != "" {
			out = append(out, r.Name+" "+why)
		}
	}
	if len(out) == 0 {
		return "no other replica"
	}
	return strings.Join(out, "; ")
}

// backupTarget is the server and database row a backup of an item runs
// on, and the kind it runs as: the item's own for a standalone database,
// the replica pickReplica chooses for a group database, recorded on the
// job (its replica) and in its steps.
func (c *Coordinator) backupTarget(ctx context.Context, j *db.Job, it db.Item, kind string, st *steps) (db.Server, db.Database, error) {
	m, inGroup, err := c.cfg.DB.ItemAG(ctx, it.ID)
	if err != nil {
		return db.Server{}, db.Database{}, err
	}
	if !inGroup {
		s, err := c.server(ctx, it.ServerID)
		if err != nil {
			return s, db.Database{}, err
		}
		d, err := c.cfg.DB.DatabaseByID(ctx, it.DatabaseID)
		return s, d, err
	}
	g, err := c.cfg.DB.AGByID(ctx, m.AGID)
	if err != nil {
		return db.Server{}, db.Database{}, err
	}
	reps, err := c.cfg.DB.GroupDatabaseReplicas(ctx, m)
	if err != nil {
		return db.Server{}, db.Database{}, err
	}
	reps = c.viaListener(ctx, g, m, reps)
	st.begin("Choose replica", fmt.Sprintf("availability group %s, backup preference %s", g.Name, g.Preference))
	cands := c.probeReplicas(ctx, g, it.DatabaseName, reps)
	ch, err := pickReplica(g.Preference, kind, cands)
	if err != nil {
		return db.Server{}, db.Database{}, err
	}
	st.detail(ch.Why)
	if ch.Kind != kind {
		j.Kind = ch.Kind // a copy-only full on a secondary, committed as one
	}
	r := reps[ch.Index]
	c.cfg.DB.SetJobReplica(ctx, j.ID, *r.Replica.ServerID)
	s, err := c.server(ctx, *r.Replica.ServerID)
	d := *r.Database
	d.IsAGSecondary = !cands[ch.Index].primary() // its role now, not at the last discovery
	return s, d, err
}

// retarget chooses the replica again once a backup became a full, for a
// group database (a full runs on the primary); others keep theirs.
func (c *Coordinator) retarget(ctx context.Context, j *db.Job, it db.Item, s db.Server, d db.Database, conn *mssql.Conn,
	st *steps) (db.Server, db.Database, *mssql.Conn, error) {
	if _, inGroup, err := c.cfg.DB.ItemAG(ctx, it.ID); err != nil || !inGroup {
		return s, d, conn, err
	}
	s, d, err := c.backupTarget(ctx, j, it, j.Kind, st)
	if err != nil {
		return s, d, nil, err
	}
	conn, _, err = c.connectSysadmin(ctx, s)
	return s, d, conn, err
}

// incarnationsOf splits an item's points as incarnations does, except a
// group database's: each replica is its own copy with its own
// database_guid (RESTORE gives a new database a new one), yet logs from
// any replica form one chain, so its points are one incarnation and the
// planner follows their LSNs. A recreated group database is a new
// group_database_id, hence a new item.
func (c *Coordinator) incarnationsOf(ctx context.Context, itemID int64, points []db.Point) [][]db.Point {
	if _, inGroup, err := c.cfg.DB.ItemAG(ctx, itemID); err == nil && inGroup {
		return [][]db.Point{points}
	}
	return incarnations(points)
}

// probeReplicas asks each registered replica holding the database for its
// role, the database's state and whether it is preferred, in parallel.
func (c *Coordinator) probeReplicas(ctx context.Context, g db.AG, database string, reps []db.GroupReplicaDatabase) []replicaCandidate {
	out := make([]replicaCandidate, len(reps))
	done := make(chan struct{}, len(reps))
	for i, r := range reps {
		out[i] = replicaCandidate{Name: r.Replica.Name, Priority: r.Replica.Priority, Role: r.Replica.Role}
		if r.Replica.ServerID == nil || r.Database == nil {
			if r.Replica.ServerID != nil {
				out[i].Down = "the database is not discovered there"
			}
			done <- struct{}{}
			continue
		}
		out[i].ServerID = *r.Replica.ServerID
		go func(x *replicaCandidate) {
			defer func() { done <- struct{}{} }()
			c.probe(ctx, g, database, x)
		}(&out[i])
	}
	for range reps {
		<-done
	}
	return out
}

func (c *Coordinator) probe(ctx context.Context, g db.AG, database string, x *replicaCandidate) {
	s, err := c.server(ctx, x.ServerID)
	if err == nil {
		var conn *mssql.Conn
		if conn, _, err = c.connectSysadmin(ctx, s); err == nil {
			var p mssql.ReplicaProbe
			if p, err = conn.ProbeReplica(ctx, database); err == nil {
				x.Reachable, x.Role, x.State, x.Connected, x.Preferred = true, p.Role, p.State, p.Connected, p.Preferred
				c.cfg.DB.SetReplicaState(ctx, g.ID, x.Name, p.Role, x.State, p.Connected)
				return
			}
		}
	}
	x.Down = engine.MessageOf(err)
}

// groupTarget finds the live group database a restore would overwrite:
// name on serverID, if it is joined to a group.
func (c *Coordinator) groupTarget(ctx context.Context, serverID int64, name string) (db.Database, db.AG, bool, error) {
	rows, err := c.cfg.DB.ListDatabases(ctx, serverID)
	if err != nil {
		return db.Database{}, db.AG{}, false, err
	}
	for _, d := range rows {
		if d.Gone || !strings.EqualFold(d.Name, name) || d.AGID == nil {
			continue
		}
		g, err := c.cfg.DB.AGByID(ctx, *d.AGID)
		return d, g, err == nil, err
	}
	return db.Database{}, db.AG{}, false, nil
}

// checkGroupTarget refuses a restore over a group database unless the
// user confirmed that it leaves the group on that replica first (SQL
// Server refuses RESTORE on a database joined to a group), naming the
// statement that does it and what is left to do after.
func (c *Coordinator) checkGroupTarget(ctx context.Context, t RestoreTarget) error {
	d, g, ok, err := c.groupTarget(ctx, t.ServerID, t.DatabaseName)
	if err != nil || !ok || t.RemoveFromGroup {
		return err
	}
	scope := "on that secondary replica only"
	if !d.IsAGSecondary {
		scope = "on the primary, which takes every replica's copy out of the group"
	}
	return &engine.Error{Code: engine.CodeAGRestoreOverGroup, Message: fmt.Sprintf("%s is a database of availability group %s on %s: "+
		"restoring over it first removes it from the group, %s (%s); afterwards restore the other replicas' copies "+
		"WITH NORECOVERY and join them again (ALTER DATABASE %s SET HADR AVAILABILITY GROUP = %s)",
		d.Name, g.Name, d.ServerName, scope, mssql.LeaveGroupStatement(g.Name, d.Name, !d.IsAGSecondary), mssql.QuoteName(d.Name), mssql.QuoteName(g.Name)),
		Err: &FieldError{"target.remove_from_group", "confirm that the database leaves its availability group on this replica"}}
}

// leaveGroupForRestore takes the target out of its group, once confirmed.
func (c *Coordinator) leaveGroupForRestore(ctx context.Context, conn *mssql.Conn, t RestoreTarget, st *steps) error {
	if err := c.checkGroupTarget(ctx, t); err != nil {
		return err
	}
	d, g, ok, err := c.groupTarget(ctx, t.ServerID, t.DatabaseName)
	if err != nil || !ok {
		return err
	}
	primary := !d.IsAGSecondary
	if p, err := conn.ProbeReplica(ctx, d.Name); err == nil {
		primary = strings.EqualFold(p.Role, "PRIMARY") // its role now: a failover may have come since discovery
	}
	st.begin("Remove from availability group", mssql.LeaveGroupStatement(g.Name, d.Name, primary))
	return conn.LeaveGroup(ctx, g.Name, d.Name, primary)
}
