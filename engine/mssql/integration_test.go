package mssql_test

import (
	"context"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestBackupAndRestoreThroughTheDevice drives the plugin against sqlsim:
// discovery, the SAS credential, a full and a log backup streamed over HTTPS
// into the vault, then a restore under a new name with files moved.
func TestBackupAndRestoreThroughTheDevice(t *testing.T) {
	ctx := context.Background()
	env := enginetest.Start(t)
	cfg := env.SimConfig("Sa-Passw0rd!")
	cfg.Logins = []sqlsim.Login{{Name: "nosys", Password: "NoSys-Pw1"}}
	in := env.StartSim(cfg)

	c, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1), (2), (3)"} {
		if _, err := c.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	info, err := c.RequireSysadmin(ctx)
	if err != nil || info.DefaultDataPath == "" || info.InstanceName != "MSSQLSERVER" {
		t.Fatalf("instance = %+v, %v", info, err)
	}
	dbs, err := c.Databases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sales mssql.Database
	for _, d := range dbs {
		if d.Name == "Sales" {
			sales = d
		}
	}
	if sales.RecoveryModel != "FULL" || sales.GUID == "" || sales.SizeBytes == 0 || sales.IsSystem {
		t.Fatalf("Sales discovered as %+v", sales)
	}

	sas := env.Device.IssueSAS("sqlvault", "rw", time.Hour)
	if err := c.EnsureCredential(ctx, env.Device.ContainerURL("sqlvault"), sas); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureCredential(ctx, env.Device.ContainerURL("sqlvault"), sas); err != nil {
		t.Fatalf("second EnsureCredential (ALTER): %v", err)
	}
	fullURL := env.Device.BlobURL("sqlvault", "SQL01/Sales/full-1.bak")
	var pcts []int
	full, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindFull, URLs: []string{fullURL}}, func(p int) { pcts = append(pcts, p) })
	if err != nil {
		t.Fatal(err)
	}
	if full.Type != "D" || full.CheckpointLSN == "" || full.LastLSN <= full.FirstLSN || len(pcts) == 0 || pcts[len(pcts)-1] != 100 {
		t.Fatalf("full = %+v, progress %v", full, pcts)
	}
	ms, _ := env.Vault.List(ctx, "sqlvault/SQL01/Sales/")
	if len(ms) != 1 || ms[0].Size == 0 {
		t.Fatalf("vault manifests = %+v", ms)
	}
	logURL := env.Device.BlobURL("sqlvault", "SQL01/Sales/log-1.trn")
	lg, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindLog, URLs: []string{logURL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lg.Type != "L" || lg.FirstLSN == "" {
		t.Fatalf("log = %+v", lg)
	}
	// Log backups of a SIMPLE database are refused with the right code.
	c.DB().ExecContext(ctx, "CREATE DATABASE Rep; ALTER DATABASE Rep SET RECOVERY SIMPLE")
	_, err = c.Backup(ctx, mssql.BackupRequest{Database: "Rep", Kind: mssql.KindLog, URLs: []string{env.Device.BlobURL("sqlvault", "r.trn")}}, nil)
	if engine.CodeOf(err) != engine.CodeLogBackupSimple {
		t.Fatalf("log backup of SIMPLE db: %v", err)
	}

	files, err := c.FileList(ctx, []string{fullURL})
	if err != nil || len(files) != 2 {
		t.Fatalf("file list = %+v, %v", files, err)
	}
	moves := mssql.MovesFor(files, "Sales_restored", info.DefaultDataPath, info.DefaultLogPath)
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_restored", URLs: []string{fullURL}, Moves: moves}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_restored", Log: true, URLs: []string{logURL}, Recovery: true}, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM Sales_restored.dbo.t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("restored rows = %d, %v", n, err)
	}

	// A login without sysadmin is named precisely.
	nc, err := mssql.Connect(ctx, enginetest.Target(in, "nosys", "NoSys-Pw1"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.RequireSysadmin(ctx); engine.CodeOf(err) != engine.CodeNoSysadmin {
		t.Fatalf("non-sysadmin: %v", err)
	}
	if _, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "wrong")); engine.CodeOf(err) != engine.CodeSQLLoginFailed {
		t.Fatalf("wrong password: %v", err)
	}
	bad := enginetest.Target(in, "sa", "x")
	bad.Port = 1
	if _, err := mssql.Connect(ctx, bad); engine.CodeOf(err) != engine.CodeInstanceUnreachable {
		t.Fatalf("closed port: %v", err)
	}
}
