package mssql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// TestPointInTimeAcrossDaylightSaving: an instance in Europe/Berlin, rows
// committed at known seconds either side of the spring change (2026-03-29
// 01:00 UTC, 02:00 CET becomes 03:00 CEST), a full and a log backup before
// it and a log backup after it. Backup sets read back in UTC whatever the
// offset now. Restores issued in summer time hold exactly the rows up to
// their target: a winter target inside the first log on 2016, 2019 and
// 2022 (msdb's time_zone of the backups around it, or the zone's rules),
// and on 2022 also the last second before the change, inside the log that
// spans it.
func TestPointInTimeAcrossDaylightSaving(t *testing.T) {
	for _, version := range []string{"13.0.6300.2", "15.0.4355.3", "16.0.4145.4"} {
		t.Run(version, func(t *testing.T) { pointInTimeAcrossChange(t, version) })
	}
}

func pointInTimeAcrossChange(t *testing.T, version string) {
	ctx := context.Background()
	change := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(change.Add(-time.Hour))
	env := enginetest.Start(t)
	cfg := env.SimConfig("Sa-Passw0rd!")
	cfg.TimeZone, cfg.Now, cfg.ProductVersion = "Europe/Berlin", clock.Now, version
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
	backup := func(kind, name string, at time.Time) (string, mssql.BackupSet) {
		t.Helper()
		clock.Set(at)
		u := env.Device.BlobURL("sqlvault", "SQL01/Sales/"+name)
		b, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: kind, URLs: []string{u}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return u, b
	}
	insert := func(id int, at time.Time) {
		clock.Set(at)
		exec("INSERT INTO Sales.dbo.t VALUES (@p1)", id)
	}
	fullURL, full := backup(mssql.KindFull, "full.bak", change.Add(-30*time.Minute))
	insert(1, change.Add(-20*time.Minute))
	insert(2, change.Add(-19*time.Minute))
	log1URL, _ := backup(mssql.KindLog, "log1.trn", change.Add(-10*time.Minute))
	for i, at := range []time.Duration{-2 * time.Second, -time.Second, 0, time.Second} {
		insert(3+i, change.Add(at))
	}
	log2URL, log2 := backup(mssql.KindLog, "log2.trn", change.Add(10*time.Minute))

	// Read after the change, each set keeps its own offset: the full's
	// start is 00:30 UTC (01:30 CET), the second log's 01:10 UTC (03:10 CEST).
	again, err := c.LastBackupSet(ctx, "Sales", fullURL)
	if err != nil {
		t.Fatal(err)
	}
	if !full.Start.Equal(change.Add(-30*time.Minute)) || !again.Start.Equal(full.Start) || !log2.Start.Equal(change.Add(10*time.Minute)) {
		t.Fatalf("backup starts: full %v (again %v), log %v", full.Start, again.Start, log2.Start)
	}

	files, err := c.FileList(ctx, []string{fullURL})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(change.Add(time.Hour)) // the restores run in summer time
	restore := func(name string, stop time.Time, logs ...string) (n, maxID int) {
		t.Helper()
		moves := mssql.MovesFor(files, name, "/var/opt/mssql/data", "/var/opt/mssql/data")
		if err := c.Restore(ctx, mssql.RestoreRequest{Database: name, URLs: []string{fullURL}, Moves: moves}, nil); err != nil {
			t.Fatal(err)
		}
		for i, l := range logs {
			last := i == len(logs)-1
			r := mssql.RestoreRequest{Database: name, Log: true, URLs: []string{l}, Recovery: last}
			if last {
				r.StopAt = &stop
			}
			if err := c.Restore(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DB().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), MAX(id) FROM [%s].dbo.t", name)).Scan(&n, &maxID); err != nil {
			t.Fatal(err)
		}
		return n, maxID
	}
	if n, maxID := restore("Sales_winter", change.Add(-20*time.Minute), log1URL); n != 1 || maxID != 1 {
		t.Fatalf("restored to 00:40 UTC: %d rows up to id %d, want id 1 only", n, maxID)
	}
	if version < "16" {
		return // the second before the change lies between backups on two offsets: see docs/compatibility.md, Unknowns
	}
	if n, maxID := restore("Sales_pit", change.Add(-time.Second), log1URL, log2URL); n != 4 || maxID != 4 {
		t.Fatalf("restored to 00:59:59 UTC: %d rows up to id %d, want ids 1-4 (committed at and before that second)", n, maxID)
	}
}
