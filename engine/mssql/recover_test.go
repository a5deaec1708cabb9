package mssql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestRecoverAndRequireOnline: a database restored WITH NORECOVERY is
// RESTORING, which RequireOnline names with UserErrorRestoreLeftRestoring;
// Recover (RESTORE DATABASE [d] WITH RECOVERY) brings it online, and a
// second Recover fails as SQL Server does for a recovered database.
// DropCredential removes the job's credential and is a no-op once gone.
func TestRecoverAndRequireOnline(t *testing.T) {
	ctx := context.Background()
	env := enginetest.Start(t)
	in := env.StartSim(env.SimConfig("Sa-Passw0rd!"))
	c := connectSA(t, in)
	execAll(t, c, "CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1)")
	container := env.Device.ContainerURL("sqlvault")
	if err := c.EnsureCredential(ctx, container, env.Device.IssueSAS("sqlvault", "rw", time.Hour)); err != nil {
		t.Fatal(err)
	}
	u := env.Device.BlobURL("sqlvault", "SQL01/Sales/full.bak")
	if _, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindFull, URLs: []string{u}}, nil); err != nil {
		t.Fatal(err)
	}
	files, err := c.FileList(ctx, []string{u})
	if err != nil {
		t.Fatal(err)
	}
	moves := mssql.MovesFor(files, "Sales_copy", "/data", "/log")
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_copy", URLs: []string{u}, Moves: moves}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.RequireOnline(ctx, "Sales_copy"); engine.CodeOf(err) != engine.CodeRestoreLeftRestoring {
		t.Fatalf("RequireOnline of a RESTORING database: %v, want %s", err, engine.CodeRestoreLeftRestoring)
	}
	if err := c.Recover(ctx, "Sales_copy"); err != nil {
		t.Fatal(err)
	}
	if err := c.RequireOnline(ctx, "Sales_copy"); err != nil {
		t.Fatalf("after Recover: %v", err)
	}
	var n int
	if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM Sales_copy.dbo.t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("recovered database holds %d rows (%v), want 1", n, err)
	}
	if err := c.Recover(ctx, "Sales_copy"); engine.CodeOf(err) != engine.CodeRestoreFailed {
		t.Fatalf("Recover of an online database: %v, want %s", err, engine.CodeRestoreFailed)
	}
	if err := c.RequireOnline(ctx, "Nowhere"); engine.CodeOf(err) != engine.CodeRestoreFailed {
		t.Fatalf("RequireOnline of a missing database: %v", err)
	}

	if err := c.DropCredential(ctx, container); err != nil {
		t.Fatal(err)
	}
	if err := c.DB().QueryRowContext(ctx, "SELECT count(*) FROM sys.credentials").Scan(&n); err != nil || n != 0 {
		t.Fatalf("credentials after DropCredential = %d (%v)", n, err)
	}
	if err := c.DropCredential(ctx, container); err != nil {
		t.Fatalf("DropCredential of a dropped credential: %v", err)
	}
}

// TestStopAtOnAnotherInstanceUsesTheOffsetNow: restoring onto an instance
// whose msdb never saw the backups, on SQL Server 2019 (no
// CURRENT_TIMEZONE_ID), STOPAT falls back to the instance's offset now
// (DATEDIFF(MINUTE, GETUTCDATE(), GETDATE())); with no change between
// target and restore that is right, and the copy holds exactly the rows
// committed by the target second.
func TestStopAtOnAnotherInstanceUsesTheOffsetNow(t *testing.T) {
	ctx := context.Background()
	env := enginetest.Start(t)
	t0 := time.Date(2027, 7, 1, 12, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(t0)
	start := func(machine string) (*sqlsim.Instance, *mssql.Conn) {
		cfg := env.SimConfig("Sa-Passw0rd!")
		cfg.ProductVersion, cfg.TimeZone, cfg.Now, cfg.MachineName = "15.0.4355.3", "America/New_York", clock.Now, machine
		in := env.StartSim(cfg)
		c := connectSA(t, in)
		if err := c.EnsureCredential(ctx, env.Device.ContainerURL("sqlvault"), env.Device.IssueSAS("sqlvault", "rw", time.Hour)); err != nil {
			t.Fatal(err)
		}
		return in, c
	}
	_, src := start("SRC")
	_, dst := start("DST")
	execAll(t, src, "CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE t (id int)")
	fullURL := env.Device.BlobURL("sqlvault", "SRC/Sales/full.bak")
	logURL := env.Device.BlobURL("sqlvault", "SRC/Sales/log.trn")
	if _, err := src.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindFull, URLs: []string{fullURL}}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		clock.Set(t0.Add(time.Duration(i) * time.Second))
		execAll(t, src, fmt.Sprintf("INSERT INTO Sales.dbo.t VALUES (%d)", i))
	}
	clock.Set(t0.Add(5 * time.Second))
	if _, err := src.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindLog, URLs: []string{logURL}}, nil); err != nil {
		t.Fatal(err)
	}

	clock.Set(t0.Add(time.Minute))
	files, err := dst.FileList(ctx, []string{fullURL})
	if err != nil {
		t.Fatal(err)
	}
	moves := mssql.MovesFor(files, "Sales", "/data", "/log")
	if err := dst.Restore(ctx, mssql.RestoreRequest{Database: "Sales", URLs: []string{fullURL}, Moves: moves}, nil); err != nil {
		t.Fatal(err)
	}
	stop := t0.Add(2 * time.Second)
	if err := dst.Restore(ctx, mssql.RestoreRequest{Database: "Sales", Log: true, URLs: []string{logURL}, Recovery: true, StopAt: &stop}, nil); err != nil {
		t.Fatal(err)
	}
	var n, maxID int
	if err := dst.DB().QueryRowContext(ctx, "SELECT COUNT(*), MAX(id) FROM Sales.dbo.t").Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != 2 || maxID != 2 {
		t.Fatalf("restored on another instance to %v: %d rows up to id %d, want ids 1-2", stop, n, maxID)
	}
}

func connectSA(t *testing.T, in *sqlsim.Instance) *mssql.Conn {
	t.Helper()
	c, err := mssql.Connect(context.Background(), enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func execAll(t *testing.T, c *mssql.Conn, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := c.DB().ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
