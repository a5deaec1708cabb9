package coordinator_test

import (
	"net"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// fullsOn counts the full backups of Sales in replica i's msdb.
func (a *agStack) fullsOn(i int) int {
	a.t.Helper()
	var n int
	if err := a.conns[i].QueryRowContext(a.ctx, `SELECT count(*) FROM msdb.dbo.backupset WHERE database_name = N'Sales' AND type = 'D'`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// TestAGListenerRegistration: a server registered by the group's listener
// is the group's listener, not a third replica; it shows only the group's
// databases; its backups land on whichever replica is primary, before and
// after a failover, without the identity check objecting; the replicas
// can still be registered directly beside it.
func TestAGListenerRegistration(t *testing.T) {
	a := newAGStack(t, "secondary", 2)
	a.exec("CREATE DATABASE Other") // on SQLAG1 only, not in the group
	l, err := a.group.ServeListener("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	listener, job, err := a.coord.RegisterServer(a.ctx, coordinator.ServerInput{Name: "SalesAG-listener", Host: "localhost",
		Port: l.Addr().(*net.TCPAddr).Port, Username: "sa", Password: saPW})
	if err != nil {
		t.Fatal(err)
	}
	a.mustComplete(job)
	groups, err := a.coord.AvailabilityGroups(a.ctx)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups = %+v, %v", groups, err)
	}
	if g := groups[0]; len(g.Replicas) != 2 || g.ListenerServerID == nil || *g.ListenerServerID != listener.ID || len(g.Missing) != 2 {
		t.Errorf("group through the listener = %+v; want 2 replicas, both missing a registration, and the listener server %d", g, listener.ID)
	}
	dbs, _ := a.db.ListDatabases(a.ctx, listener.ID)
	for _, d := range dbs {
		if d.Name != "Sales" {
			t.Errorf("the listener registration lists %s, which is not a database of its group", d.Name)
		}
	}
	it, job, err := a.coord.Protect(a.ctx, a.database(listener.ID, "Sales").ID, a.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	a.mustComplete(job)
	if a.fullsOn(0) != 1 || a.fullsOn(1) != 0 {
		t.Errorf("fulls on SQLAG1, SQLAG2 = %d, %d; want the first on SQLAG1, the primary", a.fullsOn(0), a.fullsOn(1))
	}
	if err := a.group.Failover(a.sims[1]); err != nil {
		t.Fatal(err)
	}
	a.mustComplete(a.rediscover(listener.ID))
	if s, _ := a.db.ServerByID(a.ctx, listener.ID); s.Status != db.StatusHealthy {
		t.Errorf("after the failover the listener registration is %s: %s %s", s.Status, s.StatusCode, s.StatusMessage)
	}
	a.backupOn(it, mssql.KindFull)
	if a.fullsOn(1) != 1 {
		t.Errorf("after the failover SQLAG2 holds %d fulls, want the new one: backups through the listener follow the primary", a.fullsOn(1))
	}
	// With no replica registered, an original restore goes through it.
	if o, ok, err := a.coord.OriginalReplicaOf(a.ctx, it.ID, 0); !ok || err != nil || o.ServerID != listener.ID {
		t.Errorf("original restore target = %+v, %v, %v; want the listener registration", o, ok, err)
	}
	// The replicas registered directly beside it: no conflict, still two.
	a.registerReplica(0)
	a.registerReplica(1)
	groups, _ = a.coord.AvailabilityGroups(a.ctx)
	if g := groups[0]; len(g.Replicas) != 2 || len(g.Missing) != 0 || g.ListenerServerID == nil {
		t.Errorf("with every replica registered too: %+v", g)
	}
}

func (a *agStack) rediscover(serverID int64) int64 {
	a.t.Helper()
	id, err := a.coord.Rediscover(a.ctx, serverID)
	if err != nil {
		a.t.Fatal(err)
	}
	return id
}
