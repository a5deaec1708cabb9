package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/web"
)

// `sqlvault restore --as-files` against a running server: it queues the
// export, downloads every file and writes a restore.sql that, run on the
// instance, brings the database back with its rows.
func TestRestoreAsFilesCommand(t *testing.T) {
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	log := slog.New(slog.DiscardHandler)
	env := enginetest.Start(t)
	coord := env.Coordinator(catalog, nil)
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}
	ts := httptest.NewServer(web.New(web.Config{Handlers: h, DB: catalog, Logger: log}).Handler())
	t.Cleanup(ts.Close)

	const pw = "Str0ng!Passw0rd"
	sim := env.StartSim(env.SimConfig(pw))
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", pw, sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE Sales")
	exec("USE Sales; CREATE TABLE t (id int)")
	exec("INSERT INTO Sales.dbo.t VALUES (1), (2)")

	wait := func(id int64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if j, err := catalog.JobByID(ctx, id); err == nil && (j.Status == db.JobCompleted || j.Status == db.JobFailed) {
				if j.Status != db.JobCompleted {
					t.Fatalf("job %d: %s %s", id, j.ErrorCode, j.ErrorMessage)
				}
				return
			}
		}
		t.Fatalf("job %d did not end", id)
	}
	srv, job, err := coord.RegisterServer(ctx, coordinator.ServerInput{Name: "SQL01", Host: "127.0.0.1", Port: sim.Port(), Username: "sa", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	wait(job)
	dbs, _ := catalog.ListDatabases(ctx, srv.ID)
	var sales db.Database
	for _, d := range dbs {
		if d.Name == "Sales" {
			sales = d
		}
	}
	pol, err := coord.CreatePolicy(ctx, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Retention: policy.Retention{DailyDays: 30}})
	if err != nil {
		t.Fatal(err)
	}
	it, job, err := coord.Protect(ctx, sales.ID, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	wait(job)
	points, _ := catalog.ListPoints(ctx, it.ID)
	token, _, err := catalog.CreateToken(ctx, "cli", db.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var out bytes.Buffer
	err = runRestore(ctx, []string{"--as-files", dir, "--item", fmt.Sprint(it.ID), "--recovery-point", fmt.Sprint(points[0].ID),
		"--token", token, "--server", ts.URL}, &out)
	if err != nil {
		t.Fatalf("restore --as-files: %v\n%s", err, out.String())
	}
	script, err := os.ReadFile(filepath.Join(dir, "restore.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range points[0].Blobs {
		name := filepath.Join(dir, f[strings.Index(f, "/")+1:])
		if st, err := os.Stat(name); err != nil || st.Size() == 0 || !strings.Contains(string(script), name) {
			t.Fatalf("file %s: %v (script names it: %v)\n%s", name, err, strings.Contains(string(script), name), script)
		}
	}

	// The files and the script restore the rows (sqlsim reads DISK = paths).
	exec("DROP DATABASE Sales")
	for _, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(line, "RESTORE ") {
			exec(line)
		}
	}
	rows, err := conn.QueryContext(ctx, "SELECT id FROM Sales.dbo.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var id int
		rows.Scan(&id)
		got = append(got, id)
	}
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("restored from the files: %v, want [1 2]", got)
	}
}
