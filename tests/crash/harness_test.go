// Package crash is sqlvault's crash-consistency suite: the real `sqlvault
// serve` runs as a child process and is killed with SIGKILL at each named
// point of the vault and the workflows (SQLVAULT_CRASH_AT) and in the
// middle of a transfer; after a normal restart every recovery point
// committed before the kill must still restore with the right rows, no
// half-written point may be visible, the interrupted job must end failed
// with UserErrorInterrupted and its retry must complete, and `sqlvault vault
// verify` must be clean. See docs/reliability.md.
package crash

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/sqlsim"
	"github.com/sqlvault/sqlvault/tests/childserve"
)

// bin is the sqlvault binary TestMain builds once.
var bin string

func TestMain(m *testing.M) { os.Exit(childserve.Main(m, &bin)) }

const (
	adminPW = "Crash-Admin-Pw1"
	saPW    = childserve.SAPassword
)

type answer = childserve.Answer

var num = childserve.Num

// server is one data directory served by successive child processes.
type server struct {
	t          *testing.T
	data       string
	addr       string // portal, stable across restarts
	deviceAddr string
	deviceIP   string
	devicePort int
	deviceName string
	token      string

	mu   sync.Mutex
	proc *childserve.Proc
	cmd  *exec.Cmd     // the running child, nil when none
	done chan struct{} // closed when it exits
	err  error         // its exit
	log  bytes.Buffer  // every child's stdout and stderr
}

func newServer(t *testing.T, deviceName string) *server {
	t.Helper()
	ip, port := childserve.DeviceAddr(t, 90)
	s := &server{t: t, data: t.TempDir(), deviceIP: ip, devicePort: port, deviceName: deviceName,
		addr: fmt.Sprintf("127.0.0.1:%d", childserve.FreePort(t, "127.0.0.1"))}
	s.deviceAddr = fmt.Sprintf("%s:%d", ip, port)
	s.token = childserve.Token(t, bin, s.data, "crash-suite")
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logTail(8000))
		}
	})
	return s
}

func (s *server) logTail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.log.String()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

type lockedWriter struct{ s *server }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// start runs `sqlvault serve` with crashAt ("" for none) and waits until
// /healthz answers.
func (s *server) start(crashAt string) {
	s.t.Helper()
	s.run(crashAt)
	childserve.WaitHealthy(s.t, http.DefaultClient, s.addr, s.proc, func() string { return s.logTail(4000) })
}

// run starts `sqlvault serve` without waiting for it to answer: queued
// jobs may reach the kill point before the portal listens.
func (s *server) run(crashAt string) {
	s.t.Helper()
	fmt.Fprintf(lockedWriter{s}, "=== start (SQLVAULT_CRASH_AT=%q)\n", crashAt)
	p, err := childserve.Start(bin, append([]string{"serve", "--data", s.data, "--addr", s.addr, "--device-name", s.deviceName}, childserve.DeviceFlags(s.deviceIP, s.devicePort)...),
		[]string{"SQLVAULT_ADMIN_PASSWORD=" + adminPW, "SQLVAULT_CRASH_AT=" + crashAt}, lockedWriter{s})
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc, s.cmd, s.done = p, p.Cmd, p.Done
}

// waitCrash waits for the child to kill itself and checks it died by SIGKILL.
func (s *server) waitCrash(point string, d time.Duration) {
	s.t.Helper()
	select {
	case <-s.done:
		s.err = s.proc.Err
	case <-time.After(d):
		s.t.Fatalf("SQLVAULT_CRASH_AT=%s was not reached within %v\n%s", point, d, s.logTail(4000))
	}
	var ee *exec.ExitError
	if !errors.As(s.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		s.t.Fatalf("serve ended %v, want killed by SIGKILL at %s", s.err, point)
	}
	if !strings.Contains(s.logTail(4000), "SQLVAULT_CRASH_AT="+point+" reached") {
		s.t.Fatalf("serve died without reaching %s", point)
	}
	s.cmd = nil
}

