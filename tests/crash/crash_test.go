package crash

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// vaultPoints are the vault's kill points inside a backup's blob write;
// the last is the coordinator's, between a complete transfer and the
// catalog commit.
var backupPoints = []string{"after-pack", "after-index", "before-manifest", "after-manifest", "backup-before-commit"}

// suite is the state the crash cases share: one data directory, one
// instance, one protected database whose rows grow with every backup.
type suite struct {
	*server
	t        *testing.T
	in       *sqlsim.Instance
	itemID   int64
	serverID int64
	expected map[int64]int // recovery point id -> rows it holds
	killed   []int64       // jobs killed by a crash
	tried    []string      // kill points reached
}

// record notes the rows of every point not seen before: call it right
// after a backup completed, before changing the table.
func (c *suite) record(itemID int64, n int) {
	for _, p := range c.points(itemID) {
		if _, ok := c.expected[num(p, "id")]; !ok {
			c.expected[num(p, "id")] = n
		}
	}
}

// noPointOf fails if a killed job left a visible recovery point.
func (c *suite) noPointOf(itemID int64) {
	c.t.Helper()
	for _, p := range c.points(itemID) {
		if slices.Contains(c.killed, num(p, "job_id")) {
			c.t.Fatalf("recovery point %v of killed job %v is visible", p["id"], p["job_id"])
		}
	}
}

// restoreRows restores a point under a new name and counts its rows.
func (c *suite) restoreRows(itemID, pointID int64, name, table string) int {
	c.t.Helper()
	a := c.want(c.api("POST", "/api/v1/restores", map[string]any{"item_id": itemID, "recovery_point_id": pointID,
		"target": map[string]any{"mode": "alternate", "database_name": name}}), 202)
	c.mustComplete(a.Num("job_id"))
	return rows(c.t, sa(c.t, c.in), "["+name+"].dbo."+table)
}

