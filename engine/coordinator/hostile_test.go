package coordinator_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// tap is the hostile host's view of the wire: a proxy with the device's
// own certificate between SQL Server and the device, recording every
// request SQL Server sends (and so every SAS it was given).
type tap struct {
	mu   sync.Mutex
	seen []*http.Request
}

func (tp *tap) requests() []*http.Request {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.seen)
}

// sasOf is the SAS part of a request's query.
func sasOf(r *http.Request) string {
	q, out := r.URL.Query(), url.Values{}
	for _, k := range []string{"sv", "sr", "si", "sp", "se", "sig"} {
		out.Set(k, q.Get(k))
	}
	return out.Encode()
}

// startTap listens on another loopback address at the device's port and
// forwards to the device; sims told that the device name is at the
// returned IP send everything through it.
func startTap(t *testing.T, env *enginetest.Env, device *http.Client) (string, *tap) {
	t.Helper()
	var l net.Listener
	var ip string
	for i := 2; l == nil && i < 250; i++ {
		ip = "127.0.250." + strconv.Itoa(i)
		l, _ = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(env.DevicePort)))
	}
	if l == nil {
		t.Skip("no free loopback address for the tap")
	}
	tp := &tap{}
	target := &url.URL{Scheme: "https", Host: net.JoinHostPort(env.DeviceName, strconv.Itoa(env.DevicePort))}
	proxy := &httputil.ReverseProxy{Transport: device.Transport, Rewrite: func(r *httputil.ProxyRequest) {
		tp.mu.Lock()
		tp.seen = append(tp.seen, r.In.Clone(context.Background()))
		tp.mu.Unlock()
		r.SetURL(target)
		r.Out.URL.Path, r.Out.URL.RawPath = r.In.URL.Path, r.In.URL.RawPath
	}}
	srv := &http.Server{Handler: proxy, TLSConfig: &tls.Config{Certificates: []tls.Certificate{env.Device.TLSCertificate()}}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return ip, tp
}

// deviceClient reaches the device directly, trusting its CA.
func deviceClient(t *testing.T, env *enginetest.Env) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.Device.CACertPEM())
	addr := net.JoinHostPort(env.DeviceIP, strconv.Itoa(env.DevicePort))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// attack is one request a hostile SAS holder sends to a blob URL.
type attack struct {
	what, method, query string
	body                []byte
	hdr                 []string
}

var attacks = []attack{
	{"Put Blob over it", "PUT", "", []byte("ransom"), []string{"x-ms-blob-type", "BlockBlob"}},
	{"empty Put Blob over it", "PUT", "", nil, []string{"x-ms-blob-type", "BlockBlob"}},
	{"Put Block", "PUT", "&comp=block&blockid=ZXZpbA==", []byte("ransom"), nil},
	{"Put Block List over it", "PUT", "&comp=blocklist", []byte("<BlockList></BlockList>"), nil},
	{"Delete", "DELETE", "", nil, nil},
	{"lease Break", "PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Break", "x-ms-lease-break-period", "0"}},
}

// hit sends every attack on blobURL with sas and reports those whose
// answer is not status with Azure's code (reads too, when reads is set).
func hit(t *testing.T, c *http.Client, blobURL, sas string, status int, code string, reads bool) {
	list := attacks
	if reads {
		list = append(slices.Clone(list), attack{"GET", "GET", "", nil, nil}, attack{"HEAD", "HEAD", "", nil, nil},
			attack{"Get Block List", "GET", "&comp=blocklist", nil, nil},
			attack{"lease Acquire", "PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1"}})
	}
	for _, a := range list {
		req, _ := http.NewRequest(a.method, blobURL+"?"+sas+a.query, bytes.NewReader(a.body))
		for i := 0; i+1 < len(a.hdr); i += 2 {
			req.Header.Set(a.hdr[i], a.hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s: %v", a.what, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get("x-ms-error-code") != code {
			t.Errorf("%s on %s = %d %s, want %d %s", a.what, blobURL, resp.StatusCode, resp.Header.Get("x-ms-error-code"), status, code)
		}
	}
}

