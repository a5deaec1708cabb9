package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/handlers"
)

// The big catalog: what a large installation holds after two months.
const (
	bigServers       = 20
	bigPointsPerItem = 30
	bigJobs          = 1000000
	bigJobDays       = 60
	bigAlerts        = 300
)

// bigDatabases is how many databases (each a protected item) the 20
// servers hold: 1,000 unless SQLVAULT_BENCH_ITEMS says otherwise (the
// portal-at-scale figures use 10,000).
var bigDatabases = func() int {
	if n, err := strconv.Atoi(os.Getenv("SQLVAULT_BENCH_ITEMS")); err == nil && n >= bigServers {
		return n / bigServers * bigServers
	}
	return 1000
}()

var bigCatalog struct {
	once sync.Once
	dir  string
	keep bool // SQLVAULT_BENCH_CATALOG: not removed at the end
	now  time.Time
	err  error
}

// seedBigCatalog builds the big catalog once per test binary run, in a
// temporary directory removed when the run ends (see cleanupBigCatalog).
func seedBigCatalog(b *testing.B) (string, time.Time) {
	b.Helper()
	bigCatalog.once.Do(func() {
		start := time.Now()
		bigCatalog.now = start.UTC()
		// SQLVAULT_BENCH_CATALOG=DIR keeps the catalog in DIR and reuses it
		// in later runs (its times then age: RPOs grow).
		if keep := os.Getenv("SQLVAULT_BENCH_CATALOG"); keep != "" {
			if _, err := os.Stat(filepath.Join(keep, db.FileName)); err == nil {
				bigCatalog.keep = true
				bigCatalog.dir = keep
				return
			}
			bigCatalog.keep = true
			bigCatalog.dir, bigCatalog.err = keep, os.MkdirAll(keep, 0o700)
		} else {
			bigCatalog.dir, bigCatalog.err = os.MkdirTemp("", "sqlvault-bigcatalog-")
		}
		if bigCatalog.err == nil {
			bigCatalog.err = writeBigCatalog(bigCatalog.dir, bigCatalog.now)
		}
		b.Logf("seeded the big catalog (%d servers, %d items, %d points, %d jobs, %d alerts) in %s",
			bigServers, bigDatabases, bigDatabases*bigPointsPerItem, bigJobs, bigAlerts, time.Since(start).Round(time.Millisecond))
	})
	if bigCatalog.err != nil {
		b.Fatal(bigCatalog.err)
	}
	return bigCatalog.dir, bigCatalog.now
}

