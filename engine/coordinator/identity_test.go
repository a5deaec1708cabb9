package coordinator_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestOneRegistrationPerInstance registers an instance, then tries it again
// by host name instead of address and under another name: both are refused
// naming the first registration, as is a wrong instance name and an edit
// that points another registration at it. Another instance (another
// machine) registers; of four registrations of a third one racing, one wins.
func TestOneRegistrationPerInstance(t *testing.T) {
	s := newStack(t)
	first := s.register("sa", saPW)
	for _, in := range []coordinator.ServerInput{
		{Host: "localhost", Port: s.sim.Port(), Username: "sa", Password: saPW},
		{Name: "SQL01-again", Host: "127.0.0.1", Port: s.sim.Port(), Username: "sa", Password: saPW},
	} {
		_, _, err := s.coord.RegisterServer(s.ctx, in)
		if engine.CodeOf(err) != engine.CodeServerAlreadyRegistered || !strings.Contains(engine.MessageOf(err), `"SQL01"`) ||
			coordinator.FieldOf(err) != "host" {
			t.Fatalf("second registration by %s as %q: %v", in.Host, in.Name, err)
		}
	}
	_, _, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Name: "Named", Host: "127.0.0.1", Port: s.sim.Port(),
		InstanceName: "PROD", Username: "sa", Password: saPW})
	if engine.CodeOf(err) != engine.CodeInvalidRequest || coordinator.FieldOf(err) != "instance_name" ||
		!strings.Contains(engine.MessageOf(err), "MSSQLSERVER") {
		t.Fatalf("a wrong instance name: %v", err)
	}
	if list, _ := s.db.ListServers(s.ctx); len(list) != 1 {
		t.Fatalf("refused registrations left %d servers", len(list))
	}

	other := s.startSim("SQLOTHER")
	second, job, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Name: "SQL02", Host: "127.0.0.1", Port: other.Port(),
		InstanceName: "mssqlserver", Username: "sa", Password: saPW})
	if err != nil {
		t.Fatalf("another instance: %v", err)
	}
	s.mustComplete(job)
	_, _, err = s.coord.UpdateServer(s.ctx, second.ID, coordinator.ServerInput{Host: "localhost", Port: s.sim.Port(), Username: "sa", Password: saPW})
	if engine.CodeOf(err) != engine.CodeServerAlreadyRegistered || !strings.Contains(engine.MessageOf(err), `"SQL01"`) {
		t.Fatalf("pointing SQL02 at SQL01's instance: %v", err)
	}
	if got, _ := s.db.ServerByID(s.ctx, second.ID); got.Port != other.Port() {
		t.Fatalf("the refused edit changed SQL02: %+v", got)
	}
	if _, _, err := s.coord.UpdateServer(s.ctx, first.ID, coordinator.ServerInput{Host: "localhost", Port: s.sim.Port(), Username: "sa", Password: saPW}); err != nil {
		t.Fatalf("SQL01 reached by another host name: %v", err)
	}

	race := s.startSim("SQLRACE")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Name: "R" + string(rune('1'+i)), Host: "127.0.0.1",
				Port: race.Port(), Username: "sa", Password: saPW})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case engine.CodeOf(err) != engine.CodeServerAlreadyRegistered:
			t.Errorf("racing registration: %v", err)
		}
	}
	if list, _ := s.db.ListServers(s.ctx); won != 1 || len(list) != 3 {
		t.Fatalf("%d of 4 racing registrations won, %d servers", won, len(list))
	}
}

// startSim starts another simulated instance on its own machine name.
func (s *stack) startSim(machine string) *sqlsim.Instance {
	s.t.Helper()
	cfg := s.env.SimConfig(saPW)
	cfg.MachineName = machine
	return s.env.StartSim(cfg)
}

