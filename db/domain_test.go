package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func seedServer(t *testing.T, d *DB) Server {
	t.Helper()
	s, err := d.CreateServer(context.Background(), Server{Name: "SQL01", Host: "sql01", Port: 1433, InstanceName: "MSSQLSERVER",
		Username: "backup", PasswordEnc: []byte{1, 2, 3}, Encrypt: "disable"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiscoveryAddsMarksGoneAndNotesChanges(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	if _, err := d.CreateServer(ctx, Server{Name: "sql01", Host: "x", Port: 1, Username: "u", PasswordEnc: []byte{1}, Encrypt: "disable"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate server name: %v, want ErrDuplicate", err)
	}
	info := InstanceInfo{Version: "16.0.4135.4", Edition: "Developer Edition (64-bit)", DefaultDataPath: `C:\Data\`, DefaultLogPath: `C:\Log\`}
	r, err := d.SaveDiscovery(ctx, s.ID, info, []Database{
		{Name: "master", RecoveryModel: "SIMPLE", IsSystem: true, State: "ONLINE"},
		{Name: "Sales", RecoveryModel: "FULL", State: "ONLINE", SizeBytes: 8 << 20},
		{Name: "HR", RecoveryModel: "FULL", State: "ONLINE"},
	})
	if err != nil || len(r.New) != 3 {
		t.Fatalf("first discovery = %+v, %v", r, err)
	}
	r, err = d.SaveDiscovery(ctx, s.ID, info, []Database{
		{Name: "master", RecoveryModel: "SIMPLE", IsSystem: true, State: "ONLINE"},
		{Name: "Sales", RecoveryModel: "SIMPLE", State: "ONLINE"},
		{Name: "New", RecoveryModel: "FULL", State: "ONLINE"},
	})
	if err != nil || len(r.New) != 1 || r.New[0] != "New" || len(r.Gone) != 1 || r.Gone[0] != "HR" || len(r.Changed) != 1 {
		t.Fatalf("second discovery = %+v, %v", r, err)
	}
	dbs, _ := d.ListDatabases(ctx, s.ID)
	byName := map[string]Database{}
	for _, x := range dbs {
		byName[x.Name] = x
	}
	if !byName["HR"].Gone || byName["Sales"].Note == "" || byName["Sales"].RecoveryModel != "SIMPLE" {
		t.Fatalf("databases = %+v", byName)
	}
	srv, _ := d.ServerByID(ctx, s.ID)
	if srv.Version != info.Version || srv.DiscoveredAt == nil || srv.DefaultLogPath != info.DefaultLogPath {
		t.Fatalf("server after discovery = %+v", srv)
	}
}

func TestItemsPointsAndPolicyInUse(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, []Database{{Name: "Sales", RecoveryModel: "FULL", State: "ONLINE"}})
	dbs, _ := d.ListDatabases(ctx, s.ID)
	pol, err := d.CreatePolicy(ctx, "Daily", `{"name":"Daily"}`)
	if err != nil {
		t.Fatal(err)
	}
	it, err := d.CreateItem(ctx, dbs[0].ID, pol.ID, "")
	if err != nil || it.DatabaseName != "Sales" || it.PolicyName != "Daily" || it.State != ItemProtected {
		t.Fatalf("item = %+v, %v", it, err)
	}
	if _, err := d.CreateItem(ctx, dbs[0].ID, pol.ID, ""); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second protection of one database: %v", err)
	}
	if err := d.DeletePolicy(ctx, pol.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete policy in use: %v, want ErrInUse", err)
	}
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	full, err := d.CommitPoint(ctx, Point{ItemID: it.ID, Kind: "full", Blobs: []string{"c/a.bak"}, StartTime: t0, EndTime: t0.Add(time.Minute),
		FirstLSN: "35000000010000001", LastLSN: "35000000020000001", CheckpointLSN: "35000000015000001", DatabaseBackupLSN: "0"})
	if err != nil {
		t.Fatal(err)
	}
	d.CommitPoint(ctx, Point{ItemID: it.ID, Kind: "log", Blobs: []string{"c/b.trn"}, StartTime: t0.Add(15 * time.Minute), EndTime: t0.Add(16 * time.Minute),
		FirstLSN: "35000000010000001", LastLSN: "35000000030000001", CheckpointLSN: "35000000015000001", DatabaseBackupLSN: "35000000015000001"})
	pts, _ := d.ListPoints(ctx, it.ID)
	if len(pts) != 2 || pts[0].ID != full.ID || pts[0].Blobs[0] != "c/a.bak" || pts[1].Kind != "log" {
		t.Fatalf("points = %+v", pts)
	}
	it, _ = d.ItemByID(ctx, it.ID)
	if it.LastFull == nil || !it.LastFull.Equal(t0.Add(time.Minute)) || it.LastLog == nil || it.LastDiff != nil {
		t.Fatalf("item last backups = %v %v %v", it.LastFull, it.LastDiff, it.LastLog)
	}
	d.SetItemState(ctx, it.ID, ItemStopped, nil)
	if err := d.DeletePolicy(ctx, pol.ID); err != nil {
		t.Fatalf("delete policy after stop: %v", err)
	}
	d.DeletePoints(ctx, []int64{full.ID})
	if pts, _ := d.ListPoints(ctx, it.ID); len(pts) != 1 {
		t.Fatalf("points after delete = %d", len(pts))
	}
}

func TestAlertsRaiseOnceAndResolve(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	for i := 0; i < 3; i++ {
		d.RaiseAlert(ctx, Alert{Code: "UserErrorInstanceUnreachable", Message: "down", ServerID: &s.ID})
	}
	as, _ := d.ListAlerts(ctx, 0)
	if len(as) != 1 || as[0].ResolvedAt != nil {
		t.Fatalf("alerts = %+v, want one open", as)
	}
	d.ResolveAlerts(ctx, s.ID, 0)
	as, _ = d.ListAlerts(ctx, 0)
	if as[0].ResolvedAt == nil {
		t.Fatal("alert not resolved")
	}
	d.RaiseAlert(ctx, Alert{Code: "UserErrorInstanceUnreachable", Message: "down again", ServerID: &s.ID})
	if as, _ = d.ListAlerts(ctx, 0); len(as) != 2 || as[0].ResolvedAt != nil {
		t.Fatalf("after recurrence = %+v, want a new open alert first", as)
	}
}

func TestJobLifecycle(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	j, _ := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "full"})
	if j.Status != JobQueued {
		t.Fatalf("new job status %s", j.Status)
	}
	if err := d.StartJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.StartJob(ctx, j.ID); err == nil {
		t.Fatal("a job started twice")
	}
	d.JobProgress(ctx, j.ID, 40, 1000)
	d.JobProgress(ctx, j.ID, 30, 900) // late, out-of-order report must not go backwards
	j, _ = d.JobByID(ctx, j.ID)
	if j.ProgressPercent != 40 || j.BytesTransferred != 1000 {
		t.Fatalf("progress = %d%% %d bytes", j.ProgressPercent, j.BytesTransferred)
	}
	d.FinishJob(ctx, j.ID, JobCompleted, "", "")
	j, _ = d.JobByID(ctx, j.ID)
	if j.Status != JobCompleted || j.ProgressPercent != 100 || j.EndedAt == nil {
		t.Fatalf("finished job = %+v", j)
	}
}
