package sqlsim

import (
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/blob/blobtest"
)

// httpsSim is an instance that reaches a blobtest endpoint over HTTPS,
// trusting its certificate, with the endpoint's name in its hosts file and
// its port allowed (the endpoint cannot listen on 443 in a test).
type httpsSim struct {
	*sim
	ep        *blobtest.Server
	db        *sql.DB
	container string
}

func startHTTPSSim(t *testing.T, o blobtest.Options, edit func(*Config)) *httpsSim {
	t.Helper()
	ep, err := blobtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	s := startSimWith(t, "", func(c *Config) {
		c.Blobs = nil // HTTPS, as SQL Server
		c.TrustCA = ep.CAPool
		c.Hosts = ep.Hosts()
		c.AllowedDevicePort = ep.Port
		if edit != nil {
			edit(c)
		}
		if isLinux(*c) && c.TrustCAPEM == nil {
			c.TrustCAPEM = ep.CAPEM // in the Linux store, as the permission script puts it
		}
	})
	db := s.db(t, "sa", "Sa-Passw0rd!")
	h := &httpsSim{sim: s, ep: ep, db: db, container: ep.ContainerURL("sqlvault")}
	setupSales(t, db, h.container, ep.SAS)
	return h
}

// TestRestoreCorrectnessOverHTTPS runs the point-in-time scenario against
// an HTTPS block blob endpoint: rows at known times, full, differential and
// log backups, restores under new names with and without STOPAT.
func TestRestoreCorrectnessOverHTTPS(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, nil)
	pointInTimeScenario(t, h.sim, h.db, h.container)
	if names := h.ep.BlobNames(); len(names) != 5 {
		t.Fatalf("blobs %v, want the 5 backups", names)
	}
}

// TestBackupToURLRequestSequence checks the requests of BACKUP TO URL and
// RESTORE FROM URL: Put Blob, Lease Acquire (infinite), Put Block of
// MAXTRANSFERSIZE bytes with the lease id, Put Block List with the lease
// id, Lease Release; every request carries the credential's SAS as its
// query string; RESTORE reads with HEAD then ranged GETs.
func TestBackupToURLRequestSequence(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, nil)
	exec(t, h.db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
	h.ep.ResetRequests()
	exec(t, h.db, "BACKUP DATABASE Sales TO URL = N'"+h.container+"/seq.bak' WITH MAXTRANSFERSIZE = 65536, BLOCKSIZE = 65536, BUFFERCOUNT = 4, FORMAT, INIT, CHECKSUM")
	reqs := h.ep.Requests()
	if len(reqs) < 5 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.Query.Get("sig") != "sqlsim-test" || r.Query.Get("sp") != "rwdl" || r.Version == "" || r.Blob != "sqlvault/seq.bak" {
			t.Fatalf("request %+v lacks the SAS, x-ms-version or the blob", r)
		}
		if r.Status >= 300 {
			t.Fatalf("request %+v failed", r)
		}
	}
	first, acq := reqs[0], reqs[1]
	if first.Method != "PUT" || first.Comp != "" || first.BlobType != "BlockBlob" || first.Size != 0 {
		t.Fatalf("first request %+v, want Put Blob of an empty BlockBlob", first)
	}
	if acq.Method != "PUT" || acq.Comp != "lease" || acq.LeaseAction != "Acquire" || acq.LeaseDur != "-1" {
		t.Fatalf("second request %+v, want Lease Blob Acquire, infinite", acq)
	}
	blocks := reqs[2 : len(reqs)-2]
	var lease string
	idLen := -1
	for i, r := range blocks {
		if r.Method != "PUT" || r.Comp != "block" || r.LeaseID == "" {
			t.Fatalf("request %d: %+v, want Put Block with the lease id", i+2, r)
		}
		if lease == "" {
			lease = r.LeaseID
		}
		if r.LeaseID != lease {
			t.Fatalf("Put Block %d carries lease %s, want %s", i, r.LeaseID, lease)
		}
		raw, err := base64.StdEncoding.DecodeString(r.BlockID)
		if err != nil || (idLen >= 0 && len(raw) != idLen) {
			t.Fatalf("block id %q: ids must be Base64 of equal length", r.BlockID)
		}
		idLen = len(raw)
		if i < len(blocks)-1 && r.Size != 65536 {
			t.Fatalf("Put Block %d has %d bytes, want MAXTRANSFERSIZE 65536", i, r.Size)
		}
	}
	list, rel := reqs[len(reqs)-2], reqs[len(reqs)-1]
	if list.Comp != "blocklist" || list.LeaseID != lease {
		t.Fatalf("request %+v, want Put Block List with the lease id", list)
	}
	if rel.Comp != "lease" || rel.LeaseAction != "Release" || rel.LeaseID != lease {
		t.Fatalf("last request %+v, want Lease Blob Release", rel)
	}
	data, ok := h.ep.Blob("sqlvault/seq.bak")
	if !ok || int64(len(data)) != int64(len(blocks)-1)*65536+blocks[len(blocks)-1].Size {
		t.Fatalf("committed blob of %d bytes from %d blocks", len(data), len(blocks))
	}
	if h.ep.Leased("sqlvault/seq.bak") {
		t.Fatal("the lease was not released")
	}
	var size, written int64
	if err := h.db.QueryRow("SELECT backup_size, compressed_backup_size FROM msdb.dbo.backupset WHERE database_name = 'Sales'").Scan(&size, &written); err != nil {
		t.Fatal(err)
	}
	if size%8192 != 0 || written != int64(len(data)) {
		t.Fatalf("backup_size %d (want whole pages), compressed_backup_size %d (want the %d bytes sent)", size, written, len(data))
	}

	h.ep.ResetRequests()
	exec(t, h.db, "RESTORE VERIFYONLY FROM URL = N'"+h.container+"/seq.bak'")
	checkRestoreRequests(t, h.ep.Requests(), "sqlvault/seq.bak", true)
}