// TestRemoveServerRules unregisters a server only once it protects
// nothing and keeps no data; then the instance can be registered again.
func TestRemoveServerRules(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE Sales")
	srv := s.register("sa", saPW)
	it, full, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	if err := s.coord.RemoveServer(s.ctx, srv.ID); engine.CodeOf(err) != engine.CodeConflict || !strings.Contains(engine.MessageOf(err), "stop its protection") {
		t.Fatalf("remove while protecting: %v", err)
	}
	s.coord.StopProtection(s.ctx, it.ID, false)
	if err := s.coord.RemoveServer(s.ctx, srv.ID); engine.CodeOf(err) != engine.CodeConflict || !strings.Contains(engine.MessageOf(err), "delete data") {
		t.Fatalf("remove while keeping data: %v", err)
	}
	s.coord.StopProtection(s.ctx, it.ID, true)
	if err := s.coord.RemoveServer(s.ctx, srv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ServerByID(s.ctx, srv.ID); err != db.ErrNotFound {
		t.Fatalf("removed server: %v", err)
	}
	s.register("sa", saPW)
}

// TestOneItemPerDatabase protects a database twice (and another from
// three requests at once): one item each, the refusals naming it. Then
// the database is dropped and recreated: at rediscovery the old item is
// stopped with its points, an alert says the database was replaced, and
// a new item protects the new database with a full of its own.
func TestOneItemPerDatabase(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	s.exec("CREATE DATABASE HR")
	srv := s.register("sa", saPW)
	pol := s.policy()
	old := s.database(srv.ID, "Sales")
	it, full, err := s.coord.Protect(s.ctx, old.ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	_, _, err = s.coord.Protect(s.ctx, old.ID, pol.ID)
	if engine.CodeOf(err) != engine.CodeDatabaseAlreadyProtd || !strings.Contains(engine.MessageOf(err), fmt.Sprintf("item %d", it.ID)) {
		t.Fatalf("protect twice: %v", err)
	}
	hr := s.database(srv.ID, "HR")
	var wg sync.WaitGroup
	items, fulls, errs := make([]db.Item, 3), make([]int64, 3), make([]error, 3)
	for i := range items {
		wg.Add(1)
		go func() { defer wg.Done(); items[i], fulls[i], errs[i] = s.coord.Protect(s.ctx, hr.ID, pol.ID) }()
	}
	wg.Wait()
	var winner, winnerFull int64
	for i, err := range errs {
		if err == nil {
			if winner != 0 {
				t.Fatalf("two items for HR: %d and %d", winner, items[i].ID)
			}
			winner, winnerFull = items[i].ID, fulls[i]
		}
	}
	for _, err := range errs {
		if err != nil && (engine.CodeOf(err) != engine.CodeDatabaseAlreadyProtd || !strings.Contains(engine.MessageOf(err), fmt.Sprintf("item %d", winner))) {
			t.Fatalf("racing protect: %v (winner %d)", err, winner)
		}
	}

	s.mustComplete(winnerFull)
	s.exec("DROP DATABASE Sales")
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int); INSERT INTO t VALUES (2)")
	job, err := s.coord.Rediscover(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	var renewed db.Database
	dbs, _ := s.db.ListDatabases(s.ctx, srv.ID)
	for _, d := range dbs {
		if d.Name == "Sales" && !d.Gone {
			renewed = d
		}
	}
	if renewed.ID == old.ID || renewed.GUID == old.GUID || renewed.GUID == "" || renewed.ItemID == nil || *renewed.ItemID == it.ID {
		t.Fatalf("recreated database = %+v (was %+v)", renewed, old)
	}
	if got, _ := s.db.ItemByID(s.ctx, it.ID); got.State != db.ItemStopped || !strings.Contains(got.Note, "replaced") {
		t.Fatalf("old item = %+v", got)
	}
	if pts, _ := s.db.ListPoints(s.ctx, it.ID); len(pts) != 1 || pts[0].DatabaseGUID != old.GUID {
		t.Fatalf("old item's points = %+v", pts)
	}
	alerts, _ := s.db.ListAlerts(s.ctx, 50)
	found := false
	for _, a := range alerts {
		found = found || (a.Code == string(engine.CodeDatabaseReplaced) && a.ResolvedAt == nil &&
			strings.Contains(a.Message, fmt.Sprintf("item %d", it.ID)) && strings.Contains(a.Message, fmt.Sprintf("item %d", *renewed.ItemID)))
	}
	if !found {
		t.Fatalf("no open replaced-database alert naming both items: %+v", alerts)
	}
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: *renewed.ItemID, Operation: "backup"})
	if len(jobs) != 1 || jobs[0].Kind != "full" {
		t.Fatalf("new item's jobs = %+v", jobs)
	}
	s.mustComplete(jobs[0].ID)
	if pts, _ := s.db.ListPoints(s.ctx, *renewed.ItemID); len(pts) != 1 || pts[0].DatabaseGUID != renewed.GUID {
		t.Fatalf("new item's points = %+v", pts)
	}
	if _, err := s.coord.ResumeProtection(s.ctx, it.ID, 0); engine.CodeOf(err) != engine.CodeDatabaseNotFound {
		t.Fatalf("resume the replaced item: %v", err)
	}
}
