package coordinator_test

import (
	"slices"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/secret"
)

// TestRebuildCatalogFromVault loses the catalog, rebuilds it from the
// vault alone, re-enters the login, and restores: the rows come back.
func TestRebuildCatalogFromVault(t *testing.T) {
	s, _, it := protectedSales(t)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'in the log')")
	s.backup(it, "log")
	before, _ := s.db.ListPoints(s.ctx, it.ID)
	lastJob := s.lastJobID()
	s.coord.Stop()

	// A new server: empty catalog, same vault and device.
	fresh, err := db.Open(s.ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	box, _ := secret.New(make([]byte, 32))
	c := coordinator.New(coordinator.Config{DB: fresh, Vault: s.env.Vault, Device: s.env.Device, DeviceName: s.env.DeviceName, Secrets: box})
	rep, err := c.RebuildCatalog(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Servers != 1 || rep.Items != 1 || rep.Points != len(before) {
		t.Fatalf("rebuild = %+v, want %d points", rep, len(before))
	}
	again, _ := c.RebuildCatalog(s.ctx)
	if again.Points != 0 {
		t.Errorf("a second rebuild added %d points", again.Points)
	}
	items, _ := fresh.ListItems(s.ctx, db.ItemFilter{})
	if len(items) != 1 || items[0].DatabaseName != "Sales" || items[0].State != db.ItemStopped {
		t.Fatalf("rebuilt items = %+v", items)
	}
	after, _ := fresh.ListPoints(s.ctx, items[0].ID)
	for i := range after {
		if after[i].FirstLSN != before[i].FirstLSN || after[i].LastLSN != before[i].LastLSN || !slices.Equal(after[i].Blobs, before[i].Blobs) {
			t.Errorf("point %d rebuilt as %+v, was %+v", i, after[i], before[i])
		}
	}

	if err := c.Start(s.ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	srv, job, err := c.UpdateServer(s.ctx, items[0].ServerID, coordinator.ServerInput{Host: "127.0.0.1", Port: s.sim.Port(), Username: "sa", Password: saPW})
	if err != nil {
		t.Fatal(err)
	}
	s.db, s.coord = fresh, c
	s.mustComplete(job)
	// Job ids go on past the vault's: the rebuild is job lastJob+1.
	if rebuilt, _ := fresh.JobByID(s.ctx, lastJob+1); rebuilt.Operation != "rebuild" || job <= lastJob+1 {
		t.Errorf("after a rebuild over jobs up to %d: rebuild job %+v, next job %d", lastJob, rebuilt, job)
	}
	if srv.Status != db.StatusHealthy {
		t.Errorf("server after new login = %+v", srv)
	}
	job, err = c.Restore(s.ctx, coordinator.RestoreRequest{ItemID: items[0].ID, RecoveryPointID: after[len(after)-1].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_rebuilt"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_rebuilt"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("restored from a rebuilt catalog: %v", got)
	}
}
