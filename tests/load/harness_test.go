package load

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim"
	"github.com/sqlvault/sqlvault/tests/childserve"
)

// bin is the sqlvault binary TestMain builds once.
var bin string

func TestMain(m *testing.M) { os.Exit(childserve.Main(m, &bin)) }

const (
	adminPW = "Load-Admin-Pw1"
	saPW    = childserve.SAPassword
)

type answer = childserve.Answer

var num = childserve.Num

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

	proc *childserve.Proc
	cmd  *exec.Cmd // the running child, nil when none

	mu      sync.Mutex
	log     bytes.Buffer // the child's stdout and stderr, last logCap bytes
	errLogs []string     // level=ERROR lines
}

const logCap = 1 << 20

func newServer(t *testing.T, deviceName string) *server {
	t.Helper()
	ip, port := childserve.DeviceAddr(t, 30)
	s := &server{t: t, data: t.TempDir(), deviceIP: ip, devicePort: port, deviceName: deviceName,
		addr:   fmt.Sprintf("127.0.0.1:%d", childserve.FreePort(t, "127.0.0.1")),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.deviceAddr = fmt.Sprintf("%s:%d", ip, port)
	s.token = childserve.Token(t, bin, s.data, "load-suite")
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
	args := append(append([]string{"serve", "--data", s.data, "--addr", s.addr, "--device-name", s.deviceName}, childserve.DeviceFlags(s.deviceIP, s.devicePort)...), extra...)
	p, err := childserve.Start(bin, args, []string{"SQLVAULT_ADMIN_PASSWORD=" + adminPW}, &logWriter{s: s})
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc, s.cmd = p, p.Cmd
	childserve.WaitHealthy(s.t, s.client, s.addr, p, func() string { return s.logTail(4000) })
}

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
	ok := s.proc.Stop(30 * time.Second)
	s.cmd = nil
	if !ok {
		s.t.Fatal("serve did not stop on SIGTERM within 30s")
	}
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

func (s *server) vault(sub string) (string, error) { return childserve.Vault(bin, s.data, sub) }

// sim starts a simulated instance wired to the server's device; its
// state stays in memory.
func (s *server) sim(cfg sqlsim.Config) *sqlsim.Instance {
	s.t.Helper()
	return childserve.Sim(s.t, cfg, s.data, s.deviceName, s.deviceIP, s.devicePort)
}

// try calls the JSON API with the admin token; safe from any goroutine.
func (s *server) try(method, path string, body any) (answer, error) {
	return childserve.Call(s.client, s.addr, s.token, method, path, body)
}

// api is try for the test goroutine: any error fails the test.
func (s *server) api(method, path string, body any, status int) answer {
	s.t.Helper()
	a, err := s.try(method, path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.Status != status {
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
		switch a.Str("status") {
		case "completed", "failed", "cancelled":
			return a
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d did not end within %v: %s", id, d, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