// committedBlobs are the blob URLs (without query) SQL Server committed
// through the tap, with the SAS it used for each.
func committedBlobs(tp *tap) map[string]string {
	out := map[string]string{}
	for _, r := range tp.requests() {
		if r.Method == "PUT" && r.URL.Query().Get("comp") == "blocklist" {
			out["https://"+r.Host+r.URL.Path] = sasOf(r)
		}
	}
	return out
}

// restoreSAS is the restore token (sp=rl) SQL Server sent for blobURL's
// container, or "".
func restoreSAS(tp *tap, blobURL string) string {
	for _, r := range tp.requests() {
		if r.URL.Query().Get("sp") == "rl" && path.Dir(strings.TrimPrefix(blobURL, "https://"+r.Host)) == path.Dir(r.URL.Path) {
			return sasOf(r)
		}
	}
	return ""
}

// TestHostileHostCannotDestroyRecoveryPoints: a host that sees every SAS
// SQL Server is given tries, while each backup runs (after its blobs are
// committed) and after it, to overwrite, re-commit, delete or break the
// lease of the committed blobs; while the restore runs, to write with the
// restore SAS; and after each job, anything at all. Every write is
// refused, every SAS of a finished job gets 403 AuthenticationFailed for
// every operation, and the restore gets back exactly the rows backed up.
func TestHostileHostCannotDestroyRecoveryPoints(t *testing.T) {
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	env := enginetest.Start(t)
	direct := deviceClient(t, env)
	tapIP, tp := startTap(t, env, direct)
	attacked, restoreAttacked := map[string]bool{}, 0
	hook := func(point string) {
		switch point {
		case "backup-before-label": // SQL Server is done, the job and its grant live on
			for u, sas := range committedBlobs(tp) {
				if !attacked[u] { // this job's blobs; earlier jobs' SAS are dead
					hit(t, direct, u, sas, 409, "BlobImmutableDueToPolicy", false)
					attacked[u] = true
				}
			}
		case "restore-between-links":
			for u := range committedBlobs(tp) {
				if sas := restoreSAS(tp, u); sas != "" {
					hit(t, direct, u, sas, 403, "AuthorizationPermissionMismatch", false)
					restoreAttacked++
				}
			}
		}
	}
	cfg := env.SimConfig(saPW)
	cfg.Hosts[env.DeviceName] = tapIP
	sim := env.StartSim(cfg)
	coord := env.Coordinator(catalog, func(c *coordinator.Config) { c.Hook = hook })
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &stack{t: t, ctx: ctx, db: catalog, env: env, sim: sim, coord: coord, sql: conn}

	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	s.exec("INSERT INTO Sales.dbo.t VALUES (1, N'before the full')")
	srv := s.register("sa", saPW)
	it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'before the log backup')")
	s.backup(it, mssql.KindLog)
	if len(attacked) < 2 {
		t.Fatalf("the hostile host attacked %d committed blobs during the backups, want 2", len(attacked))
	}
	backups := committedBlobs(tp)
	for u, sas := range backups {
		hit(t, direct, u, sas, 403, "AuthenticationFailed", true)
	}

	points, err := s.db.ListPoints(s.ctx, it.ID)
	if err != nil || len(points) != 2 {
		t.Fatalf("points = %d, %v", len(points), err)
	}
	latest := slices.MaxFunc(points, func(a, b db.Point) int { return a.EndTime.Compare(b.EndTime) })
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: latest.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_copy"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if restoreAttacked == 0 {
		t.Fatal("the restore's SAS was never tried during the restore")
	}
	if got := s.ids("Sales_copy"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("restored rows %v, want [1 2]", got)
	}
	for u := range backups {
		sas := restoreSAS(tp, u)
		if sas == "" {
			t.Fatalf("no restore SAS for %s seen on the wire", u)
		}
		hit(t, direct, u, sas, 403, "AuthenticationFailed", true)
	}
}
