package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// TestOversizedBodyIs413JSON: an API body over the 1 MiB limit answers
// 413 with the JSON error shape, and the server goes on serving.
func TestOversizedBodyIs413JSON(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	a := admin.do("POST", "/api/v1/policies", big)
	if a.status != http.StatusRequestEntityTooLarge || a.str("code") == "" || a.str("message") == "" || a.str("action") == "" {
		t.Fatalf("2 MiB body = %s, want 413 JSON error", a.String()[:min(300, len(a.String()))])
	}
	if a := admin.do("GET", "/api/v1/policies", nil); a.status != 200 {
		t.Fatalf("after the oversized body: %s", a)
	}
}

// TestSlowLorisCannotExhaustPortal opens 200 connections that send their
// headers one byte at a time. A normal request still answers at once, and
// the server drops every slow connection after ReadHeaderTimeout.
func TestSlowLorisCannotExhaustPortal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const timeout = 1500 * time.Millisecond
	srv := New(Config{Handlers: &handlers.Handlers{DB: catalog, Logger: log}, DB: catalog, Logger: log, ReadHeaderTimeout: timeout})
	l := listen(t)
	go srv.Serve(ctx, l)
	addr := l.Addr().String()

	const n = 200
	var wg sync.WaitGroup
	closedAt := make([]time.Duration, n)
	start := time.Now()
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "))
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			done := make(chan struct{})
			go func() { // one header byte every 200 ms, never finishing
				t := time.NewTicker(200 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						if _, err := c.Write([]byte("a")); err != nil {
							return
						}
					}
				}
			}()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c) // returns when the server closes
			close(done)
			closedAt[i] = time.Since(start)
		}()
	}

	// With all of them open, a normal request answers promptly.
	hc := &http.Client{Timeout: 3 * time.Second}
	for k := 0; k < 5; k++ {
		t0 := time.Now()
		r, err := hc.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("healthz with %d slow connections open: %v", n, err)
		}
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		r.Body.Close()
		if r.StatusCode != 200 || m["status"] != "ok" {
			t.Fatalf("healthz = %d %v", r.StatusCode, m)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("healthz took %v with %d slow connections open", d, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	var worst time.Duration
	for i, d := range closedAt {
		if d == 0 || d > timeout+5*time.Second {
			t.Fatalf("slow connection %d was not dropped (closed after %v)", i, d)
		}
		worst = max(worst, d)
	}
	t.Logf("%d slow connections, all dropped within %v (ReadHeaderTimeout %v)", n, worst.Round(time.Millisecond), timeout)
}
