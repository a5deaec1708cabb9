package mssql_test

import (
	"context"
	"testing"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// TestDiscoveryReadsDatabaseStates: Databases reports each state and
// limit a real server shows in sys.databases and the availability group
// views, as sqlsim plays them.
func TestDiscoveryReadsDatabaseStates(t *testing.T) {
	ctx := context.Background()
	env := enginetest.Start(t)
	cfg := env.SimConfig("Sa-Passw0rd!")
	cfg.AGSecondaries = []string{"Replica"}
	in := env.StartSim(cfg)
	c, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"CREATE DATABASE Sales", "CREATE DATABASE Archive", "ALTER DATABASE Archive SET READ_ONLY",
		"CREATE DATABASE Gone", "ALTER DATABASE Gone SET OFFLINE",
		"CREATE DATABASE Sales_snap ON (NAME = Sales, FILENAME = '/var/opt/mssql/data/Sales_snap.ss') AS SNAPSHOT OF Sales"} {
		if _, err := c.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, st := range []string{"SUSPECT", "RECOVERY_PENDING", "RECOVERING", "RESTORING", "EMERGENCY"} {
		if _, err := c.DB().ExecContext(ctx, "CREATE DATABASE ["+st+"]"); err != nil {
			t.Fatal(err)
		}
		if err := in.SetDatabaseState(st, st); err != nil {
			t.Fatal(err)
		}
	}
	// Replica exists before the instance starts again as its secondary.
	if _, err := c.DB().ExecContext(ctx, "CREATE DATABASE Replica"); err != nil {
		t.Fatal(err)
	}
	in.Close()
	in = env.StartSim(cfg)
	c2, err := mssql.Connect(ctx, enginetest.Target(in, "sa", "Sa-Passw0rd!"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	dbs, err := c2.Databases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mssql.Database{}
	for _, d := range dbs {
		got[d.Name] = d
	}
	checks := []struct {
		name string
		ok   func(mssql.Database) bool
	}{
		{"Sales", func(d mssql.Database) bool {
			return d.State == "ONLINE" && !d.IsReadOnly && !d.IsSnapshot && !d.AGSecondary && !d.IsInStandby
		}},
		{"Archive", func(d mssql.Database) bool { return d.State == "ONLINE" && d.IsReadOnly }},
		{"Gone", func(d mssql.Database) bool { return d.State == "OFFLINE" }},
		{"Sales_snap", func(d mssql.Database) bool { return d.IsSnapshot && d.IsReadOnly }},
		{"Replica", func(d mssql.Database) bool { return d.AGSecondary }},
	}
	for _, st := range []string{"SUSPECT", "RECOVERY_PENDING", "RECOVERING", "RESTORING", "EMERGENCY"} {
		if got[st].State != st {
			t.Errorf("%s discovered as %+v", st, got[st])
		}
	}
	for _, ch := range checks {
		if d, ok := got[ch.name]; !ok || !ch.ok(d) {
			t.Errorf("%s discovered as %+v", ch.name, d)
		}
	}
}
