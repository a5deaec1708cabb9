package mssql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	mssqldrv "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// TestCompressedBackupRestoresWithItsBlockSize: a backup written with SQL
// Server's compression restores through the plugin, which names BLOCKSIZE
// = 65536; the same RESTORE without it is refused with 3284.
func TestCompressedBackupRestoresWithItsBlockSize(t *testing.T) {
	ctx := context.Background()
	env := enginetest.Start(t)
	in := env.StartSim(env.SimConfig("Sa-Passw0rd!"))
	c, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1), (2)"} {
		if _, err := c.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EnsureCredential(ctx, env.Device.ContainerURL("sqlvault"), env.Device.IssueSAS("sqlvault", "rw", time.Hour)); err != nil {
		t.Fatal(err)
	}
	u := env.Device.BlobURL("sqlvault", "SQL01/Sales/full-c.bak")
	if _, err := c.Backup(ctx, mssql.BackupRequest{Database: "Sales", Kind: mssql.KindFull, URLs: []string{u}, Compression: true}, nil); err != nil {
		t.Fatal(err)
	}
	files, err := c.FileList(ctx, []string{u})
	if err != nil {
		t.Fatal(err)
	}
	raw := "RESTORE DATABASE [Sales_raw] FROM URL = N'" + u + "' WITH MOVE N'Sales' TO N'/d/raw.mdf', MOVE N'Sales_log' TO N'/d/raw.ldf'"
	var se mssqldrv.Error
	if _, err := c.DB().ExecContext(ctx, raw); !errors.As(err, &se) || !has3284(se) {
		t.Fatalf("RESTORE without BLOCKSIZE: %v, want 3284", err)
	}
	moves := mssql.MovesFor(files, "Sales_c", "/var/opt/mssql/data", "/var/opt/mssql/data")
	if err := c.Restore(ctx, mssql.RestoreRequest{Database: "Sales_c", URLs: []string{u}, Moves: moves, Recovery: true}, nil); err != nil {
		t.Fatalf("plugin restore of a compressed backup: %v", err)
	}
	var n int
	if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM Sales_c.dbo.t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("restored rows = %d, %v", n, err)
	}
}

func has3284(e mssqldrv.Error) bool {
	for _, a := range append([]mssqldrv.Error{e}, e.All...) {
		if a.Number == 3284 {
			return true
		}
	}
	return false
}
