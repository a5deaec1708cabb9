package sqlsim

import (
	"strings"
	"time"
)

// agRecord is a replica's account of its group: what its state file keeps
// (state.AG) and what it tells the replicas in other processes
// (ag_peer.go). Version orders accounts: a higher one wins.
type agRecord struct {
	Group    string
	From     string // the replica that gives this account
	Version  int64
	Primary  string // replica_server_name of the primary; "" when none is known
	Pref     string
	Listener string
	Port     int
	Created  time.Time
	Replicas []agRecordReplica
	DBs      []string
	Left     []string // databases taken out on From (SET HADR OFF)
}

type agRecordReplica struct {
	Name, Host string
	Peer       string // the peer endpoint of its process; "" without one
	Priority   int
	Async      bool // AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT; each replica tells its own
}

// recordLocked is the group as replica me gives it. Callers hold g.mu.
func (g *Group) recordLocked(me *agReplica) agRecord {
	rec := agRecord{Group: g.name, From: me.name, Version: g.version, Pref: g.pref, Listener: g.listener, Port: g.port, Created: g.created}
	for _, r := range g.replicas {
		if r.primary {
			rec.Primary = r.name
		}
		peer := r.peer
		if r.in != nil {
			peer = g.peers.endpoint()
		}
		rec.Replicas = append(rec.Replicas, agRecordReplica{Name: r.name, Host: r.host, Peer: peer, Priority: r.priority, Async: r.async})
	}
	for _, d := range g.dbs {
		rec.DBs = append(rec.DBs, d.name)
	}
	for name := range me.left {
		rec.Left = append(rec.Left, name)
	}
	return rec
}

// persist writes the group into each local replica's state file.
func (g *Group) persist() {
	g.mu.Lock()
	var local []*agReplica
	for _, r := range g.replicas {
		if r.in != nil {
			local = append(local, r)
		}
	}
	g.mu.Unlock()
	for _, r := range local {
		r.in.mu.Lock()
		g.mu.Lock()
		rec := g.recordLocked(r)
		g.mu.Unlock()
		r.in.st.AG = &rec
		r.in.save()
		r.in.mu.Unlock()
	}
}

// saved is the account in's state file holds of group name, nil if none.
func (in *Instance) saved(name string) *agRecord {
	in.mu.Lock()
	defer in.mu.Unlock()
	if rec := in.st.AG; rec != nil && strings.EqualFold(rec.Group, name) {
		c := *rec
		return &c
	}
	return nil
}

// restore takes back from the replicas' state files what NewGroup's
// arguments do not say: the databases joined, the priorities, the
// databases a replica took out, the version and creation time. Roles
// are NewGroup's (the first replica is the primary); JoinGroup restores
// them too (restoreRoles). Called before the group is published.
func (g *Group) restore() {
	for i, r := range g.replicas {
		rec := r.in.saved(g.name)
		if rec == nil {
			continue
		}
		for _, n := range rec.Left {
			r.left[strings.ToLower(n)] = true
		}
		if i > 0 {
			continue
		}
		g.version, g.created = rec.Version, rec.Created
		for _, n := range rec.DBs {
			if g.dbLocked(n) == nil {
				g.dbs = append(g.dbs, g.newDatabase(n))
			}
		}
		for _, sr := range rec.Replicas {
			if o := g.byNameLocked(sr.Name); o != nil {
				o.priority = sr.Priority
			}
		}
	}
}

// restoreRoles takes back the roles, the settings and the replicas in
// other processes of a saved account (JoinGroup): a restarted process
// is what it was, until a peer with a higher version says otherwise.
func (g *Group) restoreRoles(rec *agRecord) {
	g.pref, g.listener, g.port = rec.Pref, rec.Listener, rec.Port
	for _, sr := range rec.Replicas {
		if g.byNameLocked(sr.Name) == nil && sr.Peer != "" {
			r := newReplica(g.name, sr.Name, sr.Host, sr.Priority)
			r.peer = sr.Peer
			g.replicas = append(g.replicas, r)
		}
	}
	for _, r := range g.replicas {
		r.primary = strings.EqualFold(r.name, rec.Primary)
	}
}