// checkRestoreRequests: a RESTORE takes the restore lease (infinite, id
// BAC2…), reads the properties (HEAD), reads with ranged GETs when body
// is set, and releases the lease last.
func checkRestoreRequests(t *testing.T, reqs []blobtest.Request, name string, body bool) {
	t.Helper()
	if len(reqs) < 3 {
		t.Fatalf("RESTORE sent %d requests: %+v", len(reqs), reqs)
	}
	acq, head, rel := reqs[0], reqs[1], reqs[len(reqs)-1]
	if acq.Method != "PUT" || acq.Comp != "lease" || acq.LeaseAction != "Acquire" || acq.LeaseDur != "-1" ||
		acq.ProposedID != "BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2" || acq.Status != 201 {
		t.Fatalf("RESTORE starts with %+v, want Lease Blob Acquire, infinite, proposing BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2", acq)
	}
	if head.Method != "HEAD" || head.Status != 200 {
		t.Fatalf("RESTORE then sends %+v, want HEAD (Get Blob Properties)", head)
	}
	gets := reqs[2 : len(reqs)-1]
	if body && len(gets) == 0 {
		t.Fatal("RESTORE read nothing")
	}
	for _, r := range gets {
		if r.Method != "GET" || !strings.HasPrefix(r.Range, "bytes=") || r.Status != 206 || r.Query.Get("sig") != "sqlsim-test" {
			t.Fatalf("RESTORE read %+v, want ranged GETs with the SAS", r)
		}
	}
	if rel.Comp != "lease" || rel.LeaseAction != "Release" || rel.LeaseID != acq.ProposedID || rel.Status != 200 {
		t.Fatalf("RESTORE ends with %+v, want Lease Blob Release of the restore lease", rel)
	}
	for _, r := range reqs {
		if r.Blob != name {
			t.Fatalf("request %+v is not for %s", r, name)
		}
	}
}

// TestStripedBackupOverHTTPS: several URLs each get their own blob and
// lease; the restore reads them all.
func TestStripedBackupOverHTTPS(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, nil)
	exec(t, h.db, "INSERT INTO Sales.dbo.orders (id) VALUES (1), (2)")
	u := func(n string) string { return "URL = N'" + h.container + "/" + n + "'" }
	exec(t, h.db, "BACKUP DATABASE Sales TO "+u("s1.bak")+", "+u("s2.bak")+", "+u("s3.bak")+" WITH MAXTRANSFERSIZE = 65536, COMPRESSION, STATS = 50")
	leases := map[string]string{}
	for _, r := range h.ep.Requests() {
		if r.LeaseAction == "Acquire" {
			leases[r.Blob] = "acquired"
		}
	}
	if len(leases) != 3 {
		t.Fatalf("leases %v, want one per stripe", leases)
	}
	exec(t, h.db, "RESTORE DATABASE Sales2 FROM "+u("s1.bak")+", "+u("s2.bak")+", "+u("s3.bak")+" WITH BLOCKSIZE = 65536, MOVE N'Sales' TO N'/d/s2.mdf', MOVE N'Sales_log' TO N'/d/s2.ldf'")
	if n := count(t, h.db, "SELECT COUNT(*) FROM Sales2.dbo.orders"); n != 2 {
		t.Fatalf("Sales2 has %d rows", n)
	}
	var fams int
	h.db.QueryRow("SELECT COUNT(*) FROM msdb.dbo.backupmediafamily").Scan(&fams)
	if fams != 3 {
		t.Fatalf("backupmediafamily has %d rows, want 3", fams)
	}
}

