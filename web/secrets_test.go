package web

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/sqlsim"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) Bytes() []byte               { s.mu.Lock(); defer s.mu.Unlock(); return bytes.Clone(s.b.Bytes()) }

// TestSecretsNeverShow runs a full scenario (register with a password,
// discover, protect, full and log backups, restore, every portal page and
// API list) with debug logging, then looks for the SQL password and the
// vault passphrase in the log, every answer, the SQLite files and the
// vault's objects: they are never there. Nor is a device SAS signature
// in the log.
func TestSecretsNeverShow(t *testing.T) {
	const sqlPW = "Svc-S3cret-Pw!9"
	const passphrase = "vault passphrase 7f3a9c"
	ctx := context.Background()
	dataDir := t.TempDir()
	catalog, err := db.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	hash, _ := auth.HashPassword("admin-pw")
	catalog.CreateUser(ctx, "admin", hash, db.RoleAdmin)
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vaultDir := t.TempDir()
	b, _ := vault.NewDirBackend(vaultDir)
	v, err := vault.Create(ctx, b, []byte(passphrase), vault.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	name := "secrets.sqlvault.test"
	dev, err := vdi.New(vdi.Config{Name: name, CertDir: t.TempDir(), Store: vdi.VaultStore{V: v}, Key: bytes.Repeat([]byte{5}, 32), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	dev.Listening(l)
	go dev.Serve(l)
	t.Cleanup(func() { dev.Shutdown(ctx); v.Close() })
	box, _ := secret.New(bytes.Repeat([]byte{3}, 32))
	coord := coordinator.New(coordinator.Config{DB: catalog, Vault: v, Device: dev, DeviceName: name, Secrets: box, Logger: log, Poll: 20 * time.Millisecond})
	if err := coord.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coord.Stop)
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}
	hs := httptest.NewServer(New(Config{Handlers: h, DB: catalog, Logger: log}).Handler())
	t.Cleanup(hs.Close)
	ts := &testServer{Server: hs, db: catalog, coord: coord}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dev.CACertPEM())
	port := l.Addr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	var devPort int
	fmt.Sscan(p, &devPort)
	sim, err := sqlsim.Start(ctx, sqlsim.Config{SAPassword: "Sa-Passw0rd!", DataDir: t.TempDir(), TrustCA: pool,
		Hosts: map[string]string{name: "127.0.0.1"}, AllowedDevicePort: devPort,
		Logins: []sqlsim.Login{{Name: "svc", Password: sqlPW, Sysadmin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sa := saDB(t, sim)
	simExec(t, sa, "CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")

	admin := ts.client(t, db.RoleAdmin)
	var answers [][]byte
	keep := func(a answer) answer { answers = append(answers, a.raw); return a }
	reg := keep(admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": sim.Port(),
		"username": "svc", "password": sqlPW, "encrypt": "disable"}), 201))
	admin.mustComplete(reg.num("discovery_job_id"))
	// A wrong password's error must not echo what was typed either.
	keep(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL02", "host": "127.0.0.1", "port": sim.Port(),
		"username": "svc", "password": sqlPW + "x", "encrypt": "disable"}))
	dbs := keep(admin.want(admin.do("GET", "/api/v1/databases", nil), 200))
	sales := find(t, dbs.list("databases"), "name", "Sales")
	pol := keep(admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Daily")), 201))
	item := keep(admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": pol.num("id")}), 201))
	keep(admin.mustComplete(item.num("job_id")))
	lg := keep(admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", item.num("id")), map[string]any{"type": "log"}), 202))
	keep(admin.mustComplete(lg.num("job_id")))
	pts := keep(admin.want(admin.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", item.num("id")), nil), 200)).list("recovery_points")
	last := num(pts[len(pts)-1].(map[string]any), "id")
	rs := keep(admin.want(admin.do("POST", "/api/v1/restores", map[string]any{"item_id": item.num("id"), "recovery_point_id": last,
		"target": map[string]any{"mode": "alternate", "database_name": "Sales_copy"}}), 202))
	keep(admin.mustComplete(rs.num("job_id")))
	for _, path := range []string{"/api/v1/servers", fmt.Sprintf("/api/v1/servers/%d", reg.num("id")), "/api/v1/items", "/api/v1/jobs?limit=200",
		"/api/v1/alerts", fmt.Sprintf("/api/v1/items/%d/recovery-points", item.num("id")), fmt.Sprintf("/api/v1/servers/%d/permission-script", reg.num("id"))} {
		keep(admin.do("GET", path, nil))
	}
	s := signedIn(t, ts, "admin")
	pages := []string{"/", "/servers", "/items", "/policies", "/jobs", "/alerts", "/restore",
		fmt.Sprintf("/servers/%d/databases", reg.num("id")), fmt.Sprintf("/items/%d", item.num("id"))}
	for id := int64(1); id <= rs.num("job_id")+1; id++ {
		pages = append(pages, fmt.Sprintf("/jobs/%d", id))
	}
	for _, path := range pages {
		r, err := s.c.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, r)
		if r.StatusCode >= 500 {
			t.Errorf("%s = %d", path, r.StatusCode)
		}
		answers = append(answers, []byte(b))
	}

	secrets := map[string]string{"the SQL password": sqlPW, "the vault passphrase": passphrase}
	for what, sec := range secrets {
		if bytes.Contains(logs.Bytes(), []byte(sec)) {
			t.Errorf("the server log shows %s", what)
		}
		for i, a := range answers {
			if bytes.Contains(a, []byte(sec)) {
				t.Errorf("answer %d shows %s: %.300s", i, what, a)
			}
		}
	}
	if bytes.Contains(logs.Bytes(), []byte("sig=")) {
		i := bytes.Index(logs.Bytes(), []byte("sig="))
		t.Errorf("the server log shows a device SAS signature: %.200s", logs.Bytes()[max(0, i-100):])
	}
	coord.Stop()
	files := 0
	for _, dir := range []string{dataDir, vaultDir} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(path)
			files++
			for what, sec := range secrets {
				if bytes.Contains(data, []byte(sec)) {
					t.Errorf("%s holds %s in clear", path, what)
				}
			}
			return nil
		})
	}
	if files < 3 || len(answers) < 20 {
		t.Fatalf("only %d files and %d answers searched", files, len(answers))
	}
	if n := count(t, sa, "Sales_copy.dbo.t"); n != 1 {
		t.Errorf("restored %d rows", n)
	}
}
