package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// syncBuffer is a bytes.Buffer safe for the demo's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// runDemoUntil runs demo mode in dir until ready reports true about its
// catalog (read beside it, as WAL allows), then stops it as Ctrl-C would.
func runDemoUntil(t *testing.T, dir string, ready func(ctx context.Context, c *db.DB) (bool, string)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, []string{"--data", dir, "--addr", "127.0.0.1:0", "--log-format", "json"}, out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo ended with %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "sqlvault demo is running") {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start; it printed:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	catalog, err := db.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	why := ""
	for time.Now().Before(deadline) {
		var ok bool
		if ok, why = ready(ctx, catalog); ok {
			return out.String()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("demo not ready in time: %s", why)
	return ""
}

// TestDemoStartsAndResumes runs demo mode as a newcomer would: its
// instances, protected items and first full backups appear, SQLPROD02 shows
// the missing sysadmin membership; a second run reuses the data directory
// and its backups go on against the instances' new ports.
func TestDemoStartsAndResumes(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SQLVAULT_ADMIN_PASSWORD", "")
	var firstScans int
	out := runDemoUntil(t, dir, func(ctx context.Context, c *db.DB) (bool, string) {
		servers, _ := c.ListServers(ctx)
		items, _ := c.ListItems(ctx, db.ItemFilter{})
		done, _ := c.ListJobs(ctx, db.JobFilter{Operation: "backup", Status: db.JobCompleted})
		scans, _ := c.ListJobs(ctx, db.JobFilter{Operation: "rediscover", Status: db.JobCompleted})
		firstScans = len(scans)
		for _, s := range servers {
			if s.Name == "SQLPROD02" && s.StatusCode != "UserErrorSQLNoSysadminMembership" {
				return false, "SQLPROD02 status " + s.StatusCode
			}
		}
		// With the availability group, SQLPROD03, the group's listener and
		// its one group item too.
		groups, _ := c.ListAGs(ctx)
		return len(servers) == 2+2*len(groups) && len(items) == 3+len(groups) && len(done) >= 3, "servers, items or first backups missing"
	})
	if !strings.Contains(out, "admin / demo") {
		t.Errorf("demo did not print the login:\n%s", out)
	}

	// Again, in the same directory: nothing is seeded twice, and the servers
	// are reconnected to the instances' new ports and discovered again.
	runDemoUntil(t, dir, func(ctx context.Context, c *db.DB) (bool, string) {
		servers, _ := c.ListServers(ctx)
		items, _ := c.ListItems(ctx, db.ItemFilter{})
		groups, _ := c.ListAGs(ctx)
		if len(servers) != 2+2*len(groups) || len(items) != 3+len(groups) {
			return false, "the second run changed the catalog"
		}
		for _, s := range servers {
			if (s.Name == "SQLPROD01" || s.Name == demoListener) && s.Status != db.StatusHealthy {
				return false, s.Name + " is " + s.Status + " " + s.StatusCode
			}
		}
		scans, _ := c.ListJobs(ctx, db.JobFilter{Operation: "rediscover", Status: db.JobCompleted})
		return len(scans) > firstScans, "SQLPROD01 was not discovered again"
	})
}
