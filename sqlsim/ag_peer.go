package sqlsim

// Replicas in separate processes (README.md "Availability groups").
//
// Each process holds its own Group of the same name, hence the same ids
// (agGUID). A replica of another process is a row of that Group whose in
// is nil and whose peer is its process's peer endpoint: a small private
// HTTP API, every request carrying the group's shared secret.
//
//	POST /ag/exchange  an agRecord (JSON) in, the receiver's agRecord out:
//	                   membership, roles and settings; the higher Version wins
//	GET  /ag/db        ?name=&have=&from=: the primary's copy of a group
//	                   database (gob), 204 when the caller holds it already
//	POST /ag/log       {Name, Op, LastN}: a log backup taken on a secondary,
//	                   as the primary logs it (agOnPrimary)
//	POST /ag/push      ?name=&from=: the primary's copy of a group database
//	                   (gob), pushed to a synchronous secondary after each
//	                   batch (ag_commit.go)
//
// The primary pushes each change to synchronous-commit secondaries
// before the batch ends (ag_commit.go); secondaries also fetch from the
// primary before each batch and at each heartbeat (timeout/4), which is
// how asynchronous ones catch up, and peers exchange records at each
// heartbeat. A
// secondary that has heard nothing from a known primary for the health
// timeout, and ranks first among the connected secondaries (backup
// priority, then name), takes the primary role: a simulation of
// automatic failover, which real SQL Server leaves to the WSFC cluster
// once the health-check timeout or failure condition level is exceeded,
// and only to a synchronized secondary configured for it
// (/sql/database-engine/availability-groups/windows/flexible-automatic-failover-policy-availability-group).

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// PeerConfig makes an instance a replica of a group whose other replicas
// run in other processes (JoinGroup; `sqlvault sqlsim --ag`).
type PeerConfig struct {
	Listen        string        // this replica's peer endpoint, HOST:PORT (port 0 picks one)
	Peers         []string      // other replicas' peer endpoints; more are learnt from them
	Secret        string        // shared by the group's replicas; requests without it are refused
	Primary       bool          // the role when the group is new; a saved role wins
	Priority      int           // BACKUP_PRIORITY 0..100 when the group is new
	Preference    string        // automated backup preference (default secondary)
	Listener      string        // the group listener, HOST:PORT, or ""
	HealthTimeout time.Duration // a primary silent this long has failed (default 10s)
	Async         bool          // ASYNCHRONOUS_COMMIT: the primary does not wait for this replica
}

// agPeers is a group's link to the replicas of other processes.
type agPeers struct {
	g       *Group
	secret  string
	self    string // the peer endpoint, as peers dial it
	timeout time.Duration
	seeds   []string
	client  *http.Client
	srv     *http.Server
	stop    chan struct{}
	done    chan struct{}
}

// JoinGroup makes in a replica of group name with peers in other
// processes: it restores the group from in's state file, listens on
// pc.Listen, learns the roles from its peers and catches up from the
// primary before it returns.
func JoinGroup(in *Instance, name string, pc PeerConfig) (*Group, error) {
	if pc.Secret == "" {
		return nil, errors.New("sqlsim: a group across processes needs a shared secret (--ag-secret)")
	}
	if pc.Preference == "" {
		pc.Preference = "secondary" // CREATE AVAILABILITY GROUP's default
	}
	if pc.HealthTimeout <= 0 {
		pc.HealthTimeout = 10 * time.Second
	}
	saved := in.saved(name)
	g, err := newGroup(name, pc.Listener, pc.Preference, in)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", pc.Listen)
	if err != nil {
		return nil, fmt.Errorf("sqlsim: availability group peer endpoint: %w", err)
	}
	ps := &agPeers{g: g, secret: pc.Secret, self: l.Addr().String(), timeout: pc.HealthTimeout, seeds: pc.Peers,
		client: &http.Client{Timeout: pc.HealthTimeout}, stop: make(chan struct{}), done: make(chan struct{})}
	ps.srv = &http.Server{Handler: ps.handler(), ReadHeaderTimeout: pc.HealthTimeout}
	g.peers = ps
	me := g.replicas[0]
	if saved != nil && saved.Version > 0 {
		g.restoreRoles(saved)
	} else {
		me.primary, me.priority = pc.Primary, pc.Priority
		g.version = 0 // a new secondary adopts the primary's account
		if pc.Primary {
			g.version = 1
		}
	}
	me.async = pc.Async // the flag, not the saved account: the mode is this replica's setting
	for _, r := range g.replicas {
		r.lastSeen = time.Now()
	}
	in.ag.Store(g)
	go ps.srv.Serve(l)
	ps.exchangeAll()
	g.persist()
	g.sync()
	go ps.loop()
	return g, nil
}

// Close stops the peer endpoint and the heartbeat (JoinGroup).
func (g *Group) Close() error {
	ps := g.peers
	if ps == nil {
		return nil
	}
	close(ps.stop)
	<-ps.done
	return ps.srv.Close()
}

