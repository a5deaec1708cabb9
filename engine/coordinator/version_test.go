package coordinator_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
)

// TestRediscoverRefusesSQLServer2014: a registered server whose address
// now answers as SQL Server 2014 (12.0) fails its rediscovery with
// UserErrorSQLVersionUnsupported, which the server's status shows.
func TestRediscoverRefusesSQLServer2014(t *testing.T) {
	s := newStack(t)
	srv := s.register("sa", saPW)
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.StatusCode != "" {
		t.Fatalf("server on 2022 = %+v", got)
	}
	port := s.sim.Port()
	s.sim.Close()
	cfg := s.env.SimConfig(saPW)
	cfg.Addr, cfg.ProductVersion = fmt.Sprintf("127.0.0.1:%d", port), "12.0.6024.0"
	s.env.StartSim(cfg)

	job, err := s.coord.Rediscover(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(job); j.ErrorCode != string(engine.CodeSQLVersionUnsupported) {
		t.Fatalf("rediscovery = %s %s %s, want %s", j.Status, j.ErrorCode, j.ErrorMessage, engine.CodeSQLVersionUnsupported)
	}
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.StatusCode != string(engine.CodeSQLVersionUnsupported) {
		t.Fatalf("server status = %+v", got)
	}
}

// TestPointInTimeRestoreAcrossDaylightSaving goes through the coordinator
// with an instance in Europe/Berlin: a full before the spring change
// (2027-03-28 01:00 UTC), rows at known seconds either side of it, a log
// backup after it; a restore to the last second before the change holds
// exactly the rows committed up to that second, and the recovery points'
// times are the UTC instants of the backups.
func TestPointInTimeRestoreAcrossDaylightSaving(t *testing.T) {
	change := time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(change.Add(-40 * time.Minute))
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	env := enginetest.Start(t)
	cfg := env.SimConfig(saPW)
	cfg.TimeZone, cfg.Now = "Europe/Berlin", clock.Now
	sim := env.StartSim(cfg)
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &stack{t: t, ctx: ctx, db: catalog, env: env, sim: sim, coord: env.Coordinator(catalog, nil), sql: conn}

	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	srv := s.register("sa", saPW)
	clock.Set(change.Add(-30 * time.Minute))
	it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	for i, at := range []time.Duration{-2 * time.Second, -time.Second, 0, time.Second} {
		clock.Set(change.Add(at))
		s.exec("INSERT INTO Sales.dbo.t VALUES (@p1, N'row')", i+1)
	}
	clock.Set(change.Add(10 * time.Minute))
	s.backup(it, "log")

	points, err := s.db.ListPoints(s.ctx, it.ID)
	if err != nil || len(points) != 2 {
		t.Fatalf("points = %+v, %v", points, err)
	}
	if !points[0].StartTime.Equal(change.Add(-30*time.Minute)) || !points[1].StartTime.Equal(change.Add(10*time.Minute)) {
		t.Fatalf("point starts %v and %v, want %v and %v", points[0].StartTime, points[1].StartTime,
			change.Add(-30*time.Minute), change.Add(10*time.Minute))
	}
	clock.Set(change.Add(time.Hour)) // the restore runs in summer time
	at := change.Add(-time.Second)
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &at,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_pit"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_pit"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("restore to %v holds %v, want [1 2] (the rows committed up to that second)", at, got)
	}
}