func writeBigCatalog(dir string, now time.Time) error {
	ctx := context.Background()
	// The schema (every migration) and what goes through the catalog's own
	// methods: users and policies.
	catalog, err := db.Open(ctx, dir)
	if err != nil {
		return err
	}
	hash, _ := auth.HashPassword("admin-pw")
	if _, err := catalog.CreateUser(ctx, "admin", hash, db.RoleAdmin); err != nil {
		return err
	}
	pols := []policy.Policy{
		{Name: "Gold", Full: policy.FullSchedule{Frequency: "daily", Time: "01:00", Timezone: "UTC"},
			Differential: policy.DiffSchedule{}, Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15},
			Retention: policy.Retention{DailyDays: 30, WeeklyWeeks: 12, LogDays: 14}},
		{Name: "Silver", Full: policy.FullSchedule{Frequency: "weekly", Days: []string{"sunday"}, Time: "02:00", Timezone: "UTC"},
			Differential: policy.DiffSchedule{Enabled: true, Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}, Time: "02:00"},
			Log:          policy.LogSchedule{Enabled: true, EveryMinutes: 30}, Retention: policy.Retention{DailyDays: 30, WeeklyWeeks: 8, DifferentialDays: 14, LogDays: 7}},
		{Name: "Bronze", Full: policy.FullSchedule{Frequency: "daily", Time: "03:00", Timezone: "UTC"},
			Log: policy.LogSchedule{Enabled: true, EveryMinutes: 60}, Retention: policy.Retention{DailyDays: 14}},
	}
	for _, p := range pols {
		p.Defaults()
		if err := p.Validate(); err != nil {
			return fmt.Errorf("policy %s: %w", p.Name, err)
		}
		body, _ := json.Marshal(p)
		if _, err := catalog.CreatePolicy(ctx, p.Name, string(body)); err != nil {
			return err
		}
	}
	path := catalog.Path()
	if err := catalog.Close(); err != nil {
		return err
	}

	// The bulk of it in one transaction, generated inside SQLite.
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=foreign_keys(0)&_pragma=cache_size(-262144)")
	if err != nil {
		return err
	}
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	nowMS := now.UnixMilli()
	const minute, hour, day = int64(60000), int64(3600000), int64(86400000)
	perServer := bigDatabases / bigServers
	stmts := []string{
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO servers (id, name, host, port, username, password_enc, status, version, edition, discovered_at, created_at)
		SELECT i, printf('sql%%02d.corp.example', i), printf('10.0.0.%%d', i), 1433, 'sqlvault', x'00',
			CASE WHEN i %% 7 = 0 THEN 'warning' ELSE 'healthy' END, '16.0.4135.4', 'Enterprise Edition',
			%d - %d, %d - 90 * %d FROM n`, bigServers, nowMS, hour, nowMS, day),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO databases (id, server_id, name, database_guid, state, recovery_model, compatibility_level, size_bytes, discovered_at)
		SELECT i, (i - 1) / %d + 1, printf('app%%04d_%%s', i, CASE i %% 4 WHEN 0 THEN 'Sales' WHEN 1 THEN 'Orders' WHEN 2 THEN 'Hr' ELSE 'Ledger' END),
			printf('%%08X-0000-0000-0000-%%012d', i, i), 'ONLINE', CASE WHEN i %% 10 = 0 THEN 'SIMPLE' ELSE 'FULL' END, 160,
			(i %% 97 + 1) * 1073741824, %d - %d FROM n`, bigDatabases, perServer, nowMS, hour),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO items (id, database_id, policy_id, state, created_at)
		SELECT i, i, (i - 1) %% 3 + 1, CASE WHEN i %% 50 = 25 THEN 'stopped' ELSE 'protected' END, %d - 90 * %d FROM n`,
			bigDatabases, nowMS, day),
		// 30 points per item, 15 minutes apart: a full, differentials at 10
		// and 20, logs between, chained by LSN; every 50th item is two days
		// behind (its RPO breached).
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d - 1),
		p AS (SELECT i / %d + 1 AS item, i %% %d AS k,
			%d - CASE WHEN (i / %d + 1) %% 50 = 0 THEN 2 * %d ELSE 5 * %d END - (%d - 1 - i %% %d) * 15 * %d AS end_time FROM n)
		INSERT INTO recovery_points (item_id, kind, blobs, start_time, end_time, first_lsn, last_lsn, checkpoint_lsn,
			database_backup_lsn, differential_base_lsn, size_bytes, stored_bytes, expires_at, created_at, database_guid)
		SELECT item, CASE WHEN k = 0 THEN 'full' WHEN k %% 10 = 0 THEN 'differential' ELSE 'log' END,
			printf('["job-%%d/%%d.bak"]', item, k),
			end_time - CASE WHEN k = 0 THEN 300000 ELSE 5000 END, end_time,
			CAST(CASE WHEN k = 0 OR k %% 10 = 0 THEN 1000000 + k * 1000
				WHEN (k - 1) %% 10 = 0 AND k > 1 THEN 1000000 + (k - 1) * 1000 ELSE 1000000 + k * 1000 END AS TEXT),
			CAST(1000000 + (k + 1) * 1000 AS TEXT),
			CAST(CASE WHEN k = 0 OR k %% 10 = 0 THEN 1000000 + k * 1000 ELSE 1000000 END AS TEXT),
			'1000000', CASE WHEN k %% 10 = 0 AND k > 0 THEN '1000000' ELSE '' END,
			CASE WHEN k = 0 THEN 8589934592 WHEN k %% 10 = 0 THEN 1073741824 ELSE 67108864 END,
			CASE WHEN k = 0 THEN 2147483648 WHEN k %% 10 = 0 THEN 268435456 ELSE 16777216 END,
			end_time + 30 * %d, end_time, printf('%%08X-0000-0000-0000-%%012d', item, item) FROM p`,
			bigDatabases*bigPointsPerItem, bigPointsPerItem, bigPointsPerItem, nowMS, bigPointsPerItem, day, minute,
			bigPointsPerItem, bigPointsPerItem, minute, day),
		// A million jobs over 60 days, oldest first: mostly log backups,
		// some differentials and fulls, retention, verify, restores and
		// rediscoveries; 2 %% failed, 0.5 %% cancelled, the newest few
		// running or queued.
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %[1]d),
		g AS (SELECT i, ((i * 2654435761) >> 9) %% 1000 AS r, ((i * 2246822519) >> 11) %% 100 AS r2, ((i * 3266489917) >> 13) %% 1000 AS s,
			%[2]d - %[3]d * %[4]d + i * (%[3]d * %[4]d / %[1]d) AS created, (i * 31) %% %[5]d + 1 AS item FROM n),
		h AS (SELECT i, created, item,
			CASE WHEN r < 940 THEN 'backup' WHEN r < 970 THEN 'retention' WHEN r < 985 THEN 'verify' WHEN r < 995 THEN 'restore' ELSE 'rediscover' END AS op,
			CASE WHEN r >= 940 THEN '' WHEN r2 < 85 THEN 'log' WHEN r2 < 95 THEN 'differential' ELSE 'full' END AS kind,
			CASE WHEN i > %[1]d - 3 THEN 'in_progress' WHEN i > %[1]d - 8 THEN 'queued' WHEN s < 20 THEN 'failed' WHEN s < 25 THEN 'cancelled' ELSE 'completed' END AS status,
			CASE WHEN r2 < 85 THEN 4000 WHEN r2 < 95 THEN 40000 ELSE 200000 END AS dur FROM g),
		j AS (SELECT *, CASE WHEN op = 'restore' THEN (CASE i %% 3 WHEN 0 THEN 'alternate' WHEN 1 THEN 'original' ELSE 'files' END) ELSE kind END AS k2,
			CASE WHEN op IN ('backup', 'restore', 'verify') THEN item END AS item_id,
			CASE WHEN op IN ('backup', 'restore') THEN (item - 1) / %[6]d + 1 WHEN op = 'rediscover' THEN i %% %[7]d + 1 END AS server_id FROM h)
		INSERT INTO jobs (id, operation, kind, status, server_id, item_id, params, progress_percent, bytes_transferred, steps,
			error_code, error_message, attempt, created_at, started_at, ended_at)
		SELECT i, op, k2, status, server_id, CASE WHEN op = 'verify' THEN NULL ELSE item_id END,
			CASE WHEN op = 'restore' THEN printf('{"item_id":%%d,"recovery_point_id":0,"target":{"mode":"%%s","server_id":%%d,"database_name":"restored_%%d"}}', item_id, k2, server_id, i) ELSE '{}' END,
			CASE status WHEN 'completed' THEN 100 WHEN 'queued' THEN 0 ELSE 40 END,
			CASE WHEN op = 'backup' AND status != 'queued' THEN dur * 16384 ELSE 0 END,
			CASE WHEN status = 'queued' THEN '[]' ELSE printf('[{"name":"Connect to the instance","started_at":"%%s","ended_at":"%%s"},'
				|| '{"name":"Back up to the device","started_at":"%%s","ended_at":"%%s","detail":"%%d stripes"},'
				|| '{"name":"Commit the recovery point","started_at":"%%s","ended_at":"%%s"}]',
				strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', created / 1000, 'unixepoch'), strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', created / 1000 + 1, 'unixepoch'),
				strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', created / 1000 + 1, 'unixepoch'), strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (created + dur) / 1000, 'unixepoch'), 1 + i %% 4,
				strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (created + dur) / 1000, 'unixepoch'), strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (created + dur) / 1000 + 1, 'unixepoch')) END,
			CASE WHEN status = 'failed' THEN 'UserErrorInstanceUnreachable' ELSE '' END,
			CASE WHEN status = 'failed' THEN 'the instance did not answer within 30s' ELSE '' END,
			1, created, CASE WHEN status != 'queued' THEN created + 1000 END,
			CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN created + 1000 + dur END FROM j`,
			bigJobs, nowMS, bigJobDays, day, bigDatabases, perServer, bigServers),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO alerts (severity, code, message, server_id, item_id, created_at, resolved_at)
		SELECT CASE WHEN i %% 4 = 0 THEN 'warning' ELSE 'error' END,
			CASE WHEN i %% 4 = 0 THEN 'UserErrorRPOBreached' ELSE 'UserErrorInstanceUnreachable' END,
			printf('app%%04d: the instance did not answer within 30s', (i * 7) %% %d + 1),
			((i * 7) %% %d) / %d + 1, (i * 7) %% %d + 1, %d - i * 4 * %d,
			CASE WHEN i %% 3 = 0 THEN NULL ELSE %d - i * 4 * %d + %d END FROM n`,
			bigAlerts, bigDatabases, bigDatabases, perServer, bigDatabases, nowMS, hour, nowMS, hour, hour),
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("seed: %w\n%s", err, q)
		}
	}
	return tx.Commit()
}