// PeerAddr is the peer endpoint's address, "" without peers.
func (g *Group) PeerAddr() string { return g.peers.endpoint() }

func (ps *agPeers) endpoint() string {
	if ps == nil {
		return ""
	}
	return ps.self
}

func (ps *agPeers) loop() {
	defer close(ps.done)
	t := time.NewTicker(max(ps.timeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ps.stop:
			return
		case <-t.C:
		}
		ps.exchangeAll()
		if ps.g.checkHealth(time.Now(), ps.timeout) {
			ps.g.changed()
		}
		ps.g.sync()
	}
}

// broadcast tells every peer the group's new account.
func (ps *agPeers) broadcast() {
	if ps != nil {
		ps.exchangeAll()
	}
}

func (ps *agPeers) exchangeAll() {
	for _, addr := range ps.addrs() {
		var got agRecord
		if err := ps.call(http.MethodPost, addr, "/ag/exchange", ps.g.record(), &got); err != nil {
			continue // checkHealth notices a silent peer
		}
		ps.g.merge(got)
	}
}

// addrs are the peer endpoints of the flags and of the known replicas.
func (ps *agPeers) addrs() []string {
	seen := map[string]bool{ps.self: true, "": true}
	var out []string
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range ps.seeds {
		add(a)
	}
	ps.g.mu.Lock()
	for _, r := range ps.g.replicas {
		add(r.peer)
	}
	ps.g.mu.Unlock()
	return out
}

// record is the group as this process's replica gives it.
func (g *Group) record() agRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.recordLocked(g.localLocked())
}

// localLocked is this process's replica (JoinGroup has one).
func (g *Group) localLocked() *agReplica {
	for _, r := range g.replicas {
		if r.in != nil {
			return r
		}
	}
	return g.replicas[0]
}

// merge learns the replicas a peer knows and, when its account is newer,
// takes its roles, settings and databases.
func (g *Group) merge(rec agRecord) {
	if !strings.EqualFold(rec.Group, g.name) {
		return
	}
	now := time.Now()
	g.mu.Lock()
	for _, wr := range rec.Replicas {
		r := g.byNameLocked(wr.Name)
		if r == nil {
			r = newReplica(g.name, wr.Name, wr.Host, wr.Priority)
			r.peer, r.lastSeen, r.async = wr.Peer, now, wr.Async
			g.replicas = append(g.replicas, r)
		}
		if r.in == nil && wr.Peer != "" {
			r.peer = wr.Peer
		}
		if r.in == nil && strings.EqualFold(r.name, rec.From) {
			r.lastSeen, r.down, r.async = now, false, wr.Async
		}
	}
	if rec.Version <= g.version {
		g.mu.Unlock()
		return
	}
	removed := g.adoptLocked(rec)
	g.mu.Unlock()
	for _, name := range removed {
		g.removed(name)
	}
	g.persist()
}

// adoptLocked takes a newer account; it returns the databases it drops.
func (g *Group) adoptLocked(rec agRecord) (removed []string) {
	g.version, g.pref, g.listener, g.port = rec.Version, rec.Pref, rec.Listener, rec.Port
	for _, wr := range rec.Replicas {
		g.byNameLocked(wr.Name).priority = wr.Priority
	}
	for _, r := range g.replicas {
		r.primary = strings.EqualFold(r.name, rec.Primary)
	}
	keep := map[string]bool{}
	for _, n := range rec.DBs {
		keep[strings.ToLower(n)] = true
		if g.dbLocked(n) == nil {
			g.dbs = append(g.dbs, g.newDatabase(n))
		}
	}
	var dbs []*agDatabase
	for _, d := range g.dbs {
		if keep[strings.ToLower(d.name)] {
			dbs = append(dbs, d)
		} else {
			removed = append(removed, d.name)
		}
	}
	g.dbs = dbs
	return removed
}

// checkHealth marks remote replicas silent for timeout as down and, when
// the primary is one of them, makes this process's replica the primary
// if it ranks first among the connected secondaries. It reports a
// takeover.
func (g *Group) checkHealth(now time.Time, timeout time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	var primary *agReplica
	for _, r := range g.replicas {
		if r.in == nil {
			r.down = now.Sub(r.lastSeen) > timeout
		}
		if r.primary {
			primary = r
		}
	}
	if primary == nil || !primary.down { // no primary known: a new secondary waits for one
		return false
	}
	var cands []*agReplica
	for _, r := range g.replicas {
		if !r.down && !r.primary && !r.async { // automatic failover: synchronous commit only
			cands = append(cands, r)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].priority != cands[j].priority {
			return cands[i].priority > cands[j].priority
		}
		return strings.ToUpper(cands[i].name) < strings.ToUpper(cands[j].name)
	})
	if len(cands) == 0 || cands[0].in == nil {
		return false
	}
	g.makePrimaryLocked(cands[0])
	return true
}