// TestCrashConsistency kills the server at every named point and in the
// middle of a transfer; see the package comment for what must hold.
func TestCrashConsistency(t *testing.T) {
	started := time.Now()
	s := newServer(t, "crash.sqlvault.test")
	s.start("")
	in := s.sim(sqlsim.Config{})
	d := sa(t, in)
	exec1(t, d, "CREATE DATABASE [Sales]")
	exec1(t, d, "USE [Sales]; CREATE TABLE t (id int)")
	n := 0
	insert := func() {
		n++
		exec1(t, d, fmt.Sprintf("INSERT INTO Sales.dbo.t VALUES (%d)", n))
	}
	insert()

	reg := s.want(s.api("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": in.Port(),
		"username": "sa", "password": saPW, "encrypt": "disable"}), 201)
	s.mustComplete(reg.Num("discovery_job_id"))
	serverID := reg.Num("id")
	database := func(name string) int64 {
		for _, x := range s.want(s.api("GET", fmt.Sprintf("/api/v1/databases?server_id=%d", serverID), nil), 200).List("databases") {
			if m := x.(map[string]any); m["name"] == name {
				return num(m, "id")
			}
		}
		t.Fatalf("database %s not discovered", name)
		return 0
	}
	pol := s.want(s.api("POST", "/api/v1/policies", map[string]any{"name": "Daily",
		"full":      map[string]any{"frequency": "daily", "time": "22:00", "timezone": "UTC"},
		"log":       map[string]any{"enabled": true, "every_minutes": 15},
		"retention": map[string]any{"daily_days": 30, "log_days": 15}}), 201)
	item := s.want(s.api("POST", "/api/v1/items", map[string]any{"database_id": database("Sales"), "policy_id": pol.Num("id")}), 201)
	itemID := item.Num("id")
	s.mustComplete(item.Num("job_id"))
	c := &suite{server: s, t: t, in: in, itemID: itemID, serverID: serverID, expected: map[int64]int{}}
	c.record(itemID, n)
	// Backup now; the policy's own 15-minute log slot may have just queued
	// one (a run crossing :00, :15, :30 or :45), which is refused as
	// already running: wait for it, then ask again.
	backup := func(kind string) (int64, error) {
		for tries := 0; ; tries++ {
			a, err := s.try("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": kind})
			if err == nil && a.Status == 409 && a.Str("code") == "UserErrorOperationAlreadyInProgress" && tries < 300 {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if err == nil && a.Status != 202 {
				t.Fatalf("backup now = %s", a)
			}
			return a.Num("job_id"), err
		}
	}
	insert()
	j, _ := backup("log")
	s.mustComplete(j)
	c.record(itemID, n)

	// A kill inside each step of a backup's write, then a normal restart.
	for _, point := range backupPoints {
		s.stop()
		s.start(point)
		insert()
		j, err := backup("log")
		if err != nil {
			t.Fatalf("backup request at %s: %v (the kill came before the answer)", point, err)
		}
		s.waitCrash(point, 30*time.Second)
		c.tried = append(c.tried, point)
		s.start("")
		if point == "backup-before-commit" {
			// SQL Server finished this backup (and truncated its log):
			// the labelled blob becomes the point, or the chain breaks.
			if a := s.job(j); a.Str("status") != "completed" {
				t.Fatalf("job killed after its transfer = %s, want completed from the vault's labels", a)
			}
			c.record(itemID, n)
			if pts := s.points(itemID); num(pts[len(pts)-1], "job_id") != j {
				t.Fatalf("newest point %v is not job %d's", pts[len(pts)-1], j)
			}
		} else {
			c.killed = append(c.killed, j)
			c.noPointOf(itemID)
			s.interrupted(j)
			c.record(itemID, n)
		}
		c.noPointOf(itemID)
		// The whole chain (full and every log so far) still restores.
		pts := s.points(itemID)
		last := num(pts[len(pts)-1], "id")
		if got := c.restoreRows(itemID, last, "R_"+strings.ReplaceAll(point, "-", "_"), "t"); got != c.expected[last] {
			t.Fatalf("after a kill at %s, point %d restored %d rows, want %d", point, last, got, c.expected[last])
		}
	}

	// A kill in the middle of Put Block: a large database backs up through
	// a slow device and the server is killed while blocks arrive.
	if err := in.CreateSyntheticDatabase(context.Background(), "Big", 48<<20); err != nil {
		t.Fatal(err)
	}
	s.mustComplete(s.want(s.api("POST", fmt.Sprintf("/api/v1/servers/%d/rediscover", serverID), nil), 202).Num("job_id"))
	in.SetFault(sqlsim.Fault{DeviceDelay: 400 * time.Millisecond})
	big := s.want(s.api("POST", "/api/v1/items", map[string]any{"database_id": database("Big"), "policy_id": pol.Num("id")}), 201)
	bigID, bigJob := big.Num("id"), big.Num("job_id")
	deadline := time.Now().Add(30 * time.Second)
	for s.job(bigJob).Num("bytes_transferred") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the large backup never started transferring: %s", s.job(bigJob))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := s.job(bigJob); a.Str("status") != "in_progress" || a.Num("progress_percent") >= 100 {
		t.Fatalf("large backup at the kill = %s, want mid-transfer", a)
	}
	s.kill()
	in.SetFault(sqlsim.Fault{})
	c.killed = append(c.killed, bigJob)
	c.tried = append(c.tried, "SIGKILL mid Put Block")
	s.start("")
	c.noPointOf(bigID)
	s.interrupted(bigJob)
	if pts := s.points(bigID); len(pts) != 1 {
		t.Fatalf("Big has %d points after the retried full, want 1", len(pts))
	}

	// A kill between two links of a restore; the retry restores the chain.
	pts := s.points(itemID)
	last := num(pts[len(pts)-1], "id")
	s.stop()
	s.start("restore-between-links")
	a, err := s.try("POST", "/api/v1/restores", map[string]any{"item_id": itemID, "recovery_point_id": last,
		"target": map[string]any{"mode": "alternate", "database_name": "Sales_between"}})
	if err != nil || a.Status != 202 {
		t.Fatalf("restore request: %v %s", err, a)
	}
	s.waitCrash("restore-between-links", 30*time.Second)
	c.tried = append(c.tried, "restore-between-links")
	s.start("")
	s.interrupted(a.Num("job_id"))
	if got := rows(t, d, "Sales_between.dbo.t"); got != c.expected[last] {
		t.Fatalf("restore retried after a kill between links holds %d rows, want %d", got, c.expected[last])
	}

	// Retention and GC: a copy-only full of Sales runs at the same time as
	// the first full of another database (a slow device makes them
	// overlap, so their new chunks share a pack); the copy-only is then
	// soft-deleted as if 30 days ago, and a retention job purges it and
	// collects its data (dropping dead packs, repacking the shared one),
	// killed at each point on the way.
	exec1(t, d, "CREATE DATABASE [Other]")
	exec1(t, d, "USE [Other]; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3), (4)")
	s.mustComplete(s.want(s.api("POST", fmt.Sprintf("/api/v1/servers/%d/rediscover", serverID), nil), 202).Num("job_id"))
	insert()
	in.SetFault(sqlsim.Fault{DeviceDelay: 300 * time.Millisecond})
	other := s.want(s.api("POST", "/api/v1/items", map[string]any{"database_id": database("Other"), "policy_id": pol.Num("id")}), 201)
	otherID := other.Num("id")
	j, _ = backup("copy_only_full")
	s.mustComplete(other.Num("job_id"))
	s.mustComplete(j)
	in.SetFault(sqlsim.Fault{})
	c.record(itemID, n)
	c.record(otherID, 4)
	pts = s.points(itemID)
	doomed := num(pts[len(pts)-1], "id")
	insert()
	j, _ = backup("log")
	s.mustComplete(j)
	c.record(itemID, n)
	s.stop()
	ctx := context.Background()
	catalog, err := db.Open(ctx, s.data)
	if err != nil {
		t.Fatal(err)
	}
	catalog.SetClock(func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) })
	if err := catalog.SoftDeletePoints(ctx, []int64{doomed}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.CreateJob(ctx, db.NewJob{Operation: "retention"}); err != nil {
		t.Fatal(err)
	}
	catalog.Close()
	delete(c.expected, doomed)
	for _, point := range []string{"retention-before-purge-rows", "gc-after-index-delete", "gc-after-repack-write"} {
		s.run(point) // the queued (or retried) retention job runs at start
		s.waitCrash(point, 30*time.Second)
		c.tried = append(c.tried, point)
	}
	s.start("")
	ret := s.jobs("operation=retention")
	if len(ret) < 4 {
		t.Fatalf("retention jobs = %v, want the first and three retries", ret)
	}
	for _, r := range ret[1:] {
		if e, _ := r["error"].(map[string]any); r["status"] != "failed" || e["code"] != "UserErrorInterrupted" {
			t.Fatalf("killed retention job = %v, want failed with UserErrorInterrupted", r)
		}
	}
	s.mustComplete(num(ret[0], "id"))
	for _, p := range s.points(itemID) {
		if num(p, "id") == doomed {
			t.Fatalf("purged point %d still listed", doomed)
		}
	}

	// Every point committed before any kill still restores with its rows.
	restored := 0
	for _, item := range []int64{itemID, otherID} {
		for _, p := range s.points(item) {
			id := num(p, "id")
			want, ok := c.expected[id]
			if !ok {
				t.Fatalf("point %v appeared from nowhere: %v", id, p)
			}
			if got := c.restoreRows(item, id, fmt.Sprintf("Final_%d", id), "t"); got != want {
				t.Errorf("point %d (%s) restored %d rows, want %d", id, p["type"], got, want)
			}
			restored++
		}
	}
	bp := s.points(bigID)
	s.mustComplete(s.want(s.api("POST", "/api/v1/restores", map[string]any{"item_id": bigID, "recovery_point_id": num(bp[0], "id"),
		"target": map[string]any{"mode": "alternate", "database_name": "Big_final"}}), 202).Num("job_id"))
	restored++

	s.stop()
	out, err := s.vault("verify")
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("vault verify after the crashes: %v\n%s", err, out)
	}
	list, _ := s.vault("list")
	var leftovers []string
	for _, j := range c.killed {
		// Containers are job-ID-RANDOM (job-ID before migration 7).
		if strings.Contains(list, fmt.Sprintf("job-%d-", j)) || strings.Contains(list, fmt.Sprintf("job-%d/", j)) {
			leftovers = append(leftovers, fmt.Sprintf("job-%d", j))
		}
	}
	t.Logf("kill points tried: %d (%s); points restored at the end: %d; vault blobs of killed jobs still listed: %v; %.1fs",
		len(c.tried), strings.Join(c.tried, ", "), restored, leftovers, time.Since(started).Seconds())
}
