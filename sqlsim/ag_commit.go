package sqlsim

// Synchronous commit across processes. In synchronous-commit mode the
// primary waits for each synchronous secondary to harden a transaction's
// log before it confirms the commit to the client; an asynchronous
// secondary may lag (/sql/database-engine/availability-groups/windows/availability-modes-always-on-availability-groups).
// sqlsim ships whole database copies, not log blocks, so after each batch
// on a primary every synchronous secondary that lacks the primary's copy
// of a group database receives it before Exec returns, hence before the
// batch's final DONE: in this process by sync, in another by POST
// /ag/push. A secondary that is down, or refuses (it does not see this
// replica as its primary yet), catches up later by pulling (ag_peer.go).

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxPushBytes bounds a pushed database copy (/ag/push's body).
const maxPushBytes = 1 << 30

// agCommitted runs after each batch: on a primary, the synchronous
// secondaries receive what the batch changed.
func (in *Instance) agCommitted() {
	g := in.ag.Load()
	if g == nil {
		return
	}
	g.mu.Lock()
	p := g.primaryLocked()
	g.mu.Unlock()
	if p == nil || p.in != in {
		return
	}
	g.sync()  // the secondaries in this process
	g.push(p) // those in others
}

// push sends primary p's copy of each group database to every connected
// synchronous secondary of another process that lacks it.
func (g *Group) push(p *agReplica) {
	if g.peers == nil || p.async { // an asynchronous primary waits for no secondary
		return
	}
	g.mu.Lock()
	var names []string
	for _, d := range g.dbs {
		names = append(names, d.name)
	}
	g.mu.Unlock()
	for _, name := range names {
		var targets []*agReplica
		fp, data := p.in.snapshotDB(name, func(fp string) bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			targets = g.pushTargetsLocked(p, name, fp)
			return len(targets) > 0
		})
		for _, r := range targets {
			err := g.peers.pushDB(r.peer, name, p.name, fp, data)
			if err != nil {
				p.in.cfg.Logger.Warn("sqlsim: availability group: a synchronous secondary did not take a commit", "replica", r.name, "err", err)
				continue
			}
			g.mu.Lock()
			r.synced[strings.ToLower(name)] = fp
			r.lastSeen, r.down = time.Now(), false
			g.mu.Unlock()
		}
	}
}

// pushTargetsLocked are the connected synchronous-commit secondaries of
// other processes that lack copy fp of database name.
func (g *Group) pushTargetsLocked(p *agReplica, name, fp string) []*agReplica {
	var out []*agReplica
	for _, r := range g.replicas {
		if r != p && r.in == nil && r.peer != "" && !r.down && !r.async && r.synced[strings.ToLower(name)] != fp {
			out = append(out, r)
		}
	}
	return out
}

func (ps *agPeers) pushDB(addr, name, from, fp string, data []byte) error {
	q := url.Values{"name": {name}, "from": {from}}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/ag/push?"+q.Encode(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set(fingerprintHeader, fp)
	resp, err := ps.send(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// servePush installs a copy the primary pushes on the local secondaries.
func (ps *agPeers) servePush(w http.ResponseWriter, r *http.Request) {
	g, q := ps.g, r.URL.Query()
	name, fp := q.Get("name"), r.Header.Get(fingerprintHeader)
	data, err := io.ReadAll(r.Body)
	if err != nil || fp == "" {
		http.Error(w, "sqlsim: want a database copy with its fingerprint", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	p := g.primaryLocked()
	known := p != nil && p.in == nil && strings.EqualFold(p.name, q.Get("from")) && g.dbLocked(name) != nil
	var targets []*agReplica
	if known {
		p.lastSeen, p.down = time.Now(), false
		targets = g.targetsLocked(p, name, fp)
	}
	g.mu.Unlock()
	if !known {
		http.Error(w, "sqlsim: "+q.Get("from")+" is not the primary of "+name+" here", http.StatusConflict)
		return
	}
	g.install(targets, name, fp, data)
	w.WriteHeader(http.StatusNoContent)
}
