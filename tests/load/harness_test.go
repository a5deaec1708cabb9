package load

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim"
)

// The helpers below follow tests/crash/harness_test.go (copied, not
// shared: a test package cannot import another's _test files).

// bin is the sqlvault binary TestMain builds once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "load-bin-")
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
	adminPW = "Load-Admin-Pw1"
	saPW    = "Sa-Passw0rd!"
)

// server is the `sqlvault serve` child.
type server struct {
	t          *testing.T
	data       string
	addr       string
	deviceAddr string
	deviceIP   string
	devicePort int
	deviceName string
	token      string
	client     *http.Client

	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu      sync.Mutex
	log     bytes.Buffer // the child's stdout and stderr, last logCap bytes
	errLogs []string     // level=ERROR lines
}

const logCap = 1 << 20

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
// port SQL Server requires), else a free port the instances are told to
// allow. The range differs from tests/crash's and tests/faults'.
func deviceListenAddr(t *testing.T) (string, int) {
	for i := 0; i < 50; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", 30+os.Getpid()%50, 2+i)
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
		addr:   fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.deviceAddr = fmt.Sprintf("%s:%d", ip, port)
	out, err := exec.Command(bin, "token", "create", "--data", s.data, "--name", "load-suite", "--role", "admin").Output()
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

// logWriter keeps the tail of the child's output and every ERROR line.
type logWriter struct {
	s    *server
	line []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.log.Len() > 2*logCap {
		tail := append([]byte(nil), w.s.log.Bytes()[w.s.log.Len()-logCap:]...)
		w.s.log.Reset()
		w.s.log.Write(tail)
	}
	w.s.log.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		if l := string(w.line[:i]); strings.Contains(l, "level=ERROR") {
			w.s.errLogs = append(w.s.errLogs, l)
		}
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

// start runs `sqlvault serve` with extra flags and waits until /healthz
// answers.
func (s *server) start(extra ...string) {
	s.t.Helper()
	args := append([]string{"serve", "--data", s.data, "--addr", s.addr, "--device-addr", s.deviceAddr, "--device-name", s.deviceName}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "SQLVAULT_ADMIN_PASSWORD="+adminPW)
	w := &logWriter{s: s}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() { s.err = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			s.t.Fatalf("serve exited at start: %v\n%s", s.err, s.logTail(4000))
		default:
		}
		if r, err := s.client.Get("http://" + s.addr + "/healthz"); err == nil {
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
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Fatal("serve did not stop on SIGTERM within 30s")
	}
	s.cmd = nil
}

// procStatus reads a field of /proc/PID/status in bytes (VmHWM, VmRSS).
func (s *server) procStatus(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

func (s *server) vault(sub string) (string, error) {
	out, err := exec.Command(bin, "vault", sub, "--data", s.data).CombinedOutput()
	return string(out), err
}

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

// sim starts a simulated instance wired to the server's device; its
// state stays in memory.
func (s *server) sim(cfg sqlsim.Config) *sqlsim.Instance {
	s.t.Helper()
	cfg.SAPassword = saPW
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

func (a answer) String() string            { return fmt.Sprintf("%d %.500s", a.status, a.raw) }
func (a answer) str(k string) string       { s, _ := a.m[k].(string); return s }
func (a answer) num(k string) int64        { return num(a.m, k) }
func (a answer) list(k string) []any       { l, _ := a.m[k].([]any); return l }
func num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

// try calls the JSON API with the admin token; safe from any goroutine.
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
	r, err := s.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer r.Body.Close()
	a := answer{status: r.StatusCode}
	a.raw, err = io.ReadAll(r.Body)
	if err != nil {
		return a, err
	}
	json.Unmarshal(a.raw, &a.m)
	return a, nil
}

// api is try for the test goroutine: any error fails the test.
func (s *server) api(method, path string, body any, status int) answer {
	s.t.Helper()
	a, err := s.try(method, path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.status != status {
		s.t.Fatalf("%s %s = %s, want %d", method, path, a, status)
	}
	return a
}

// waitJob polls a job until it ends, from the test goroutine.
func (s *server) waitJob(id int64, d time.Duration) answer {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		a := s.api("GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, 200)
		switch a.str("status") {
		case "completed", "failed", "cancelled":
			return a
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d did not end within %v: %s", id, d, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
