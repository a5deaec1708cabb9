package sqlsim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sqlvault/sqlvault/sqlsim/blob/blobtest"
)

// listIDs is the ids of a block list text, in order.
func listIDs(text string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<Latest>([^<]*)</Latest>`).FindAllStringSubmatch(text, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestBlockListFormByHost: SQL Server on Windows sends Put Block List as
// UTF-16LE (with a BOM only when asked), on Linux as UTF-8 bytes that
// declare utf-16; the endpoint commits each, and the ids are the blocks
// sent, in order.
func TestBlockListFormByHost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		prefix []byte // the body's first bytes
	}{
		{"windows", nil, []byte("<\x00?\x00x\x00m\x00l\x00")},
		{"windows with BOM", func(c *Config) { c.BlockListBOM = true }, []byte("\xff\xfe<\x00?\x00")},
		{"linux", func(c *Config) { c.HostOS = HostLinux }, []byte(`<?xml version="1.0" encoding="utf-16"?>`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHTTPSSim(t, blobtest.Options{}, tc.edit)
			exec(t, h.db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
			h.ep.ResetRequests()
			exec(t, h.db, "BACKUP DATABASE Sales TO URL = N'"+h.container+"/form.bak' WITH MAXTRANSFERSIZE = 65536")
			var sent []string
			var body []byte
			for _, r := range h.ep.Requests() {
				switch r.Comp {
				case "block":
					sent = append(sent, r.BlockID)
				case "blocklist":
					body = r.ListBody
					if r.Status != 201 {
						t.Fatalf("Put Block List answered %d", r.Status)
					}
				}
			}
			if !bytes.HasPrefix(body, tc.prefix) {
				t.Fatalf("body starts % x, want % x", body[:min(len(body), 16)], tc.prefix)
			}
			text := string(body)
			if tc.prefix[1] == 0 || tc.prefix[0] == 0xff {
				text = decodeUTF16LE(t, bytes.TrimPrefix(body, []byte("\xff\xfe")))
			} else if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
				t.Fatal("the Linux form is not plain UTF-8")
			}
			if !strings.HasPrefix(text, `<?xml version="1.0" encoding="utf-16"?><BlockList>`) {
				t.Fatalf("text %.60q, want the utf-16 declaration and BlockList", text)
			}
			if got := listIDs(text); strings.Join(got, ",") != strings.Join(sent, ",") || len(got) < 2 {
				t.Fatalf("block list names %v, want the blocks sent %v", got, sent)
			}
			exec(t, h.db, "RESTORE VERIFYONLY FROM URL = N'"+h.container+"/form.bak'")
		})
	}
}

func decodeUTF16LE(t *testing.T, b []byte) string {
	t.Helper()
	if len(b)%2 != 0 {
		t.Fatalf("UTF-16 body of odd length %d", len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// TestRestoreLease: every form of RESTORE takes SQL Server's restore lease
// before reading and releases it after, also when the read fails; a lease
// left by a restore that died does not block the next one.
func TestRestoreLease(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, nil)
	exec(t, h.db, "INSERT INTO Sales.dbo.orders (id) VALUES (1), (2)")
	u := h.container + "/lease.bak"
	exec(t, h.db, "BACKUP DATABASE Sales TO URL = N'"+u+"' WITH MAXTRANSFERSIZE = 65536")
	for _, q := range []string{
		"RESTORE HEADERONLY FROM URL = N'" + u + "'",
		"RESTORE FILELISTONLY FROM URL = N'" + u + "'",
		"RESTORE VERIFYONLY FROM URL = N'" + u + "'",
		"RESTORE DATABASE Sales2 FROM URL = N'" + u + "' WITH MOVE N'Sales' TO N'/d/l2.mdf', MOVE N'Sales_log' TO N'/d/l2.ldf'",
	} {
		h.ep.ResetRequests()
		exec(t, h.db, q)
		checkRestoreRequests(t, h.ep.Requests(), "sqlvault/lease.bak", !strings.Contains(q, "HEADERONLY") && !strings.Contains(q, "FILELISTONLY"))
		if h.ep.Leased("sqlvault/lease.bak") {
			t.Fatalf("%s left the lease", q)
		}
	}

	// A read fails half way: the statement fails and still releases.
	h.ep.Fail(func(r blobtest.Request) int {
		if r.Method == "GET" && !strings.HasPrefix(r.Range, "bytes=0-") {
			return 500
		}
		return 0
	})
	wantFailure(t, h.db, "RESTORE VERIFYONLY FROM URL = N'"+u+"'", []int32{3013}, "")
	h.ep.Fail(nil)
	if h.ep.Leased("sqlvault/lease.bak") {
		t.Fatal("a failed restore left its lease")
	}

	// A restore that died left the restore lease: the next acquires it again.
	h.ep.Lease("sqlvault/lease.bak", "BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2")
	exec(t, h.db, "RESTORE VERIFYONLY FROM URL = N'"+u+"'")
	if h.ep.Leased("sqlvault/lease.bak") {
		t.Fatal("the restore did not release the lease it re-acquired")
	}
	// Another holder's lease (a backup still writing) blocks the restore.
	h.ep.Lease("sqlvault/lease.bak", "11111111-2222-3333-4444-555555555555")
	wantFailure(t, h.db, "RESTORE VERIFYONLY FROM URL = N'"+u+"'", []int32{3201, 3013}, "(409)")
}

// TestLinuxTrustStore: SQL Server on Linux trusts only the CAs in its store
// directory, read at start. Given the device CA through the OS store only,
// BACKUP TO URL fails with the certificate error SQL Server on Linux
// reports; a CA placed in the store counts after a restart, not before.
func TestLinuxTrustStore(t *testing.T) {
	ep, err := blobtest.Start(blobtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	dir := t.TempDir()
	linux := func(c *Config) {
		c.Blobs, c.HostOS, c.TrustCA = nil, HostLinux, ep.CAPool // the OS store holds the CA
		c.Hosts, c.AllowedDevicePort = ep.Hosts(), ep.Port
	}
	s := startSimWith(t, dir, linux)
	db := s.db(t, "sa", "Sa-Passw0rd!")
	container := ep.ContainerURL("sqlvault")
	setupSales(t, db, container, ep.SAS)
	backup := "BACKUP DATABASE Sales TO URL = N'" + container + "/linux.bak'"
	wantFailure(t, db, backup, []int32{3201, 3013}, "Operating system error 12175(failed to retrieve text for this error. Reason: 15105)")

	store := s.CAStoreDir()
	if store != filepath.Join(dir, "security", "ca-certificates") {
		t.Fatalf("store %s, want DATA/security/ca-certificates", store)
	}
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "device-ca.crt"), ep.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, db, backup, []int32{3201, 3013}, "12175") // read at start only
	db.Close()
	s.Close()

	s = startSimWith(t, dir, linux)
	db = s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, backup)

	// A Windows host trusts the OS store and ignores the Linux directory.
	os.RemoveAll(store)
	w := startSimWith(t, t.TempDir(), func(c *Config) { linux(c); c.HostOS = HostWindows })
	wdb := w.db(t, "sa", "Sa-Passw0rd!")
	setupSales(t, wdb, container, ep.SAS)
	exec(t, wdb, "BACKUP DATABASE Sales TO URL = N'"+container+"/windows.bak'")
	n := startSimWith(t, t.TempDir(), func(c *Config) { linux(c); c.HostOS = HostWindows; c.TrustCA = x509.NewCertPool() })
	ndb := n.db(t, "sa", "Sa-Passw0rd!")
	setupSales(t, ndb, container, ep.SAS)
	wantFailure(t, ndb, "BACKUP DATABASE Sales TO URL = N'"+container+"/untrusted.bak'", []int32{3201, 3013}, "certificate is not trusted")
}

// TestHostViews: @@VERSION and sys.dm_os_host_info name the host.
func TestHostViews(t *testing.T) {
	for _, tc := range []struct{ os, banner, platform, distribution, release string }{
		{HostWindows, "Developer Edition (64-bit) on Windows Server 2022", "Windows", "Windows Server 2022 Standard", "10.0"},
		{HostLinux, "Developer Edition (64-bit) on Linux (Ubuntu 22.04", "Linux", "Ubuntu", "22.04"},
	} {
		s := startSimWith(t, "", func(c *Config) { c.HostOS = tc.os })
		db := s.db(t, "sa", "Sa-Passw0rd!")
		var v, platform, dist, release, sp string
		var sku *int64
		var lcid int64
		if err := db.QueryRow("SELECT @@VERSION").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(v, "Microsoft SQL Server 2022") || !strings.Contains(v, tc.banner) {
			t.Fatalf("%s: @@VERSION %q, want %q", tc.os, v, tc.banner)
		}
		if err := db.QueryRow("SELECT host_platform, host_distribution, host_release, host_service_pack_level, host_sku, os_language_version FROM sys.dm_os_host_info").
			Scan(&platform, &dist, &release, &sp, &sku, &lcid); err != nil {
			t.Fatal(err)
		}
		if platform != tc.platform || dist != tc.distribution || release != tc.release || sp != "" || (sku == nil) != (tc.os == HostLinux) || lcid != 1033 {
			t.Fatalf("%s: dm_os_host_info %q %q %q %q %v %d", tc.os, platform, dist, release, sp, sku, lcid)
		}
	}
}

// TestHostOSFlag: --host-os takes windows or linux; as linux, --trust-ca
// copies the file into the instance's CA store.
func TestHostOSFlag(t *testing.T) {
	if _, err := ParseHostOS("solaris"); err == nil {
		t.Fatal("--host-os solaris accepted")
	}
	if err := Main(context.Background(), []string{"--sa-password", "x", "--host-os", "macos"}, &bytes.Buffer{}); err == nil {
		t.Fatal("Main accepted --host-os macos")
	}
	ep, err := blobtest.Start(blobtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	dir := t.TempDir()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, ep.CAPEM, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	out := &signalWriter{ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--data", dir, "--sa-password", "Sa-Passw0rd!", "--host-os", "linux", "--trust-ca", ca}, out)
	}()
	select {
	case <-out.ready:
	case err := <-done:
		t.Fatalf("Main: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "security", "ca-certificates"))
	if len(entries) != 1 {
		t.Fatalf("store holds %d files, want the trusted CA", len(entries))
	}
	got, _ := os.ReadFile(filepath.Join(dir, "security", "ca-certificates", entries[0].Name()))
	if !bytes.Equal(got, ep.CAPEM) {
		t.Fatal("the store's file is not the --trust-ca file")
	}
}

type signalWriter struct {
	once  sync.Once
	ready chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ready) })
	return len(p), nil
}

// TestRestoreCorrectnessOverHTTPSAsLinux runs the point-in-time scenario
// with sqlsim playing SQL Server on Linux: UTF-8 block lists declaring
// utf-16, the CA from its own store, the restore lease on every read.
func TestRestoreCorrectnessOverHTTPSAsLinux(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, func(c *Config) { c.HostOS = HostLinux })
	pointInTimeScenario(t, h.sim, h.db, h.container)
	for _, r := range h.ep.Requests() {
		if r.Comp == "blocklist" && bytes.IndexByte(r.ListBody, 0) >= 0 {
			t.Fatalf("a Linux block list holds NUL bytes (UTF-16): % x", r.ListBody[:16])
		}
		if r.LeaseAction == "Acquire" && r.Method == "PUT" && r.ProposedID != "" && r.ProposedID != "BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2" {
			t.Fatalf("restore proposed lease %s", r.ProposedID)
		}
	}
	for _, name := range h.ep.BlobNames() {
		if h.ep.Leased(name) {
			t.Fatalf("%s is still leased after the scenario", name)
		}
	}
}
