package sqlsim

import (
	"context"
	"testing"

	plugin "github.com/sqlvault/sqlvault/engine/mssql"
)

// TestAGPluginQueries: the product's discovery and probe of a group
// (engine/mssql, over go-mssqldb) read what the replicas answer.
func TestAGPluginQueries(t *testing.T) {
	ctx := context.Background()
	a := startAG(t, 3)
	g := a.groupSales(t, "secondary")
	conn := func(i int) *plugin.Conn {
		c, err := plugin.Connect(ctx, plugin.Target{Host: "127.0.0.1", Port: a.in[i].Port(), User: "sa", Password: "Sa-Passw0rd!", Encrypt: "disable"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	primary, secondary := conn(0), conn(1)
	groups, err := primary.AvailabilityGroups(ctx)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups on the primary: %+v %v", groups, err)
	}
	ag := groups[0]
	if ag.GroupID != g.ID() || ag.Name != "ag1" || ag.Preference != "secondary" || ag.Listener != "ag1-listener:1433" || len(ag.Replicas) != 3 {
		t.Errorf("group %+v", ag)
	}
	for _, r := range ag.Replicas {
		want := "SECONDARY"
		if r.ServerName == "SQL1" {
			want = "PRIMARY"
		}
		if r.Role != want || !r.Connected || r.Priority != 50 || r.Health != "HEALTHY" {
			t.Errorf("replica %+v, want role %s", r, want)
		}
	}
	if len(ag.Databases) != 1 || ag.Databases[0].Name != "Sales" || !ag.Databases[0].Primary {
		t.Errorf("primary's group databases %+v", ag.Databases)
	}
	sg, err := secondary.AvailabilityGroups(ctx)
	if err != nil || len(sg) != 1 || len(sg[0].Databases) != 1 || sg[0].Databases[0].Primary || sg[0].Databases[0].GroupDatabaseID != ag.Databases[0].GroupDatabaseID {
		t.Errorf("secondary's view %+v %v", sg, err)
	}
	dbs, err := secondary.Databases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		if d.Name == "Sales" && !d.AGSecondary {
			t.Errorf("Sales on SQL2 not marked a secondary: %+v", d)
		}
	}
	p, err := secondary.ProbeReplica(ctx, "Sales")
	if err != nil || p.Role != "SECONDARY" || !p.Connected || p.State != "SYNCHRONIZED" || !p.Preferred {
		t.Errorf("probe of SQL2: %+v %v", p, err)
	}
	if p, err := primary.ProbeReplica(ctx, "Sales"); err != nil || p.Role != "PRIMARY" || p.Preferred {
		t.Errorf("probe of SQL1: %+v %v", p, err)
	}
	if err := secondary.LeaveGroup(ctx, "ag1", "Sales", false); err != nil {
		t.Fatal(err)
	}
	if err := primary.LeaveGroup(ctx, "ag1", "Sales", true); err != nil {
		t.Fatal(err)
	}
	if groups, _ := primary.AvailabilityGroups(ctx); len(groups) != 1 || len(groups[0].Databases) != 0 {
		t.Errorf("after leaving, the primary's group %+v", groups)
	}
}