func wantFailure(t *testing.T, db *sql.DB, q string, nums []int32, text string) {
	t.Helper()
	_, err := db.Exec(q)
	for _, n := range nums {
		if !hasNumber(err, n) {
			t.Fatalf("%s:\n%v\nwant error %d", q, err, n)
		}
	}
	t.Logf("%s\n  -> %v", q, allMessages(err))
	if text != "" && !strings.Contains(fmt.Sprint(allMessages(err)), text) {
		t.Fatalf("%s:\n%v\nwant the message to name %q", q, allMessages(err), text)
	}
}

func allMessages(err error) []string {
	var out []string
	if me := mssqlErr(err); me != nil {
		for _, a := range me.All {
			out = append(out, fmt.Sprintf("%d: %s", a.Number, a.Message))
		}
	}
	if len(out) == 0 && err != nil {
		out = append(out, err.Error())
	}
	return out
}

// TestURLRulesAndDeviceFailures: SQL Server's URL rules and what HTTP and
// TLS failures look like (3201 naming the cause, then 3013).
func TestURLRulesAndDeviceFailures(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, nil)
	b := func(u string) string { return "BACKUP DATABASE Sales TO URL = N'" + u + "'" }
	wantFailure(t, h.db, b(fmt.Sprintf("https://127.0.0.1:%d/sqlvault/ip.bak", h.ep.Port)), []int32{3201, 3013}, "IP address")
	wantFailure(t, h.db, b(fmt.Sprintf("https://%s:%d/sqlvault/port.bak", h.ep.Name, h.ep.Port+1)), []int32{3201, 3013}, "port")
	wantFailure(t, h.db, b(fmt.Sprintf("http://%s:%d/sqlvault/http.bak", h.ep.Name, h.ep.Port)), []int32{3201, 3013}, "https")
	wantFailure(t, h.db, b(h.ep.ContainerURL("other")+"/nocred.bak"), []int32{3201, 3013}, "credential")

	// The endpoint refuses the SAS: 403 named in the message.
	exec(t, h.db, "ALTER CREDENTIAL ["+h.container+"] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2022-11-02&sr=c&sp=rwdl&sig=wrong'")
	wantFailure(t, h.db, b(h.container+"/badsas.bak"), []int32{3201, 3013}, "(403)")
	exec(t, h.db, "ALTER CREDENTIAL ["+h.container+"] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '"+h.ep.SAS+"'")

	// A Put Block failing mid-stream: nothing is committed, the lease is
	// released, msdb records nothing.
	h.ep.Fail(func(r blobtest.Request) int {
		if r.Comp == "block" && r.BlockID != "" && strings.HasSuffix(decoded(r.BlockID), "3") {
			return 500
		}
		return 0
	})
	wantFailure(t, h.db, b(h.container+"/midway.bak")+" WITH MAXTRANSFERSIZE = 65536", []int32{3201, 3013}, "(500)")
	h.ep.Fail(nil)
	if _, ok := h.ep.Blob("sqlvault/midway.bak"); ok {
		if d, _ := h.ep.Blob("sqlvault/midway.bak"); len(d) != 0 {
			t.Fatal("a failed backup left a committed blob with data")
		}
	}
	if h.ep.Leased("sqlvault/midway.bak") {
		t.Fatal("a failed backup left its lease")
	}
	// SQL Server cleans up the invalid blob: Delete Blob with the lease id.
	if !sentDelete(h.ep, "sqlvault/midway.bak", 202) || len(h.ep.BlobNames()) != 0 {
		t.Fatalf("a failed backup did not delete its blob: %v", h.ep.BlobNames())
	}
	// A device that refuses the delete: the lease is released instead.
	h.ep.Fail(func(r blobtest.Request) int {
		if r.Method == "DELETE" || (r.Comp == "block" && strings.HasSuffix(decoded(r.BlockID), "3")) {
			return 403
		}
		return 0
	})
	wantFailure(t, h.db, b(h.container+"/kept.bak")+" WITH MAXTRANSFERSIZE = 65536", []int32{3201, 3013}, "(403)")
	h.ep.Fail(nil)
	if !sentDelete(h.ep, "sqlvault/kept.bak", 403) || h.ep.Leased("sqlvault/kept.bak") {
		t.Fatal("after a refused delete the failed backup kept its lease")
	}
	if n := count(t, h.db, "SELECT COUNT(*) FROM msdb.dbo.backupset"); n != 0 {
		t.Fatalf("msdb has %d backup sets after failures", n)
	}
	// RESTORE of a blob that does not exist.
	wantFailure(t, h.db, "RESTORE HEADERONLY FROM URL = N'"+h.container+"/missing.bak'", []int32{3201, 3013}, "(404)")
	exec(t, h.db, b(h.container+"/ok.bak"))
}

