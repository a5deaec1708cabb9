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
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/sqlsim"
)

// bin is the sqlvault binary TestMain builds once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rel-crash-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "sqlvault")
	build := exec.Command("go", "build", "-o", bin, "github.com/sqlvault/sqlvault")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sqlvault:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	adminPW = "Crash-Admin-Pw1"
	saPW    = "Sa-Passw0rd!"
)

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
	cmd  *exec.Cmd
	done chan struct{}
	err  error        // the child's exit
	log  bytes.Buffer // every child's stdout and stderr
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// deviceListenAddr is 127.0.x.y:443 when this process may bind it (the
// port SQL Server requires), else a free port the instance is told to allow.
func deviceListenAddr(t *testing.T) (string, int) {
	for i := 0; i < 50; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", 90+os.Getpid()%60, 2+i)
		if l, err := net.Listen("tcp", ip+":443"); err == nil {
			l.Close()
			return ip, 443
		}
	}
	return "127.0.0.1", freePort(t, "127.0.0.1")
}

func newServer(t *testing.T, deviceName string) *server {
	t.Helper()
	ip, port := deviceListenAddr(t)
	s := &server{t: t, data: t.TempDir(), deviceIP: ip, devicePort: port, deviceName: deviceName,
		addr: fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))}
	s.deviceAddr = fmt.Sprintf("%s:%d", ip, port)
	out, err := exec.Command(bin, "token", "create", "--data", s.data, "--name", "crash-suite", "--role", "admin").Output()
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	if f := strings.Fields(string(out)); len(f) == 1 {
		s.token = f[0]
	}
	if s.token == "" {
		t.Fatalf("token create printed no token: %s", out)
	}
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			s.t.Fatalf("serve exited at start: %v\n%s", s.err, s.logTail(4000))
		default:
		}
		if r, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve did not answer /healthz in time\n%s", s.logTail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run starts `sqlvault serve` without waiting for it to answer: queued
// jobs may reach the kill point before the portal listens.
func (s *server) run(crashAt string) {
	s.t.Helper()
	cmd := exec.Command(bin, "serve", "--data", s.data, "--addr", s.addr, "--device-addr", s.deviceAddr, "--device-name", s.deviceName)
	cmd.Env = append(os.Environ(), "SQLVAULT_ADMIN_PASSWORD="+adminPW, "SQLVAULT_CRASH_AT="+crashAt)
	cmd.Stdout, cmd.Stderr = lockedWriter{s}, lockedWriter{s}
	fmt.Fprintf(lockedWriter{s}, "=== start (SQLVAULT_CRASH_AT=%q)\n", crashAt)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() { s.err = cmd.Wait(); close(done) }()
}

// waitCrash waits for the child to kill itself and checks it died by SIGKILL.
func (s *server) waitCrash(point string, d time.Duration) {
	s.t.Helper()
	select {
	case <-s.done:
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
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// stop ends the child gracefully.
func (s *server) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.kill()
		s.t.Fatal("serve did not stop on SIGTERM within 20s")
	}
	s.cmd = nil
}

// vault runs `sqlvault vault SUB` on the stopped server's data.
func (s *server) vault(sub string) (string, error) {
	out, err := exec.Command(bin, "vault", sub, "--data", s.data).CombinedOutput()
	return string(out), err
}

// caPool is the device CA the server wrote on first start.
func (s *server) caPool() *x509.CertPool {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.data, "device", "device-ca.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("device CA file holds no certificate")
	}
	return pool
}

// sim starts a simulated instance wired to the server's device.
func (s *server) sim(cfg sqlsim.Config) *sqlsim.Instance {
	s.t.Helper()
	cfg.SAPassword = saPW
	if cfg.DataDir == "" {
		cfg.DataDir = s.t.TempDir()
	}
	cfg.TrustCA = s.caPool()
	cfg.Hosts = map[string]string{s.deviceName: s.deviceIP}
	if s.devicePort != 443 {
		cfg.AllowedDevicePort = s.devicePort
	}
	in, err := sqlsim.Start(context.Background(), cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { in.Close() })
	return in
}

// answer is a JSON API answer.
type answer struct {
	status int
	raw    []byte
	m      map[string]any
}

func (a answer) String() string            { return fmt.Sprintf("%d %s", a.status, a.raw) }
func (a answer) str(k string) string       { s, _ := a.m[k].(string); return s }
func (a answer) num(k string) int64        { return num(a.m, k) }
func (a answer) list(k string) []any       { l, _ := a.m[k].([]any); return l }
func num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

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
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer r.Body.Close()
	a := answer{status: r.StatusCode}
	a.raw, _ = io.ReadAll(r.Body)
	json.Unmarshal(a.raw, &a.m)
	return a, nil
}

func (s *server) want(a answer, status int) answer {
	s.t.Helper()
	if a.status != status {
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
		switch a.str("status") {
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
	if a.str("status") != "completed" {
		s.t.Fatalf("job %d ended %s\n%s", id, a, s.logTail(3000))
	}
	return a
}

// jobs lists jobs (newest first) by a query such as "operation=backup".
func (s *server) jobs(query string) []map[string]any {
	s.t.Helper()
	a := s.want(s.api("GET", "/api/v1/jobs?limit=200&"+query, nil), 200)
	var out []map[string]any
	for _, j := range a.list("jobs") {
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
	e, _ := j.m["error"].(map[string]any)
	if j.str("status") != "failed" || e["code"] != "UserErrorInterrupted" || e["action"] == "" {
		s.t.Fatalf("killed job %d after restart = %s, want failed with UserErrorInterrupted", jobID, j)
	}
	var retry int64
	for _, o := range s.jobs("operation=" + j.str("operation")) {
		if num(o, "id") > jobID && o["kind"] == j.m["kind"] && fmt.Sprint(o["item_id"]) == fmt.Sprint(j.m["item_id"]) &&
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
	for _, p := range a.list("recovery_points") {
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