// newBigServer is newTestServer over the big catalog: the real handler
// stack with a real coordinator, not started (its schedules would queue a
// thousand backups of instances that do not exist).
func newBigServer(b *testing.B, dir string) *testServer {
	b.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { catalog.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := enginetest.Start(b)
	box, _ := secret.New(make([]byte, 32))
	coord := coordinator.New(coordinator.Config{DB: catalog, Vault: env.Vault, Device: env.Device, DeviceName: env.DeviceName,
		Secrets: box, Logger: log})
	// What a started coordinator does first: store the seeded items' health.
	if err := coord.EnsureHealth(ctx); err != nil {
		b.Fatal(err)
	}
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}
	srv := New(Config{Handlers: h, DB: catalog, Logger: log})
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	return &testServer{Server: ts, db: catalog, env: env, coord: coord}
}

// signInTB signs in through the portal's form, for benchmarks.
func signInTB(tb testing.TB, ts *testServer, c *http.Client, user, pw string) {
	tb.Helper()
	r, err := c.Get(ts.URL + "/login")
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := csrfField.FindStringSubmatch(string(b))
	if m == nil {
		tb.Fatal("login form has no CSRF token")
	}
	r, err = c.PostForm(ts.URL+"/login", url.Values{"_csrf": {m[1]}, "username": {user}, "password": {pw}, "next": {"/"}})
	if err != nil {
		tb.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		tb.Fatalf("sign-in = %d", r.StatusCode)
	}
}