func sentDelete(ep *blobtest.Server, name string, status int) bool {
	for _, r := range ep.Requests() {
		if r.Method == "DELETE" && r.Blob == name && r.LeaseID != "" && r.Status == status {
			return true
		}
	}
	return false
}

func decoded(id string) string {
	b, _ := base64.StdEncoding.DecodeString(id)
	return string(b)
}

// TestCertificateRules: the certificate must chain to a trusted CA and be
// valid for the URL's name.
func TestCertificateRules(t *testing.T) {
	t.Run("untrusted", func(t *testing.T) {
		h := startHTTPSSim(t, blobtest.Options{}, func(c *Config) { c.TrustCA = x509.NewCertPool() })
		wantFailure(t, h.db, "BACKUP DATABASE Sales TO URL = N'"+h.container+"/x.bak'", []int32{3201, 3013}, "certificate")
	})
	t.Run("wrong name", func(t *testing.T) {
		h := startHTTPSSim(t, blobtest.Options{Name: "backup.sqlsim.test", CertNames: []string{"other.sqlsim.test"}}, nil)
		wantFailure(t, h.db, "BACKUP DATABASE Sales TO URL = N'"+h.container+"/x.bak'", []int32{3201, 3013}, "certificate")
	})
	t.Run("unresolvable", func(t *testing.T) {
		h := startHTTPSSim(t, blobtest.Options{}, func(c *Config) { c.Hosts = nil })
		_, err := h.db.Exec("BACKUP DATABASE Sales TO URL = N'" + h.container + "/x.bak'")
		if !hasNumber(err, 3201) || !hasNumber(err, 3013) {
			t.Fatalf("unresolvable name: %v", allMessages(err))
		}
		if strings.Contains(fmt.Sprint(allMessages(err)), "sig=") {
			t.Fatalf("the message reveals the SAS: %v", allMessages(err))
		}
	})
}

// TestFaultKnobs: Config.Fault cuts the client connection at a percent of a
// backup and slows the device.
func TestFaultKnobs(t *testing.T) {
	h := startHTTPSSim(t, blobtest.Options{}, func(c *Config) {
		c.Fault = Fault{CutAtPercent: 50}
		c.SyntheticDatabases = []SyntheticDatabase{{Name: "Big", Size: 16 << 20}}
	})
	_, err := h.db.Exec("BACKUP DATABASE Big TO URL = N'" + h.container + "/cut.bak' WITH MAXTRANSFERSIZE = 1048576")
	if err == nil || mssqlErr(err) != nil {
		t.Fatalf("backup with the connection cut: %v, want a connection error", err)
	}
	if d, ok := h.ep.Blob("sqlvault/cut.bak"); ok && len(d) > 0 {
		t.Fatal("a cut backup committed its blob")
	}
	if h.ep.Leased("sqlvault/cut.bak") {
		t.Fatal("a cut backup kept its lease")
	}
	var blocks int
	for _, r := range h.ep.Requests() {
		if r.Comp == "block" && r.Blob == "sqlvault/cut.bak" {
			blocks++
		}
	}
	if blocks < 4 || blocks > 12 {
		t.Fatalf("%d blocks sent before the cut at 50%% of 16 MiB, want about 8", blocks)
	}
	if n := count(t, h.db, "SELECT COUNT(*) FROM msdb.dbo.backupset"); n != 0 {
		t.Fatalf("msdb has %d rows after a cut backup", n)
	}

	const delay = 30 * time.Millisecond
	h.SetFault(Fault{DeviceDelay: delay})
	start := time.Now()
	exec(t, h.db, "BACKUP DATABASE Big TO URL = N'"+h.container+"/slow.bak' WITH MAXTRANSFERSIZE = 4194304")
	if el := time.Since(start); el < 4*delay {
		t.Fatalf("a 16 MiB backup in 4 MiB blocks took %v with a %v device delay, want at least 4 delays", el, delay)
	}
	h.SetFault(Fault{})
	if n := count(t, h.db, "SELECT COUNT(*) FROM msdb.dbo.backupset WHERE database_name = 'Big'"); n != 1 {
		t.Fatalf("msdb has %d rows for Big", n)
	}
}
