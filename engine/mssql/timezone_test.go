package mssql_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// fakeClock is the simulated host's clock, set by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestPointInTimeAcrossDaylightSaving: an instance in Europe/Berlin, rows
// committed at known seconds either side of the spring change (2026-03-29
// 01:00 UTC, 02:00 CET becomes 03:00 CEST), a full before it and a log
// backup after it. Backup sets read back in UTC whatever the offset now,
// and a restore to the last second before the change, issued after it,
// holds exactly the rows committed up to that second.
func TestPointInTimeAcrossDaylightSaving(t *testing.T) {
	ctx := context.Background()
	change := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: change.Add(-30 * time.Minute)}
	env := enginetest.Start(t)
	cfg := env.SimConfig("Sa-Passw0rd!")
	cfg.TimeZone, cfg.Now = "Europe/Berlin", clock.Now
	in := env.StartSim(cfg)
	c, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := c.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE [Sales]")
	exec("USE [Sales]; CREATE TABLE t (id int)")
	if err := c.EnsureCredential(ctx, env.Device.ContainerURL("sqlvault"), env.Device.IssueSAS("sqlvault", "rw", 24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	clock.Set(change.Add(-5 * time.Minute))
	fullURL := env.Device.BlobURL("sqlvault", "SQL01/Sales/full.bak")
	full, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindFull, URLs: []string{fullURL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id int
		at time.Time
	}{{1, change.Add(-2 * time.Second)}, {2, change.Add(-time.Second)}, {3, change}, {4, change.Add(time.Second)}} {
		clock.Set(r.at)
		exec("INSERT INTO Sales.dbo.t VALUES (@p1)", r.id)
	}
	clock.Set(change.Add(10 * time.Minute))
	logURL := env.Device.BlobURL("sqlvault", "SQL01/Sales/log.trn")
	lg, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindLog, URLs: []string{logURL}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Read after the change, each set keeps its own offset: the full's
	// start is 00:55 UTC (01:55 CET), the log's 01:10 UTC (03:10 CEST).
	again, err := c.LastBackupSet(ctx, "Sales", fullURL)
	if err != nil {
		t.Fatal(err)
	}
	if !full.Start.Equal(change.Add(-5*time.Minute)) || !again.Start.Equal(full.Start) || !lg.Start.Equal(change.Add(10*time.Minute)) {
		t.Fatalf("backup starts: full %v (again %v), log %v; want %v and %v", full.Start, again.Start, lg.Start,
			change.Add(-5*time.Minute), change.Add(10*time.Minute))
	}

	files, err := c.FileList(ctx, []string{fullURL})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(change.Add(time.Hour)) // the restore runs in summer time
	stop := change.Add(-time.Second)
	moves := mssql.MovesFor(files, "Sales_pit", "/var/opt/mssql/data", "/var/opt/mssql/data")
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_pit", URLs: []string{fullURL}, Moves: moves}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_pit", Log: true, URLs: []string{logURL}, Recovery: true, StopAt: &stop}, nil); err != nil {
		t.Fatal(err)
	}
	var n, maxID int
	if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*), MAX(id) FROM Sales_pit.dbo.t").Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != 2 || maxID != 2 {
		t.Fatalf("restored to %v: %d rows up to id %d, want ids 1 and 2 (committed at and before that second)", stop, n, maxID)
	}
}
