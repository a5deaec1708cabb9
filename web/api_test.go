package web

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// apiClient calls the JSON API with one bearer token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	m      map[string]any
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.raw) }

// str, num, list and obj read a field of a JSON answer.
func (a answer) str(k string) string       { s, _ := a.m[k].(string); return s }
func (a answer) num(k string) int64        { return num(a.m, k) }
func (a answer) list(k string) []any       { l, _ := a.m[k].([]any); return l }
func num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

func (ts *testServer) client(t *testing.T, role db.Role) *apiClient {
	t.Helper()
	tok, _, err := ts.db.CreateToken(context.Background(), "test-"+string(role), role)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: ts.URL, token: tok}
}

// do sends body (a string is sent as is, anything else as JSON).
func (c *apiClient) do(method, path string, body any) answer {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	a := answer{status: r.StatusCode, header: r.Header}
	a.raw, _ = io.ReadAll(r.Body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(a.raw, &a.m)
	}
	return a
}

// want fails unless the answer has the status (and, for errors, the code
// and the field).
func (c *apiClient) want(a answer, status int, codeAndField ...string) answer {
	c.t.Helper()
	if a.status != status {
		c.t.Fatalf("got %s, want status %d", a, status)
	}
	if len(codeAndField) > 0 && a.str("code") != codeAndField[0] {
		c.t.Fatalf("got %s, want code %s", a, codeAndField[0])
	}
	if len(codeAndField) > 1 && a.str("field") != codeAndField[1] {
		c.t.Fatalf("got %s, want field %q", a, codeAndField[1])
	}
	if status >= 400 && (a.str("message") == "" || a.str("action") == "") {
		c.t.Fatalf("error without message or action: %s", a)
	}
	return a
}

