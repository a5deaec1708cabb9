package main

import (
	"bytes"
	"context"
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

// TestDemoStarts runs demo mode as a newcomer would and checks that its
// instances, protected items and first full backups appear, and that
// SQLPROD02 shows the missing sysadmin membership.
func TestDemoStarts(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	t.Setenv("SQLVAULT_ADMIN_PASSWORD", "")
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
	var catalog *db.DB
	for catalog == nil && time.Now().Before(deadline) {
		if bytes.Contains([]byte(out.String()), []byte("sqlvault demo is running")) {
			c, err := db.Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			catalog = c
			defer c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if catalog == nil {
		t.Fatalf("demo did not start; it printed:\n%s", out.String())
	}
	for time.Now().Before(deadline) {
		servers, _ := catalog.ListServers(ctx)
		items, _ := catalog.ListItems(ctx, db.ItemFilter{})
		done, _ := catalog.ListJobs(ctx, db.JobFilter{Operation: "backup", Status: db.JobCompleted})
		if len(servers) == 2 && len(items) == 3 && len(done) >= 3 {
			for _, s := range servers {
				if s.Name == "SQLPROD02" && s.StatusCode != "UserErrorSQLNoSysadminMembership" {
					t.Errorf("SQLPROD02 status = %s %s", s.Status, s.StatusCode)
				}
			}
			if !bytes.Contains([]byte(out.String()), []byte("admin / demo")) {
				t.Errorf("demo did not print the login:\n%s", out.String())
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	servers, _ := catalog.ListServers(ctx)
	items, _ := catalog.ListItems(ctx, db.ItemFilter{})
	t.Fatalf("demo: %d servers, %d items, first backups not done in time", len(servers), len(items))
}
