// Package enginetest starts the real data path for tests: a vault in a
// temporary directory, the virtual device on its own loopback address, and
// simulated SQL Server instances that resolve the device's name to it and
// trust its CA, as a SQL Server host configured for sqlvault would.
package enginetest

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// Env is a running data path.
type Env struct {
	Vault      *vault.Vault
	Device     *vdi.Device
	DeviceName string
	DeviceIP   string
	DevicePort int // 443 when it could be bound
	t          testing.TB
}

var nextIP atomic.Int32

// listenDevice binds 127.0.0.x:443 (SQL Server's rule) or, when that is
// not allowed, a free port that the simulated instances are told to accept.
func listenDevice() (net.Listener, string, int) {
	for i := 0; i < 20; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", 10+nextIP.Load()/200, 2+nextIP.Add(1)%200)
		if l, err := net.Listen("tcp", ip+":443"); err == nil {
			return l, ip, 443
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return l, "127.0.0.1", l.Addr().(*net.TCPAddr).Port
}

// Options tune StartWith.
type Options struct {
	// WrapBackend, when set, wraps the vault's directory backend, e.g. to
	// inject storage faults.
	WrapBackend func(vault.Backend) vault.Backend
}

// Start starts a vault and a device.
func Start(t testing.TB) *Env { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	dir, err := vault.NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var b vault.Backend = dir
	if o.WrapBackend != nil {
		b = o.WrapBackend(dir)
	}
	v, err := vault.Create(ctx, b, []byte("enginetest passphrase"), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, ip, port := listenDevice()
	name := "vault" + strconv.Itoa(int(nextIP.Add(1))) + ".sqlvault.test"
	d, err := vdi.New(vdi.Config{Name: name, CertDir: t.TempDir(), Store: vdi.VaultStore{V: v}, Key: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	d.Listening(l)
	go d.Serve(l)
	t.Cleanup(func() { d.Shutdown(context.Background()); v.Close() })
	return &Env{Vault: v, Device: d, DeviceName: name, DeviceIP: ip, DevicePort: port, t: t}
}

// Coordinator starts a coordinator over catalog and this data path, with a
// fast queue poll and a zero server key; mod, if set, changes the config
// first. It is stopped when the test ends.
func (e *Env) Coordinator(catalog *db.DB, mod func(*coordinator.Config)) *coordinator.Coordinator {
	e.t.Helper()
	box, _ := secret.New(make([]byte, 32))
	cfg := coordinator.Config{DB: catalog, Vault: e.Vault, Device: e.Device, DeviceName: e.DeviceName,
		Secrets: box, Poll: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c := coordinator.New(cfg)
	if err := c.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Stop)
	return c
}

// SimConfig is a sqlsim config wired to the device.
func (e *Env) SimConfig(saPassword string) sqlsim.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.Device.CACertPEM())
	cfg := sqlsim.Config{SAPassword: saPassword, DataDir: e.t.TempDir(), TrustCA: pool,
		Hosts: map[string]string{e.DeviceName: e.DeviceIP}}
	if e.DevicePort != 443 {
		cfg.AllowedDevicePort = e.DevicePort
	}
	return cfg
}

// StartSim starts a simulated instance wired to the device.
func (e *Env) StartSim(cfg sqlsim.Config) *sqlsim.Instance {
	e.t.Helper()
	in, err := sqlsim.Start(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { in.Close() })
	return in
}

// Target is how the plugin reaches an instance as sa.
func Target(in *sqlsim.Instance, user, password string) mssql.Target {
	return mssql.Target{Host: "127.0.0.1", Port: in.Port(), User: user, Password: password, Encrypt: "disable"}
}

// Clock is a settable fake clock for the catalog, the coordinator and the
// simulated hosts of a test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