// BenchmarkBigCatalog renders every portal page over a catalog of 1,000
// items and 1,000,000 jobs:
//
//	go test ./web -run '^$' -bench BigCatalog -benchtime 20x
func BenchmarkBigCatalog(b *testing.B) {
	dir, _ := seedBigCatalog(b)
	ts := newBigServer(b, dir)
	c := browser(nil)
	signInTB(b, ts, c, "admin", "admin-pw")
	ctx := context.Background()
	find := func(f db.JobFilter, kind string) int64 {
		f.Limit = 100
		jobs, err := ts.db.ListJobs(ctx, f)
		for _, j := range jobs {
			if kind == "" || j.Kind == kind {
				return j.ID
			}
		}
		b.Fatalf("no job for %+v %s: %v", f, kind, err)
		return 0
	}
	backupJob := find(db.JobFilter{Operation: "backup", Status: db.JobCompleted}, "full")
	restoreJob := find(db.JobFilter{Operation: "restore", Status: db.JobCompleted}, "alternate")
	failedJob := find(db.JobFilter{Status: db.JobFailed}, "")
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"servers", "/servers"},
		{"items", "/items"},
		{"items_breached", "/items?health=rpo_breached"},
		{"items_page10", "/items?offset=500"},
		{"item", "/items/500"},
		{"item_all_points", "/items/500?points=all"},
		{"policies", "/policies"},
		{"jobs", "/jobs"},
		{"jobs_failed", "/jobs?status=failed"},
		{"jobs_restore", "/jobs?operation=restore"},
		{"jobs_item", "/jobs?item_id=500"},
		{"jobs_item_failed", "/jobs?item_id=500&status=failed"},
		{"jobs_24h_failed_backup", "/jobs?since=24h&status=failed&operation=backup"},
		{"jobs_older", fmt.Sprintf("/jobs?before=%d", bigJobs/2)},
		{"jobs_table", "/jobs?status=failed&operation=backup"}, // as htmx refreshes it
		{"job_backup", fmt.Sprintf("/jobs/%d", backupJob)},
		{"job_restore", fmt.Sprintf("/jobs/%d", restoreJob)},
		{"job_failed", fmt.Sprintf("/jobs/%d", failedJob)},
		{"restore", "/restore"},
		{"restore_item", "/restore?item=500"},
		{"alerts", "/alerts"},
		{"alerts_open", "/alerts?show=open"},
		{"items_search", "/items?q=Sales"},
		{"items_server", "/items?server=7"},
		{"items_server_policy_breached", "/items?server=7&policy=1&health=rpo_breached"},
		{"reports", "/reports"},
		{"reports_server", "/reports?server_id=7"},
		{"reports_items_csv", "/api/v1/reports/items?format=csv"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", ts.URL+p.path, nil)
			if p.name == "jobs_table" {
				req.Header.Set("HX-Request", "true")
				req.Header.Set("HX-Target", "jobs-table")
			}
			var n int
			for b.Loop() {
				r, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode != 200 {
					b.Fatalf("%s = %d: %.500s", p.path, r.StatusCode, body)
				}
				n = len(body)
			}
			b.ReportMetric(float64(n)/1024, "KiB/page")
		})
	}
}

// TestMain removes the big catalog, if a benchmark seeded one, when the run
// ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigCatalog.dir != "" && !bigCatalog.keep {
		os.RemoveAll(bigCatalog.dir)
	}
	os.Exit(code)
}
