package db

import (
	"context"
	"errors"
	"regexp"
	"testing"
)

// TestOneServerRowPerInstance: the catalog itself refuses a second row
// for an instance key, on insert and on update, whatever the caller
// checked before.
func TestOneServerRowPerInstance(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	a := Server{Name: "A", Host: "10.0.0.5", Port: 1433, Username: "u", PasswordEnc: []byte{1}, Encrypt: "disable", InstanceKey: `SQL01\MSSQLSERVER`}
	if _, err := d.CreateServer(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Name, b.Host = "B", "sql01.corp"
	if _, err := d.CreateServer(ctx, b); !errors.Is(err, ErrInstanceRegistered) {
		t.Fatalf("second row for the instance: %v", err)
	}
	b.InstanceKey = `SQL02\MSSQLSERVER`
	sb, err := d.CreateServer(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	sb.InstanceKey = a.InstanceKey
	if err := d.UpdateServerConnection(ctx, sb); !errors.Is(err, ErrInstanceRegistered) {
		t.Fatalf("update onto a registered instance: %v", err)
	}
	if err := d.SetServerInstanceKey(ctx, sb.ID, a.InstanceKey); !errors.Is(err, ErrInstanceRegistered) {
		t.Fatalf("set a registered instance key: %v", err)
	}
	if got, _ := d.ServerByInstanceKey(ctx, a.InstanceKey); got.Name != "A" {
		t.Fatalf("server by instance = %+v", got)
	}
	// Servers whose instance is not known yet (rebuilt from the vault) do not collide.
	for _, n := range []string{"C", "D"} {
		if _, err := d.CreateServer(ctx, Server{Name: n, Host: "h", Port: 1, Username: "u", PasswordEnc: []byte{1}, Encrypt: "disable"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecreatedDatabaseIsANewRow: a database dropped and recreated under
// its name (a new database_guid) becomes a new row; the old one, which has
// an item, stays gone beside it with its item stopped and noted. The same
// guid is the same database.
func TestRecreatedDatabaseIsANewRow(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	pol, _ := d.CreatePolicy(ctx, "P", "{}")
	found := func(guid string) []Database {
		return []Database{{Name: "Sales", GUID: guid, RecoveryModel: "FULL", State: "ONLINE"}}
	}
	if _, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, found("aaaa")); err != nil {
		t.Fatal(err)
	}
	dbs, _ := d.ListDatabases(ctx, s.ID)
	it, err := d.CreateItem(ctx, dbs[0].ID, pol.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, found("aaaa")); err != nil || len(r.New)+len(r.Replaced) != 0 {
		t.Fatalf("same guid again = %+v, %v", r, err)
	}
	r, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, found("bbbb"))
	if err != nil || len(r.Replaced) != 1 || r.Replaced[0].OldItemID != it.ID || r.Replaced[0].OldDatabaseID != dbs[0].ID {
		t.Fatalf("recreated = %+v, %v", r, err)
	}
	dbs, _ = d.ListDatabases(ctx, s.ID)
	if len(dbs) != 2 {
		t.Fatalf("databases = %+v", dbs)
	}
	var live, old Database
	for _, x := range dbs {
		if x.Gone {
			old = x
		} else {
			live = x
		}
	}
	if live.GUID != "bbbb" || live.ItemID != nil || old.GUID != "aaaa" || old.State != "REPLACED" || old.ItemID == nil || *old.ItemID != it.ID {
		t.Fatalf("live %+v, old %+v", live, old)
	}
	if got, _ := d.ItemByID(ctx, it.ID); got.State != ItemStopped || got.Note == "" {
		t.Fatalf("old item = %+v", got)
	}
	if _, err := d.CreateItem(ctx, live.ID, pol.ID, ""); err != nil {
		t.Fatalf("protect the new database: %v", err)
	}
	// Gone again, then back with the newest guid: the same row comes back.
	d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, nil)
	if r, _ := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, found("bbbb")); len(r.New) != 1 || len(r.Replaced) != 0 {
		t.Fatalf("back again = %+v", r)
	}
	if dbs, _ = d.ListDatabases(ctx, s.ID); len(dbs) != 2 {
		t.Fatalf("databases after it came back = %+v", dbs)
	}
}

// TestJobContainersNeverRepeat: every job's device container carries its
// id and a random part, so job 1 of a catalog rebuilt from the vault does
// not write into the container of the first catalog's job 1; and
// ReserveJobIDs moves the next id past what the vault holds.
func TestJobContainersNeverRepeat(t *testing.T) {
	ctx := context.Background()
	first, second := openTest(t), openTest(t)
	a, err := first.CreateJob(ctx, NewJob{Operation: "rediscover"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := second.CreateJob(ctx, NewJob{Operation: "rediscover"})
	if a.ID != b.ID || a.Container == b.Container || !regexp.MustCompile(`^job-1-[0-9a-f]{12}$`).MatchString(a.Container) {
		t.Fatalf("job 1 of two catalogs: containers %q and %q", a.Container, b.Container)
	}
	if err := second.ReserveJobIDs(ctx, 41, "rebuilt"); err != nil {
		t.Fatal(err)
	}
	second.ReserveJobIDs(ctx, 7, "a smaller reservation moves nothing back")
	if next, _ := second.CreateJob(ctx, NewJob{Operation: "rediscover"}); next.ID != 43 {
		t.Fatalf("next job after reserving 41 = %d", next.ID)
	}
	if j, _ := second.JobByID(ctx, 42); j.Operation != "rebuild" || j.Status != JobCompleted || len(j.Steps) != 1 {
		t.Fatalf("the reservation's job = %+v", j)
	}
}