// waitJob polls a job until it ends, within a deadline.
func (c *apiClient) waitJob(id int64) answer {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := c.want(c.do("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil), 200)
		switch a.str("status") {
		case db.JobCompleted, db.JobFailed, db.JobCancelled:
			return a
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %d did not end in time: %s", id, a)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *apiClient) mustComplete(id int64) answer {
	c.t.Helper()
	a := c.waitJob(id)
	if a.str("status") != db.JobCompleted {
		c.t.Fatalf("job %d ended %s", id, a)
	}
	return a
}

// saDB opens the simulated instance as sa.
func saDB(t *testing.T, sim *sqlsim.Instance) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:Sa-Passw0rd!@127.0.0.1:%d?database=master&encrypt=disable", sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func simExec(t *testing.T, d *sql.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if _, err := d.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func count(t *testing.T, d *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

func utcTime(t *testing.T, m map[string]any, k string) time.Time {
	t.Helper()
	s, _ := m[k].(string)
	if !rfc3339UTC.MatchString(s) {
		t.Fatalf("%s = %q, want an RFC 3339 UTC time", k, s)
	}
	v, _ := time.Parse(time.RFC3339Nano, s)
	return v
}

func find(t *testing.T, list []any, key string, value any) map[string]any {
	t.Helper()
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m[key] == value {
			return m
		}
	}
	t.Fatalf("no element with %s = %v in %v", key, value, list)
	return nil
}

// goodPolicy is a daily full with 15-minute logs.
func goodPolicy(name string) map[string]any {
	return map[string]any{
		"name":      name,
		"full":      map[string]any{"frequency": "daily", "time": "22:00", "timezone": "UTC"},
		"log":       map[string]any{"enabled": true, "every_minutes": 15},
		"retention": map[string]any{"daily_days": 30, "log_days": 15},
	}
}

// TestAPIBackupAndRestoreEndToEnd drives what a user does over the API:
// register an instance (its mistakes named by field), discover its
// databases, create a policy, protect a database, back up its log now,
// read the recovery points, log ranges and the restore plan, restore under
// a new name and as files, stop with deletion, undelete and resume.
func TestAPIBackupAndRestoreEndToEnd(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	sa := saDB(t, sim)
	simExec(t, sa, "CREATE DATABASE [Sales]", "USE [Sales]; CREATE TABLE orders (id int, amount int)",
		"INSERT INTO Sales.dbo.orders VALUES (1, 10), (2, 20), (3, 30)")
	admin, op, reader := ts.client(t, db.RoleAdmin), ts.client(t, db.RoleOperator), ts.client(t, db.RoleReader)

	// Registration failures name the field to fix and register nothing.
	srvBody := map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": sim.Port(), "username": "sa",
		"password": "wrong", "encrypt": "disable"}
	admin.want(admin.do("POST", "/api/v1/servers", srvBody), 422, "UserErrorSQLLoginFailed", "password")
	srvBody["port"] = closedPort(t)
	admin.want(admin.do("POST", "/api/v1/servers", srvBody), 422, "UserErrorInstanceUnreachable", "host")
	srvBody["port"], srvBody["password"] = sim.Port(), "Sa-Passw0rd!"
	srvBody["encrypt"] = "sometimes"
	admin.want(admin.do("POST", "/api/v1/servers", srvBody), 422, "UserErrorInvalidRequest", "encrypt")
	srvBody["encrypt"] = "disable"
	srvBody["pasword"] = "typo"
	admin.want(admin.do("POST", "/api/v1/servers", srvBody), 422, "UserErrorInvalidRequest", "pasword")
	delete(srvBody, "pasword")
	if l := reader.do("GET", "/api/v1/servers", nil).list("servers"); len(l) != 0 {
		t.Fatalf("failed registrations left servers: %v", l)
	}

	reg := admin.want(admin.do("POST", "/api/v1/servers", srvBody), 201)
	serverID := reg.num("id")
	if serverID == 0 || reg.str("status") != db.StatusHealthy || reg.str("status_code") != "" || reg.num("discovery_job_id") == 0 {
		t.Fatalf("registered server = %s", reg)
	}
	if bytes.Contains(reg.raw, []byte("Sa-Passw0rd!")) || bytes.Contains(reg.raw, []byte(`"password`)) {
		t.Fatalf("the answer shows the password: %s", reg.raw)
	}
	if reg.header.Get("Location") != fmt.Sprintf("/api/v1/servers/%d", serverID) {
		t.Errorf("Location = %q", reg.header.Get("Location"))
	}
	// The same instance again, under its name or by host name under another: 409 naming the first.
	again := admin.want(admin.do("POST", "/api/v1/servers", srvBody), 409, "UserErrorServerAlreadyRegistered", "host")
	byName := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01-by-name", "host": "localhost",
		"port": sim.Port(), "username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 409, "UserErrorServerAlreadyRegistered", "host")
	for _, a := range []answer{again, byName} {
		if !strings.Contains(a.str("message"), `"SQL01"`) {
			t.Errorf("refusal does not name the registered server: %s", a)
		}
	}
	reader.mustComplete(reg.num("discovery_job_id"))

	srv := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 200)
	utcTime(t, srv.m, "discovered_at")
	if srv.num("databases") == 0 || bytes.Contains(srv.raw, []byte("Sa-Passw0rd!")) {
		t.Fatalf("server after discovery = %s", srv)
	}
	reader.want(reader.do("GET", "/api/v1/servers/999", nil), 404, "UserErrorNotFound")

	dbs := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/databases?server_id=%d", serverID), nil), 200)
	sales := find(t, dbs.list("databases"), "name", "Sales")
	if sales["recovery_model"] != "FULL" || sales["state"] != "ONLINE" || sales["item_id"] != nil ||
		num(sales, "server_id") != serverID || num(sales, "size_bytes") == 0 {
		t.Fatalf("Sales = %v", sales)
	}
	if pr, _ := sales["protection"].(map[string]any); pr == nil || len(pr["allowed_backups"].([]any)) != 4 || pr["reason"] != nil {
		t.Errorf("Sales' protection = %v", sales["protection"])
	}
	reader.want(reader.do("GET", "/api/v1/databases?server_id=999", nil), 404, "UserErrorNotFound")
	reader.want(reader.do("GET", "/api/v1/databases?server_id=x", nil), 422, "UserErrorInvalidRequest", "server_id")

	// A bad policy lists every field at fault.
	bad := goodPolicy("Bad")
	bad["log"] = map[string]any{"enabled": true, "every_minutes": 7}
	bad["retention"] = map[string]any{"daily_days": 3}
	a := admin.want(admin.do("POST", "/api/v1/policies", bad), 422, "UserErrorInvalidPolicy")
	var fields []string
	for _, f := range a.list("fields") {
		fields = append(fields, f.(map[string]any)["field"].(string))
		if f.(map[string]any)["message"] == "" {
			t.Errorf("field error without message: %v", f)
		}
	}
	if !slices.Contains(fields, "log.every_minutes") || !slices.Contains(fields, "retention.daily_days") {
		t.Fatalf("policy field errors = %v (%s)", fields, a)
	}
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Hourly logs")), 201)
	policyID := pol.num("id")
	if policyID == 0 || pol.num("rpo_seconds") != 900 || pol.str("schedule") == "" {
		t.Fatalf("policy = %s", pol)
	}

	// Protect: 201, and the first full backup runs.
	admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id")}), 422, "UserErrorInvalidRequest", "policy_id")
	admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": 999, "policy_id": policyID}), 404, "UserErrorNotFound")
	item := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": policyID}), 201)
	itemID := item.num("id")
	if itemID == 0 || item.str("state") != db.ItemProtected || item.num("job_id") == 0 || item.num("policy_id") != policyID {
		t.Fatalf("item = %s", item)
	}
	full := reader.mustComplete(item.num("job_id"))
	if full.str("operation") != "backup" || full.str("kind") != "full" || full.num("progress_percent") != 100 || full.num("bytes_transferred") == 0 {
		t.Fatalf("first backup job = %s", full)
	}
	utcTime(t, full.m, "started_at")
	utcTime(t, full.m, "ended_at")
	admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": policyID}), 409, "UserErrorDatabaseAlreadyProtected")
	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/policies/%d", policyID), nil), 409, "UserErrorPolicyInUse")

	// Backup now of the log, by an operator, once a whole second has
	// passed since the full (ranges are restorable to the second).
	next := utcTime(t, full.m, "ended_at").Truncate(time.Second).Add(1100 * time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(next) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	simExec(t, sa, "INSERT INTO Sales.dbo.orders VALUES (4, 40), (5, 50)")
	op.want(op.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": "log", "retain": 3}), 422, "UserErrorInvalidRequest", "retain")
	op.want(op.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": "weekly"}), 422, "UserErrorInvalidRequest", "type")
	op.want(op.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), `{"type": "log", "retain_days": "ten"}`), 422, "UserErrorInvalidRequest", "retain_days")
	op.want(op.do("POST", "/api/v1/items/999/backup", map[string]any{"type": "log"}), 404, "UserErrorNotFound")
	lb := op.want(op.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": "log"}), 202)
	if lb.header.Get("Location") != fmt.Sprintf("/api/v1/jobs/%d", lb.num("job_id")) {
		t.Errorf("backup Location = %q", lb.header.Get("Location"))
	}
	reader.mustComplete(lb.num("job_id"))

	pts := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", itemID), nil), 200).list("recovery_points")
	if len(pts) != 2 {
		t.Fatalf("recovery points = %v", pts)
	}
	fullPt, logPt := pts[0].(map[string]any), pts[1].(map[string]any)
	if fullPt["type"] != "full" || logPt["type"] != "log" {
		t.Fatalf("points = %v", pts)
	}
	for _, p := range []map[string]any{fullPt, logPt} {
		utcTime(t, p, "start_time")
		utcTime(t, p, "end_time")
		utcTime(t, p, "expires_at")
		if p["first_lsn"] == "" || p["last_lsn"] == "" || p["first_lsn"] == nil || num(p, "size_bytes") == 0 || p["stored_bytes"] == nil {
			t.Fatalf("point without LSNs or sizes: %v", p)
		}
		if _, ok := p["blobs"]; ok {
			t.Errorf("point shows vault blob names: %v", p)
		}
	}

	ranges := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/log-ranges", itemID), nil), 200).list("log_ranges")
	if len(ranges) != 1 {
		t.Fatalf("log ranges = %v", ranges)
	}
	r0 := ranges[0].(map[string]any)
	from, to := utcTime(t, r0, "from"), utcTime(t, r0, "to")
	// From the full's end to the log's end, in whole seconds.
	fullEnd, logEnd := utcTime(t, fullPt, "end_time"), utcTime(t, logPt, "end_time")
	if from.Before(fullEnd) || from.Sub(fullEnd) >= time.Second || to.After(logEnd) || logEnd.Sub(to) >= time.Second ||
		from.Nanosecond() != 0 || to.Nanosecond() != 0 || to.Before(from) {
		t.Fatalf("range %v, want the whole seconds from the full's end (%v) to the log's end (%v)", r0, fullEnd, logEnd)
	}

	// The plan a restore would run, and the planner's refusal.
	plan := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/plan?recovery_point_id=%d", itemID, num(logPt, "id")), nil), 200)
	if steps := plan.list("steps"); len(steps) != 2 || num(steps[0].(map[string]any), "recovery_point_id") != num(fullPt, "id") ||
		num(steps[1].(map[string]any), "recovery_point_id") != num(logPt, "id") {
		t.Fatalf("plan = %s", plan)
	}
	plan = reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/plan?point_in_time=%s", itemID, to.Format(time.RFC3339)), nil), 200)
	if steps := plan.list("steps"); len(steps) != 2 || steps[1].(map[string]any)["stop_at"] != to.Format(time.RFC3339) {
		t.Fatalf("plan to %v = %s", to, plan)
	}
	early := from.Add(-time.Hour).Format(time.RFC3339)
	reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/plan?point_in_time=%s", itemID, early), nil), 422, "UserErrorPointInTimeNotCovered", "point_in_time")
	reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/plan?point_in_time=yesterday", itemID), nil), 422, "UserErrorInvalidRequest", "point_in_time")

	// The item shows its RPO.
	it := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d", itemID), nil), 200)
	if it.m["rpo_seconds"] == nil || it.num("rpo_target_seconds") != 900 || it.m["rpo_breached"] != false ||
		it.m["last_full_backup"] == nil || it.m["last_log_backup"] == nil || it.str("policy_name") != "Hourly logs" {
		t.Fatalf("item = %s", it)
	}
	if l := reader.do("GET", "/api/v1/items", nil).list("items"); len(l) != 1 || find(t, l, "id", float64(itemID))["rpo_target_seconds"] != float64(900) {
		t.Fatalf("items = %v", l)
	}

	// Restore under a new name, to the end of the log backup.
	restore := func(target map[string]any) map[string]any {
		return map[string]any{"item_id": itemID, "recovery_point_id": num(logPt, "id"), "target": target}
	}
	op.want(op.do("POST", "/api/v1/restores", restore(map[string]any{"mode": "original"})), 422, "UserErrorOverwriteNotConfirmed", "target.overwrite")
	op.want(op.do("POST", "/api/v1/restores", restore(map[string]any{"mode": "alternate"})), 422, "UserErrorInvalidRequest", "target.database_name")
	op.want(op.do("POST", "/api/v1/restores", restore(map[string]any{"mode": "alternate", "database_name": "Sales_copy", "colour": "red"})), 422, "UserErrorInvalidRequest", "colour")
	// A name with a line break (a GO line in a script) or NUL is refused, naming the field.
	for _, mode := range []string{"alternate", "files"} {
		for _, name := range []string{"Sales\r\nGO\r\nDROP DATABASE Sales", "Sales\x00copy"} {
			op.want(op.do("POST", "/api/v1/restores", restore(map[string]any{"mode": mode, "database_name": name})), 422, "UserErrorInvalidRequest", "target.database_name")
		}
	}
	op.want(op.do("POST", "/api/v1/restores", map[string]any{"item_id": itemID, "point_in_time": "soon", "target": map[string]any{"mode": "files"}}), 422, "UserErrorInvalidRequest", "point_in_time")
	rs := op.want(op.do("POST", "/api/v1/restores", restore(map[string]any{"mode": "alternate", "database_name": "Sales_copy"})), 202)
	rj := reader.mustComplete(rs.num("job_id"))
	if rj.str("operation") != "restore" {
		t.Fatalf("restore job = %s", rj)
	}
	if n := count(t, sa, "Sales_copy.dbo.orders"); n != 5 {
		t.Fatalf("restored database has %d rows, want 5", n)
	}
	op.want(op.do("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", rs.num("job_id")), nil), 409, "UserErrorConflict")
	op.want(op.do("POST", "/api/v1/jobs/999/cancel", nil), 404, "UserErrorNotFound")

	// Restore as files: the list with its script, and ranged downloads.
	fj := op.want(op.do("POST", "/api/v1/restores", map[string]any{"item_id": itemID, "point_in_time": to.Format(time.RFC3339Nano),
		"target": map[string]any{"mode": "files"}}), 202)
	op.mustComplete(fj.num("job_id"))
	files := op.want(op.do("GET", fmt.Sprintf("/api/v1/jobs/%d/files", fj.num("job_id")), nil), 200)
	fl := files.list("files")
	if len(fl) != 2 || !strings.Contains(files.str("script"), "RESTORE DATABASE [Sales]") || !strings.Contains(files.str("script"), "RESTORE LOG [Sales]") ||
		strings.Contains(files.str("script"), "REPLACE") {
		t.Fatalf("files (no overwrite asked, so no REPLACE) = %s", files)
	}
	f0 := fl[0].(map[string]any)
	whole := op.do("GET", f0["url"].(string), nil)
	if whole.status != 200 || int64(len(whole.raw)) != num(f0, "size_bytes") || !strings.Contains(whole.header.Get("Content-Disposition"), f0["name"].(string)) {
		t.Fatalf("download = %d, %d bytes, want %d; disposition %q", whole.status, len(whole.raw), num(f0, "size_bytes"), whole.header.Get("Content-Disposition"))
	}
	req, _ := http.NewRequest("GET", ts.URL+f0["url"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+op.token)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, whole.raw[100:200]) {
		t.Fatalf("ranged download = %d, %d bytes", resp.StatusCode, len(part))
	}
	op.want(op.do("GET", fmt.Sprintf("/api/v1/jobs/%d/files/7", fj.num("job_id")), nil), 404, "UserErrorNotFound")
	op.want(op.do("GET", fmt.Sprintf("/api/v1/jobs/%d/files", rs.num("job_id")), nil), 404, "UserErrorNotFound")

	// Stop with deletion: backups refused, points soft-deleted; undelete
	// brings one back; resume starts a new chain with a full.
	// The policy's 15-minute logs run on the wall clock too, so the item
	// may hold more than the two points this test made: all are deleted.
	live := reader.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", itemID), nil).list("recovery_points")
	admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", itemID), map[string]any{"delete_data": true}), 200)
	op.want(op.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": "full"}), 409, "UserErrorProtectionStopped")
	if l := reader.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", itemID), nil).list("recovery_points"); len(l) != 0 {
		t.Fatalf("live points after stop with delete = %v", l)
	}
	deleted := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points?deleted=true", itemID), nil), 200).list("recovery_points")
	if len(deleted) < 2 || len(deleted) != len(live) || deleted[0].(map[string]any)["deleted_at"] == nil {
		t.Fatalf("soft-deleted points = %v", deleted)
	}
	und := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/undelete", num(fullPt, "id")), nil), 200)
	if und.m["deleted_at"] != nil || und.num("id") != num(fullPt, "id") {
		t.Fatalf("undeleted point = %s", und)
	}
	admin.want(admin.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/undelete", num(fullPt, "id")), nil), 409, "UserErrorConflict")
	admin.want(admin.do("POST", "/api/v1/recovery-points/999/undelete", nil), 404, "UserErrorNotFound")
	res := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/resume", itemID), nil), 200)
	if res.str("state") != db.ItemProtected || res.num("job_id") == 0 {
		t.Fatalf("resumed item = %s", res)
	}
	reader.mustComplete(res.num("job_id"))

	// Auto-protect: a policy, an unknown one, then off.
	ap := fmt.Sprintf("/api/v1/servers/%d/auto-protect", serverID)
	if a := admin.want(admin.do("PUT", ap, map[string]any{"policy_id": policyID}), 200); a.num("auto_protect_policy_id") != policyID {
		t.Fatalf("auto-protect on = %s", a)
	}
	admin.want(admin.do("PUT", ap, map[string]any{"policy_id": 999}), 422, "UserErrorInvalidRequest", "policy_id")
	if a := admin.want(admin.do("PUT", ap, `{"policy_id": null}`), 200); a.m["auto_protect_policy_id"] != nil {
		t.Fatalf("auto-protect off = %s", a)
	}

	// Jobs list filters by item and operation; alerts list answers.
	jobs := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/jobs?item_id=%d&operation=restore", itemID), nil), 200).list("jobs")
	if len(jobs) != 2 {
		t.Fatalf("restore jobs of the item = %d, want 2", len(jobs))
	}
	reader.want(reader.do("GET", "/api/v1/alerts", nil), 200)
}

// TestAPINoSysadminAndPermissionScript registers a login without
// sysadmin: it is registered with the code, its discovery fails with it,
// and the permission script downloads with the instance and login inside.
func TestAPINoSysadminAndPermissionScript(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t, sqlsim.Login{Name: "backup_svc", Password: "Svc-Passw0rd1"})
	admin, reader := ts.client(t, db.RoleAdmin), ts.client(t, db.RoleReader)
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": `SQL02\PROD`, "host": "127.0.0.1",
		"port": sim.Port(), "username": "backup_svc", "password": "Svc-Passw0rd1", "encrypt": "disable"}), 201)
	if reg.str("status_code") != "UserErrorSQLNoSysadminMembership" || reg.str("status") != db.StatusUnhealthy {
		t.Fatalf("server = %s", reg)
	}
	j := reader.waitJob(reg.num("discovery_job_id"))
	if j.str("status") != db.JobFailed || j.m["error"].(map[string]any)["code"] != "UserErrorSQLNoSysadminMembership" {
		t.Fatalf("discovery = %s", j)
	}
	alerts := reader.want(reader.do("GET", "/api/v1/alerts?open=true", nil), 200).list("alerts")
	if a := find(t, alerts, "code", "UserErrorSQLNoSysadminMembership"); a["action"] == "" {
		t.Fatalf("alert without action: %v", a)
	}

	path := fmt.Sprintf("/api/v1/servers/%d/permission-script", reg.num("id"))
	for _, tc := range []struct{ query, instance string }{{"", "MSSQLSERVER"}, {"?instance=SQLEXPRESS", "SQLEXPRESS"}} {
		a := reader.want(reader.do("GET", path+tc.query, nil), 200)
		script := string(a.raw)
		if cd := a.header.Get("Content-Disposition"); cd != `attachment; filename="sqlvault-permissions-SQL02_PROD.ps1"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		for _, want := range []string{`[string]$InstanceName = "` + tc.instance + `"`, `[string]$LoginName = 'backup_svc'`,
			"ALTER SERVER ROLE [sysadmin]", ts.env.DeviceName, "#Requires -RunAsAdministrator", `.\sqlvault-permissions-SQL02_PROD.ps1`} {
			if !strings.Contains(script, want) {
				t.Errorf("script%s lacks %s:\n%.1500s", tc.query, want, script)
			}
		}
	}
	reader.want(reader.do("GET", path+"?instance=x%27y", nil), 422, "UserErrorInvalidRequest", "instance")
	reader.want(reader.do("GET", "/api/v1/servers/999/permission-script", nil), 404, "UserErrorNotFound")

	ca := reader.want(reader.do("GET", "/api/v1/device/ca.crt", nil), 200)
	if !bytes.Equal(ca.raw, ts.env.Device.CACertPEM()) || !strings.Contains(ca.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("device CA = %s", ca)
	}
}

// TestAPICancelRunningBackup cancels a full backup while it streams
// through a slow device: the job ends cancelled and commits no point.
func TestAPICancelRunningBackup(t *testing.T) {
	ts := newTestServer(t)
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.Fault = sqlsim.Fault{DeviceDelay: 100 * time.Millisecond}
	cfg.SyntheticDatabases = []sqlsim.SyntheticDatabase{{Name: "Big", Size: 256 << 20}}
	sim := ts.env.StartSim(cfg)
	admin, op, reader := ts.client(t, db.RoleAdmin), ts.client(t, db.RoleOperator), ts.client(t, db.RoleReader)
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"host": "127.0.0.1", "port": sim.Port(),
		"username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	reader.mustComplete(reg.num("discovery_job_id"))
	big := find(t, reader.do("GET", "/api/v1/databases", nil).list("databases"), "name", "Big")
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("P")), 201)
	item := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(big, "id"), "policy_id": pol.num("id")}), 201)
	job := fmt.Sprintf("/api/v1/jobs/%d", item.num("job_id"))
	for deadline := time.Now().Add(30 * time.Second); ; {
		if reader.do("GET", job, nil).str("status") == db.JobInProgress {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	reader.want(reader.do("POST", job+"/cancel", nil), 403, "UserErrorForbidden")
	op.want(op.do("POST", job+"/cancel", nil), 202)
	j := reader.waitJob(item.num("job_id"))
	if j.str("status") != db.JobCancelled || j.m["error"].(map[string]any)["code"] != "UserErrorJobCancelled" {
		t.Fatalf("cancelled job = %s", j)
	}
	if l := reader.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", item.num("id")), nil).list("recovery_points"); len(l) != 0 {
		t.Fatalf("a cancelled backup committed points: %v", l)
	}
}

// TestAPIPolicyCRUD round-trips a policy: what GET answers can be PUT
// back; unknown fields and bad values are named.
func TestAPIPolicyCRUD(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	p := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Gold")), 201)
	path := fmt.Sprintf("/api/v1/policies/%d", p.num("id"))
	got := admin.want(admin.do("GET", path, nil), 200)
	got.m["log"].(map[string]any)["every_minutes"] = 30
	if up := admin.want(admin.do("PUT", path, got.m), 200); up.num("rpo_seconds") != 1800 || up.num("items") != 0 {
		t.Fatalf("updated = %s", up)
	}
	admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Gold")), 422, "UserErrorInvalidPolicy", "name")
	weekly := goodPolicy("Weekly")
	weekly["full"] = map[string]any{"frequency": "weekly", "days": []string{"Sunday", "funday"}, "time": "25:00", "timezone": "Mars/Olympus"}
	a := admin.want(admin.do("POST", "/api/v1/policies", weekly), 422, "UserErrorInvalidPolicy")
	var fields []string
	for _, f := range a.list("fields") {
		fields = append(fields, f.(map[string]any)["field"].(string))
	}
	sort.Strings(fields)
	for _, want := range []string{"full.days", "full.time", "full.timezone"} {
		if !slices.Contains(fields, want) {
			t.Errorf("fields %v lack %s", fields, want)
		}
	}
	admin.want(admin.do("PUT", path, `{"name": "Gold", "full": {"frequency": "daily", "hour": 3}}`), 422, "UserErrorInvalidRequest", "hour")
	admin.want(admin.do("PUT", path, `{"name": "Gold", "log": {"enabled": "yes"}}`), 422, "UserErrorInvalidRequest", "log.enabled")
	admin.want(admin.do("PUT", path, `{"name": "Gold"} {"name": "Silver"}`), 422, "UserErrorInvalidRequest")
	admin.want(admin.do("POST", "/api/v1/policies", ""), 422, "UserErrorInvalidRequest")
	if l := admin.want(admin.do("GET", "/api/v1/policies", nil), 200).list("policies"); len(l) != 1 {
		t.Fatalf("policies = %v", l)
	}
	admin.want(admin.do("DELETE", path, nil), 204)
	admin.want(admin.do("GET", path, nil), 404, "UserErrorNotFound")
	admin.want(admin.do("PUT", path, goodPolicy("Gold")), 404, "UserErrorNotFound")
}

// apiRoles is the role each API route needs. It must list every route
// apiRoutes registers, so a new route cannot go unchecked.
var apiRoles = map[string]db.Role{
	"GET /api/v1/me":                            db.RoleReader,
	"GET /api/v1/servers":                       db.RoleReader,
	"POST /api/v1/servers":                      db.RoleAdmin,
	"GET /api/v1/servers/:id":                   db.RoleReader,
	"PUT /api/v1/servers/:id":                   db.RoleAdmin,
	"DELETE /api/v1/servers/:id":                db.RoleAdmin,
	"POST /api/v1/servers/:id/rediscover":       db.RoleAdmin,
	"GET /api/v1/servers/:id/permission-script": db.RoleReader,
	"PUT /api/v1/servers/:id/auto-protect":      db.RoleAdmin,
	"GET /api/v1/databases":                     db.RoleReader,
	"GET /api/v1/availability-groups":           db.RoleReader,
	"GET /api/v1/device/ca.crt":                 db.RoleReader,
	"GET /api/v1/policies":                      db.RoleReader,
	"POST /api/v1/policies":                     db.RoleAdmin,
	"GET /api/v1/policies/:id":                  db.RoleReader,
	"PUT /api/v1/policies/:id":                  db.RoleAdmin,
	"DELETE /api/v1/policies/:id":               db.RoleAdmin,
	"GET /api/v1/items":                         db.RoleReader,
	"POST /api/v1/items":                        db.RoleAdmin,
	"GET /api/v1/items/:id":                     db.RoleReader,
	"PUT /api/v1/items/:id":                     db.RoleAdmin,
	"POST /api/v1/items/:id/backup":             db.RoleOperator,
	"POST /api/v1/items/:id/stop":               db.RoleAdmin,
	"POST /api/v1/items/:id/resume":             db.RoleAdmin,
	"GET /api/v1/items/:id/recovery-points":     db.RoleReader,
	"GET /api/v1/items/:id/log-ranges":          db.RoleReader,
	"GET /api/v1/items/:id/plan":                db.RoleReader,
	"POST /api/v1/recovery-points/:id/undelete": db.RoleAdmin,
	"POST /api/v1/recovery-points/:id/purge":    db.RoleAdmin,
	"POST /api/v1/device/test-grants":           db.RoleAdmin,
	"POST /api/v1/restores":                     db.RoleOperator,
	"POST /api/v1/restores/proposed-files":      db.RoleOperator,
	"GET /api/v1/jobs":                          db.RoleReader,
	"GET /api/v1/jobs/:id":                      db.RoleReader,
	"POST /api/v1/jobs/:id/cancel":              db.RoleOperator,
	"GET /api/v1/jobs/:id/files":                db.RoleOperator,
	"GET /api/v1/jobs/:id/files/:n":             db.RoleOperator,
	"GET /api/v1/alerts":                        db.RoleReader,
	"GET /api/v1/reports/:table":                db.RoleReader,
	"POST /api/v1/alerts/:id/acknowledge":       db.RoleOperator,
	"GET /api/v1/users":                         db.RoleAdmin,
	"POST /api/v1/users":                        db.RoleAdmin,
	"GET /api/v1/users/:id":                     db.RoleAdmin,
	"PUT /api/v1/users/:id":                     db.RoleAdmin,
	"DELETE /api/v1/users/:id":                  db.RoleAdmin,
	"GET /api/v1/users/:id/sessions":            db.RoleAdmin,
	"DELETE /api/v1/sessions/:id":               db.RoleAdmin,
	"GET /api/v1/tokens":                        db.RoleReader,
	"POST /api/v1/tokens":                       db.RoleOperator,
	"DELETE /api/v1/tokens/:id":                 db.RoleOperator,
	"GET /api/v1/audit":                         db.RoleReader,
}

// TestAPIRolesOnEveryRoute checks every route apiRoutes registers: a
// reader gets 403 on every POST, PUT and DELETE, each role is refused
// exactly the routes above it, and no token is 401 everywhere.
func TestAPIRolesOnEveryRoute(t *testing.T) {
	e := echo.New()
	pass := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	apiRoutes(e.Group("/api/v1"), &handlers.Handlers{}, roles{pass, pass, pass})
	registered := map[string]bool{}
	for _, r := range e.Routes() {
		if strings.HasPrefix(r.Path, "/api/v1/") {
			registered[r.Method+" "+r.Path] = true
		}
	}
	for k := range registered {
		if _, ok := apiRoles[k]; !ok {
			t.Errorf("route %s is not in apiRoles", k)
		}
	}
	for k := range apiRoles {
		if !registered[k] {
			t.Errorf("apiRoles lists %s, which apiRoutes does not register", k)
		}
	}

	ts := newTestServer(t)
	clients := map[db.Role]*apiClient{db.RoleReader: ts.client(t, db.RoleReader), db.RoleOperator: ts.client(t, db.RoleOperator),
		db.RoleAdmin: ts.client(t, db.RoleAdmin)}
	anon := &apiClient{t: t, base: ts.URL}
	bogus := &apiClient{t: t, base: ts.URL, token: "svt_bogus"}
	keys := make([]string, 0, len(apiRoles))
	for k := range apiRoles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writes := 0
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		path = strings.NewReplacer(":id", "999999", ":n", "0").Replace(path)
		var body any
		if method != "GET" {
			body = "{}"
		}
		// Without credentials a write meets the CSRF check first (400);
		// anything else is 401, as is a token that is not valid.
		if a := anon.do(method, path, body); (method == "GET" && a.status != 401) || (a.status != 401 && a.status != 400) {
			t.Errorf("%s without credentials = %s, want 401", k, a)
		}
		if a := bogus.do(method, path, body); a.status != 401 || a.str("code") != "UserErrorUnauthorized" {
			t.Errorf("%s with a bad token = %s, want 401", k, a)
		}
		if method != "GET" {
			writes++
			if a := clients[db.RoleReader].do(method, path, body); a.status != 403 || a.str("code") != "UserErrorForbidden" {
				t.Errorf("%s as reader = %s, want 403", k, a)
			}
		}
		need := apiRoles[k]
		for role, c := range clients {
			a := c.do(method, path, body)
			if allowed := role.Allows(need); allowed == (a.status == 403) {
				t.Errorf("%s as %s = %s (needs %s)", k, role, a, need)
			}
		}
	}
	if writes < 13 {
		t.Fatalf("only %d write routes checked", writes)
	}
}