// pull fetches database name from the remote primary p for the local
// connected secondaries.
func (g *Group) pull(p *agReplica, name string) {
	g.mu.Lock()
	targets := g.targetsLocked(p, name, "\x00") // every one; install skips none
	var have, from string
	if len(targets) > 0 {
		have, from = targets[0].synced[strings.ToLower(name)], targets[0].name
	}
	g.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	fp, data, err := g.peers.fetchDB(p.peer, name, have, from)
	if err != nil {
		return
	}
	g.mu.Lock()
	p.lastSeen = time.Now() // an answer is a sign of life, as an exchange is
	g.mu.Unlock()
	if data != nil {
		g.install(targets, name, fp, data)
	}
}

const fingerprintHeader = "X-Sqlsim-Fingerprint"

func (ps *agPeers) fetchDB(addr, name, have, from string) (string, []byte, error) {
	q := url.Values{"name": {name}, "have": {have}, "from": {from}}
	resp, err := ps.do(http.MethodGet, addr, "/ag/db?"+q.Encode(), nil)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return have, nil, nil
	}
	data, err := io.ReadAll(resp.Body)
	return resp.Header.Get(fingerprintHeader), data, err
}

// agLogStep is /ag/log's body.
type agLogStep struct {
	Name, Op string
	LastN    int64
}

func (ps *agPeers) logBackup(addr, name, op string, lastN int64) error {
	if ps == nil {
		return errors.New("no peers")
	}
	return ps.call(http.MethodPost, addr, "/ag/log", agLogStep{name, op, lastN}, nil)
}

// call sends in as JSON and decodes the answer into out (nil: none).
func (ps *agPeers) call(method, addr, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := ps.do(method, addr, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// do sends a request with the secret; any answer but 200 or 204 fails.
func (ps *agPeers) do(method, addr, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	return ps.send(req)
}

// send is do for a request already made.
func (ps *agPeers) send(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+ps.secret)
	resp, err := ps.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("sqlsim peer %s%s: %s: %s", req.URL.Host, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// handler serves the peer API to callers holding the secret.
func (ps *agPeers) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ag/exchange", ps.serveExchange)
	mux.HandleFunc("GET /ag/db", ps.serveDB)
	mux.HandleFunc("POST /ag/log", ps.serveLog)
	mux.HandleFunc("POST /ag/push", ps.servePush) // ag_commit.go
	want := []byte("Bearer " + ps.secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "sqlsim: not a replica of this group", http.StatusUnauthorized)
			return
		}
		limit := int64(1 << 20)
		if r.URL.Path == "/ag/push" { // a whole database copy
			limit = maxPushBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		mux.ServeHTTP(w, r)
	})
}

func (ps *agPeers) serveExchange(w http.ResponseWriter, r *http.Request) {
	var rec agRecord
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || !strings.EqualFold(rec.Group, ps.g.name) {
		http.Error(w, "sqlsim: not an account of group "+ps.g.name, http.StatusBadRequest)
		return
	}
	ps.g.merge(rec)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ps.g.record())
}

// localPrimary is the primary when it is this process's replica.
func (g *Group) localPrimary() *Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.primaryLocked(); p != nil && p.in != nil {
		return p.in
	}
	return nil
}

func (ps *agPeers) serveDB(w http.ResponseWriter, r *http.Request) {
	g, q := ps.g, r.URL.Query()
	p := g.localPrimary()
	if p == nil {
		http.Error(w, "sqlsim: this replica is not the primary", http.StatusConflict)
		return
	}
	name, have := q.Get("name"), q.Get("have")
	fp, data := p.snapshotDB(name, func(fp string) bool { return fp != have })
	if fp == "" {
		http.Error(w, "sqlsim: no database "+name, http.StatusNotFound)
		return
	}
	g.mu.Lock()
	if from := g.byNameLocked(q.Get("from")); from != nil && from.in == nil {
		from.synced[strings.ToLower(name)] = fp
		from.lastSeen, from.down = time.Now(), false
	}
	g.mu.Unlock()
	w.Header().Set(fingerprintHeader, fp)
	if data == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
}

func (ps *agPeers) serveLog(w http.ResponseWriter, r *http.Request) {
	var st agLogStep
	if err := json.NewDecoder(r.Body).Decode(&st); err != nil || (st.Op != "begin" && st.Op != "end") {
		http.Error(w, "sqlsim: want {Name, Op: begin|end, LastN}", http.StatusBadRequest)
		return
	}
	p := ps.g.localPrimary()
	if p == nil {
		http.Error(w, "sqlsim: this replica is not the primary", http.StatusConflict)
		return
	}
	p.logBackupStep(st.Name, st.Op, st.LastN)
	w.WriteHeader(http.StatusNoContent)
}