// kill sends SIGKILL (a power cut) and waits for the exit.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.proc.Kill()
	s.cmd = nil
}

// stop ends the child gracefully.
func (s *server) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	ok := s.proc.Stop(20 * time.Second)
	s.cmd = nil
	if !ok {
		s.t.Fatal("serve did not stop on SIGTERM within 20s")
	}
}

// vault runs `sqlvault vault SUB` on the stopped server's data.
func (s *server) vault(sub string) (string, error) { return childserve.Vault(bin, s.data, sub) }

// sim starts a simulated instance wired to the server's device.
func (s *server) sim(cfg sqlsim.Config) *sqlsim.Instance {
	s.t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = s.t.TempDir()
	}
	return childserve.Sim(s.t, cfg, s.data, s.deviceName, s.deviceIP, s.devicePort)
}

// api calls the JSON API with the admin token.
func (s *server) api(method, path string, body any) answer {
	s.t.Helper()
	a, err := s.try(method, path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// try is api for a call the server may die during.
func (s *server) try(method, path string, body any) (answer, error) {
	return childserve.Call(http.DefaultClient, s.addr, s.token, method, path, body)
}

func (s *server) want(a answer, status int) answer {
	s.t.Helper()
	if a.Status != status {
		s.t.Fatalf("got %s, want %d", a, status)
	}
	return a
}

// job reads a job.
func (s *server) job(id int64) answer {
	s.t.Helper()
	return s.want(s.api("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil), 200)
}

// waitJob polls a job until it ends.
func (s *server) waitJob(id int64) answer {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := s.job(id)
		switch a.Str("status") {
		case "completed", "failed", "cancelled":
			return a
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d did not end in time: %s", id, a)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *server) mustComplete(id int64) answer {
	s.t.Helper()
	a := s.waitJob(id)
	if a.Str("status") != "completed" {
		s.t.Fatalf("job %d ended %s\n%s", id, a, s.logTail(3000))
	}
	return a
}

// jobs lists jobs (newest first) by a query such as "operation=backup".
func (s *server) jobs(query string) []map[string]any {
	s.t.Helper()
	a := s.want(s.api("GET", "/api/v1/jobs?limit=200&"+query, nil), 200)
	var out []map[string]any
	for _, j := range a.List("jobs") {
		out = append(out, j.(map[string]any))
	}
	return out
}

// interrupted checks the killed job ended failed with UserErrorInterrupted
// and returns its retry (a newer job of the same operation, kind and item),
// waited for until it completes.
func (s *server) interrupted(jobID int64) answer {
	s.t.Helper()
	j := s.job(jobID)
	e, _ := j.M["error"].(map[string]any)
	if j.Str("status") != "failed" || e["code"] != "UserErrorInterrupted" || e["action"] == "" {
		s.t.Fatalf("killed job %d after restart = %s, want failed with UserErrorInterrupted", jobID, j)
	}
	var retry int64
	for _, o := range s.jobs("operation=" + j.Str("operation")) {
		if num(o, "id") > jobID && o["kind"] == j.M["kind"] && fmt.Sprint(o["item_id"]) == fmt.Sprint(j.M["item_id"]) &&
			(retry == 0 || num(o, "id") < retry) {
			retry = num(o, "id")
		}
	}
	if retry == 0 {
		s.t.Fatalf("no retry queued for interrupted job %d", jobID)
	}
	return s.mustComplete(retry)
}

// points lists an item's recovery points, oldest first.
func (s *server) points(itemID int64) []map[string]any {
	s.t.Helper()
	a := s.want(s.api("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", itemID), nil), 200)
	var out []map[string]any
	for _, p := range a.List("recovery_points") {
		out = append(out, p.(map[string]any))
	}
	return out
}

// sa opens the instance as sa.
func sa(t *testing.T, in *sqlsim.Instance) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?database=master&encrypt=disable", saPW, in.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func exec1(t *testing.T, d *sql.DB, q string) {
	t.Helper()
	if _, err := d.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func rows(t *testing.T, d *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
