package db

import (
	"context"
	"errors"
	"testing"
)

// TestGroupDatabaseIsOneItem: discovery from two replicas records one
// group with both replicas and one database (by group_database_id, though
// each replica's database row differs); protecting it from one replica
// makes the item every replica's row shows, and a second item for it is
// refused.
func TestGroupDatabaseIsOneItem(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	one := seedServer(t, d)
	two, err := d.CreateServer(ctx, Server{Name: "SQL02", Host: "sql02", Port: 1433, Username: "b", PasswordEnc: []byte{1}, Encrypt: "disable"})
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := d.CreatePolicy(ctx, "p", "{}")
	servers := map[string]int64{"SQL01": one.ID, "SQL02": two.ID, "SQL03": 0}
	byName := func(n string) *int64 {
		if id := servers[n]; id != 0 {
			return &id
		}
		return nil
	}
	found := func(primary string) AGFound {
		role := func(n string) string {
			if n == primary {
				return "PRIMARY"
			}
			return "SECONDARY"
		}
		return AGFound{GroupID: "AAAA-1", Name: "SalesAG", Preference: "secondary",
			Replicas: []AGReplica{{ReplicaID: "r1", Name: "SQL01", Role: role("SQL01"), Priority: 50},
				{ReplicaID: "r2", Name: "SQL02", Role: role("SQL02"), Priority: 60}, {ReplicaID: "r3", Name: "SQL03", Priority: 10}},
			Databases: []AGLocalDatabase{{Name: "Orders", GroupDatabaseID: "G-ORDERS", SynchronizationState: "SYNCHRONIZED"}}}
	}
	for _, s := range []Server{one, two} {
		if _, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, []Database{{Name: "Orders", GUID: "guid-" + s.Name, RecoveryModel: "FULL", State: "ONLINE"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SaveAG(ctx, s.ID, found("SQL01"), byName); err != nil {
			t.Fatal(err)
		}
	}
	groups, err := d.ListAGs(ctx)
	if err != nil || len(groups) != 1 {
		t.Fatalf("groups = %+v, %v", groups, err)
	}
	g := groups[0]
	if len(g.Replicas) != 3 || g.Replicas[0].Name != "SQL02" || g.Replicas[2].ServerID != nil || len(g.Databases) != 1 {
		t.Fatalf("group = %+v", g)
	}
	dbs1, _ := d.ListDatabases(ctx, one.ID)
	dbs2, _ := d.ListDatabases(ctx, two.ID)
	m, ok, err := d.DatabaseAG(ctx, dbs2[0].ID)
	if !ok || err != nil || m.GroupDatabaseID != "g-orders" {
		t.Fatalf("membership = %+v %v %v", m, ok, err)
	}
	it, err := d.CreateGroupItem(ctx, dbs2[0].ID, pol.ID, "", m)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := d.DatabaseByID(ctx, dbs1[0].ID)
	if again.ItemID == nil || *again.ItemID != it.ID {
		t.Errorf("the other replica's row shows item %v, want %d", again.ItemID, it.ID)
	}
	m1, _, _ := d.DatabaseAG(ctx, dbs1[0].ID)
	if _, err := d.CreateGroupItem(ctx, dbs1[0].ID, pol.ID, "", m1); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second item for the group database: %v", err)
	}
	// A failover seen from SQL02: roles follow the newest discovery.
	if _, err := d.SaveAG(ctx, two.ID, found("SQL02"), byName); err != nil {
		t.Fatal(err)
	}
	g, _ = d.AGByID(ctx, g.ID)
	for _, r := range g.Replicas {
		if want := map[string]string{"SQL01": "SECONDARY", "SQL02": "PRIMARY"}[r.Name]; want != "" && r.Role != want {
			t.Errorf("after failover %s is %s, want %s", r.Name, r.Role, want)
		}
	}
}
