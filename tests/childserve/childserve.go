// Package childserve runs the real `sqlvault serve` binary as a child
// process for the suites that must kill or load it (tests/crash,
// tests/load): building the binary once, binding the device where SQL
// Server would reach it, wiring simulated instances to it, and calling
// the JSON API. It is used only by tests.
package childserve

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
	"syscall"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim"
)

// SAPassword is sa's password on the instances Sim starts.
const SAPassword = "Sa-Passw0rd!"

// Main builds the binary into *bin, runs the package's tests, and removes
// the binary: call it from TestMain.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "sqlvault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "sqlvault")
	build := exec.Command("go", "build", "-o", *bin, "github.com/sqlvault/sqlvault")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sqlvault:", err)
		return 1
	}
	return m.Run()
}

// FreePort is a TCP port free on ip now.
func FreePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// DeviceAddr is 127.0.base+x.y:443 when this process may bind it (the port
// SQL Server requires), else a free port the instances are told to allow.
// Suites pick different bases so they never share an address.
func DeviceAddr(t *testing.T, base int) (string, int) {
	for i := 0; i < 50; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", base+os.Getpid()%50, 2+i)
		if l, err := net.Listen("tcp", ip+":443"); err == nil {
			l.Close()
			return ip, 443
		}
	}
	return "127.0.0.1", FreePort(t, "127.0.0.1")
}

// DeviceFlags are the serve flags for a device at ip:port: a port other
// than 443 (when the test may not bind 443) must be told to SQL Server,
// which only a lab setting allows.
func DeviceFlags(ip string, port int) []string {
	f := []string{"--device-addr", fmt.Sprintf("%s:%d", ip, port)}
	if port != 443 {
		f = append(f, "--device-public-port", strconv.Itoa(port), "--lab-any-device-port")
	}
	return f
}

// Token creates an admin API token in a data directory.
func Token(t *testing.T, bin, data, name string) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "create", "--data", data, "--name", name, "--role", "admin").Output()
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 1 {
		t.Fatalf("token create printed no token: %s", out)
	}
	return f[0]
}

// Proc is one run of a child process.
type Proc struct {
	Cmd  *exec.Cmd
	Done chan struct{} // closed when it exits
	Err  error         // its exit, once Done is closed
}

// Start starts bin with args and extra environment, output to w.
func Start(bin string, args, env []string, w io.Writer) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, Done: make(chan struct{})}
	go func() { p.Err = cmd.Wait(); close(p.Done) }()
	return p, nil
}

// Kill sends SIGKILL (a power cut) and waits for the exit.
func (p *Proc) Kill() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.Done
}

// Stop sends SIGTERM and waits up to d; then it kills and reports false.
func (p *Proc) Stop(d time.Duration) bool {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		return true
	case <-time.After(d):
		p.Kill()
		return false
	}
}

// WaitHealthy waits until the portal at addr answers /healthz, failing the
// test if the process exits first or the deadline passes.
func WaitHealthy(t *testing.T, c *http.Client, addr string, p *Proc, logTail func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.Done:
			t.Fatalf("serve exited at start: %v\n%s", p.Err, logTail())
		default:
		}
		if r, err := c.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz in time\n%s", logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CAPool is the device CA a server wrote in its data directory on first
// start: what a SQL Server host is told to trust.
func CAPool(t *testing.T, data string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(data, "device", "device-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("device CA file holds no certificate")
	}
	return pool
}

// Sim starts a simulated instance (sa's password SAPassword) that trusts
// the server's device CA and resolves its name to ip, allowing port when
// it is not 443.
func Sim(t *testing.T, cfg sqlsim.Config, data, deviceName, ip string, port int) *sqlsim.Instance {
	t.Helper()
	cfg.SAPassword = SAPassword
	cfg.TrustCA = CAPool(t, data)
	cfg.Hosts = map[string]string{deviceName: ip}
	if port != 443 {
		cfg.AllowedDevicePort = port
	}
	in, err := sqlsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// Answer is a JSON API answer.
type Answer struct {
	Status int
	Raw    []byte
	M      map[string]any
}

func (a Answer) String() string      { return fmt.Sprintf("%d %.500s", a.Status, a.Raw) }
func (a Answer) Str(k string) string { s, _ := a.M[k].(string); return s }
func (a Answer) Num(k string) int64  { return Num(a.M, k) }
func (a Answer) List(k string) []any { l, _ := a.M[k].([]any); return l }

// Num reads a JSON number of m as an integer.
func Num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

// Call sends a JSON API request with a bearer token.
func Call(c *http.Client, addr, token, method, path string, body any) (Answer, error) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := c.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer r.Body.Close()
	a := Answer{Status: r.StatusCode}
	if a.Raw, err = io.ReadAll(r.Body); err != nil {
		return a, err
	}
	json.Unmarshal(a.Raw, &a.M)
	return a, nil
}

// Vault runs `sqlvault vault SUB` on a stopped server's data directory.
func Vault(bin, data, sub string) (string, error) {
	out, err := exec.Command(bin, "vault", sub, "--data", data).CombinedOutput()
	return string(out), err
}
