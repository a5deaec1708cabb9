package vdi

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

const restoreLeaseID = RestoreLeaseID

// expectCode asserts a status and Azure's x-ms-error-code.
func expectCode(t *testing.T, r *http.Response, status int, code, what string) {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != status || r.Header.Get("x-ms-error-code") != code {
		t.Fatalf("%s = %d %s %s, want %d %s", what, r.StatusCode, r.Header.Get("x-ms-error-code"), b, status, code)
	}
}

func blockID(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// commitBlob writes data as one block and commits it, as SQL Server does
// (Put Blob, lease, Put Block, Put Block List, release).
func (td *testDevice) commitBlob(t *testing.T, u string, data []byte) {
	t.Helper()
	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob (create)")
	r := td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1")
	lease := r.Header.Get("x-ms-lease-id")
	expect(t, r, 201, "Acquire")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("b0"), data, "x-ms-lease-id", lease), 201, "Put Block")
	expect(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+blockID("b0")+"</Latest></BlockList>"), "x-ms-lease-id", lease), 201, "Put Block List")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Release", "x-ms-lease-id", lease), 200, "Release")
}

func (td *testDevice) read(t *testing.T, u string) ([]byte, string) {
	t.Helper()
	r := td.do(t, "GET", u, nil)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("GET = %d %s", r.StatusCode, b)
	}
	return b, r.Header.Get("ETag")
}

// hostileWrites tries every device request that could change or remove
// the committed blob at u, with the given lease id (may be empty).
func hostileWrites(t *testing.T, td *testDevice, u string) {
	t.Helper()
	const immutable = "BlobImmutableDueToPolicy"
	expectCode(t, td.do(t, "PUT", u, []byte("ransom"), "x-ms-blob-type", "BlockBlob"), 409, immutable, "Put Blob over a committed blob")
	expectCode(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 409, immutable, "empty Put Blob over a committed blob")
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("evil"), []byte("ransom")), 409, immutable, "Put Block to a committed blob")
	expectCode(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+blockID("b0")+"</Latest></BlockList>")), 409, immutable, "Put Block List over a committed blob")
	expectCode(t, td.do(t, "DELETE", u, nil), 409, immutable, "Delete of a committed blob")
	expectCode(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Break", "x-ms-lease-break-period", "0"), 409, immutable, "Break of a committed blob's lease")
	// A lease on the committed blob does not open it for writing either.
	r := td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1")
	lease := r.Header.Get("x-ms-lease-id")
	expect(t, r, 201, "Acquire on a committed blob")
	expectCode(t, td.do(t, "PUT", u, []byte("ransom"), "x-ms-blob-type", "BlockBlob", "x-ms-lease-id", lease), 409, immutable, "Put Blob under a lease")
	expectCode(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList></BlockList>"), "x-ms-lease-id", lease), 409, immutable, "empty block list under a lease")
	expectCode(t, td.do(t, "DELETE", u, nil, "x-ms-lease-id", lease), 409, immutable, "Delete under a lease")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Release", "x-ms-lease-id", lease), 200, "Release")
}

// TestCommittedBlobIsWriteOnce: a holder of a valid backup SAS (even a
// fresh one on the same container) cannot overwrite, re-commit, delete or
// break the lease of a committed blob, in this process or after a restart
// of the device over the same vault; the blob reads back unchanged.
func TestCommittedBlobIsWriteOnce(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("job-7", "rw", time.Hour)
	u := td.url("job-7", "db/full.bak", sas)
	data := bytes.Repeat([]byte("page"), 4096)
	td.commitBlob(t, u, data)
	_, etag := td.read(t, u)

	hostileWrites(t, td, u)
	hostileWrites(t, td, td.url("job-7", "db/full.bak", td.IssueSAS("job-7", "rwd", time.Hour)))

	// A device restarted over the same vault finds the blob committed.
	d2, err := New(Config{Name: td.cfg.Name, CertDir: t.TempDir(), Store: td.cfg.Store, Key: td.cfg.Key, Now: td.cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	td2 := &testDevice{Device: d2, vault: td.vault, now: td.now}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go d2.Serve(l)
	t.Cleanup(func() { d2.Shutdown(context.Background()) })
	td2.addr, td2.client = l.Addr().String(), clientFor(t, d2, l.Addr().String())
	expectCode(t, td2.do(t, "HEAD", u, nil), 403, "AuthenticationFailed", "a SAS from before the restart")
	hostileWrites(t, td2, td2.url("job-7", "db/full.bak", td2.IssueSAS("job-7", "rw", time.Hour)))

	got, etag2 := td.read(t, u)
	if !bytes.Equal(got, data) || etag2 != etag {
		t.Fatalf("the committed blob changed: %d bytes, ETag %s then %s", len(got), etag, etag2)
	}
}

// TestUncommittedBlobsAreStillCleanedUp: what a failed backup left (a
// created blob with staged blocks) is deleted by Delete, as SQL Server
// cleans up; a second Delete is 404 BlobNotFound.
func TestUncommittedBlobsAreStillCleanedUp(t *testing.T) {
	td := startDevice(t)
	u := td.url("job-8", "db/failed.bak", td.IssueSAS("job-8", "rw", time.Hour))
	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob (create)")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("b0"), []byte("half a backup")), 201, "Put Block")
	expect(t, td.do(t, "DELETE", u, nil), 202, "Delete of the uncommitted blob")
	expectCode(t, td.do(t, "HEAD", u, nil), 404, "BlobNotFound", "HEAD after Delete")
	expectCode(t, td.do(t, "DELETE", u, nil), 404, "BlobNotFound", "second Delete")
	expectCode(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+blockID("b0")+"</Latest></BlockList>")), 400, "InvalidBlockList", "commit of deleted blocks")
}

// TestRestoreLease: RESTORE's infinite lease with the known id BAC2...;
// acquiring it again (the next RESTORE after a crashed one) succeeds; the
// restore SAS reads and leases but never writes, deletes or breaks; a
// lease someone else left is cleared by ClearLeases before a restore.
func TestRestoreLease(t *testing.T) {
	td := startDevice(t)
	data := []byte("a full backup")
	td.commitBlob(t, td.url("job-9", "db/full.bak", td.IssueSAS("job-9", "rw", time.Hour)), data)
	u := td.url("job-9", "db/full.bak", td.IssueSAS("job-9", "r", time.Hour))
	acquire := func(id string) *http.Response {
		return td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1", "x-ms-proposed-lease-id", id)
	}
	r := acquire(restoreLeaseID)
	if r.Header.Get("x-ms-lease-id") != restoreLeaseID {
		t.Fatalf("lease id = %q", r.Header.Get("x-ms-lease-id"))
	}
	expect(t, r, 201, "RESTORE's Acquire")
	expect(t, acquire(restoreLeaseID), 201, "the next RESTORE's Acquire with the same id")
	r = td.do(t, "HEAD", u, nil)
	if r.Header.Get("x-ms-lease-state") != "leased" || r.Header.Get("x-ms-lease-duration") != "infinite" {
		t.Fatalf("lease headers = %v", r.Header)
	}
	expect(t, r, 200, "HEAD")
	expect(t, td.do(t, "GET", u, nil, "x-ms-lease-id", restoreLeaseID), 200, "GET with the lease id")
	const denied = "AuthorizationPermissionMismatch"
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("x"), []byte("x"), "x-ms-lease-id", restoreLeaseID), 403, denied, "Put Block with a restore SAS")
	expectCode(t, td.do(t, "PUT", u, []byte("x"), "x-ms-blob-type", "BlockBlob", "x-ms-lease-id", restoreLeaseID), 403, denied, "Put Blob with a restore SAS")
	expectCode(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList></BlockList>"), "x-ms-lease-id", restoreLeaseID), 403, denied, "Put Block List with a restore SAS")
	expectCode(t, td.do(t, "DELETE", u, nil, "x-ms-lease-id", restoreLeaseID), 403, denied, "Delete with a restore SAS")
	expectCode(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Break"), 403, denied, "Break with a restore SAS")
	r = td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Change", "x-ms-lease-id", restoreLeaseID, "x-ms-proposed-lease-id", "11111111-2222-3333-4444-555555555555")
	expect(t, r, 200, "Change")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Renew", "x-ms-lease-id", "11111111-2222-3333-4444-555555555555"), 200, "Renew")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Release", "x-ms-lease-id", "11111111-2222-3333-4444-555555555555"), 200, "Release")

	// A lease with another id blocks RESTORE's Acquire until the
	// coordinator clears the container's leases.
	expect(t, acquire("99999999-9999-9999-9999-999999999999"), 201, "someone else's lease")
	expectCode(t, acquire(restoreLeaseID), 409, "LeaseAlreadyPresent", "RESTORE's Acquire over it")
	td.ClearLeases("job-9")
	expect(t, acquire(restoreLeaseID), 201, "RESTORE's Acquire after ClearLeases")
	td.ClearLeases("job-9") // another restore starting keeps this one's lease
	expect(t, td.do(t, "GET", u, nil, "x-ms-lease-id", restoreLeaseID), 200, "GET with the restore lease after another ClearLeases")
	if got, _ := td.read(t, u); !bytes.Equal(got, data) {
		t.Fatal("the blob changed")
	}
}

// TestLeaseStateMachine walks Azure's lease states with the device clock:
// a finite lease expires, breaking and broken leases refuse what Azure
// refuses, and writes follow the lease.
func TestLeaseStateMachine(t *testing.T) {
	td := startDevice(t)
	u := td.url("c", "l.bak", td.IssueSAS("c", "rw", 24*time.Hour))
	lease := func(hdr ...string) *http.Response {
		return td.do(t, "PUT", u+"&comp=lease", nil, append([]string{"x-ms-lease-action"}, hdr...)...)
	}
	const a, b = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
	expectCode(t, lease("acquire", "x-ms-lease-duration", "15"), 404, "BlobNotFound", "lease of a missing blob")
	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob")
	expectCode(t, lease("acquire", "x-ms-lease-duration", "10"), 400, "InvalidHeaderValue", "10 s lease")
	expectCode(t, lease("acquire", "x-ms-lease-duration", "61"), 400, "InvalidHeaderValue", "61 s lease")
	expectCode(t, lease("acquire", "x-ms-lease-duration", "15", "x-ms-proposed-lease-id", "not-a-guid"), 400, "InvalidHeaderValue", "proposed id not a GUID")
	expectCode(t, lease("renew", "x-ms-lease-id", a), 409, "LeaseNotPresentWithLeaseOperation", "Renew without a lease")

	expect(t, lease("acquire", "x-ms-lease-duration", "15", "x-ms-proposed-lease-id", a), 201, "15 s lease")
	expectCode(t, lease("acquire", "x-ms-lease-duration", "15", "x-ms-proposed-lease-id", b), 409, "LeaseAlreadyPresent", "another id")
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), []byte("x")), 412, "LeaseIdMissing", "write without the id")
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), []byte("x"), "x-ms-lease-id", b), 412, "LeaseIdMismatchWithBlobOperation", "write with another id")
	td.now = td.now.Add(14 * time.Second)
	expect(t, lease("acquire", "x-ms-lease-duration", "15", "x-ms-proposed-lease-id", a), 201, "Acquire again with the same id renews")
	td.now = td.now.Add(14 * time.Second)
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), []byte("x"), "x-ms-lease-id", a), 201, "write 28 s after the first Acquire")
	td.now = td.now.Add(2 * time.Second)
	r := td.do(t, "HEAD", u, nil)
	if r.Header.Get("x-ms-lease-state") != "expired" || r.Header.Get("x-ms-lease-status") != "unlocked" {
		t.Fatalf("after expiry: %v", r.Header)
	}
	expect(t, r, 200, "HEAD")
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("1"), []byte("x"), "x-ms-lease-id", a), 412, "LeaseLost", "write with the expired id")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("1"), []byte("x")), 201, "write without a lease after expiry")
	expect(t, lease("renew", "x-ms-lease-id", a), 200, "Renew of the expired lease")

	// Break with a period: Breaking, then Broken.
	expect(t, lease("release", "x-ms-lease-id", a), 200, "Release")
	expect(t, lease("acquire", "x-ms-lease-duration", "-1", "x-ms-proposed-lease-id", a), 201, "infinite lease")
	r = lease("break", "x-ms-lease-break-period", "10")
	if r.Header.Get("x-ms-lease-time") != "10" {
		t.Fatalf("x-ms-lease-time = %q", r.Header.Get("x-ms-lease-time"))
	}
	expect(t, r, 202, "Break")
	expectCode(t, lease("acquire", "x-ms-lease-duration", "-1", "x-ms-proposed-lease-id", a), 409, "LeaseIsBreakingAndCannotBeAcquired", "Acquire while breaking")
	expectCode(t, lease("renew", "x-ms-lease-id", a), 409, "LeaseIsBrokenAndCannotBeRenewed", "Renew while breaking")
	expectCode(t, lease("change", "x-ms-lease-id", a, "x-ms-proposed-lease-id", b), 409, "LeaseIsBreakingAndCannotBeChanged", "Change while breaking")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("2"), []byte("x"), "x-ms-lease-id", a), 201, "write while breaking, with the id")
	td.now = td.now.Add(10 * time.Second)
	expectCode(t, lease("renew", "x-ms-lease-id", a), 409, "LeaseIsBrokenAndCannotBeRenewed", "Renew when broken")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("3"), []byte("x")), 201, "write without a lease when broken")
	expect(t, lease("acquire", "x-ms-lease-duration", "-1", "x-ms-proposed-lease-id", b), 201, "Acquire when broken")
	expectCode(t, lease("release", "x-ms-lease-id", a), 409, "LeaseIdMismatchWithLeaseOperation", "Release with the old id")
	expect(t, lease("change", "x-ms-lease-id", b, "x-ms-proposed-lease-id", a), 200, "Change b to a")
	expect(t, lease("change", "x-ms-lease-id", b, "x-ms-proposed-lease-id", a), 200, "the same Change again")
	expect(t, lease("break", "x-ms-lease-break-period", "0"), 202, "Break at once")
	expect(t, lease("acquire", "x-ms-lease-duration", "15"), 201, "Acquire after an immediate Break")
}

// TestGrantLivesAsLongAsItsJob: a revoked grant's SAS is refused with
// 403 AuthenticationFailed for every operation; an unrenewed grant dies
// at its deadline and a renewed one does not; Hold revokes on return.
func TestGrantLivesAsLongAsItsJob(t *testing.T) {
	td := startDevice(t)
	g := td.NewGrant("job-1", GrantBackup, grantTTL)
	u := td.url("job-1", "db/log.trn", g.SAS)
	td.commitBlob(t, u, []byte("log"))
	u2 := td.url("job-1", "db/other.trn", g.SAS)
	expect(t, td.do(t, "PUT", u2, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob while the job runs")

	td.now = td.now.Add(grantTTL * 2 / 3)
	g.Renew()
	td.now = td.now.Add(grantTTL * 2 / 3)
	expect(t, td.do(t, "HEAD", u, nil), 200, "HEAD after a renewal, past the first deadline")
	g.Revoke()
	g.Renew() // a revoked grant stays revoked
	everyOperation(t, td, u, u2)

	short := td.NewGrant("job-1", GrantBackup, grantTTL)
	expect(t, td.do(t, "HEAD", td.url("job-1", "db/log.trn", short.SAS), nil), 200, "HEAD with a live grant")
	td.now = td.now.Add(grantTTL)
	expectCode(t, td.do(t, "HEAD", td.url("job-1", "db/log.trn", short.SAS), nil), 403, "AuthenticationFailed", "HEAD after the unrenewed deadline")

	sas, revoke := td.Hold(context.Background(), "job-1", GrantRestore)
	expect(t, td.do(t, "HEAD", td.url("job-1", "db/log.trn", sas), nil), 200, "HEAD while held")
	revoke()
	expectCode(t, td.do(t, "HEAD", td.url("job-1", "db/log.trn", sas), nil), 403, "AuthenticationFailed", "HEAD after revoke")
	ctx, cancel := context.WithCancel(context.Background())
	sas, revoke = td.Hold(ctx, "job-1", GrantRestore)
	cancel()
	revoke()
	expectCode(t, td.do(t, "HEAD", td.url("job-1", "db/log.trn", sas), nil), 403, "AuthenticationFailed", "HEAD after the job's context ended")
}

// everyOperation asserts that every blob request with u's SAS is 403
// AuthenticationFailed (u committed, u2 created): reads, writes, delete,
// every lease action, metadata and properties. (The device serves no
// container requests such as List Blobs: 400 InvalidUri for anyone.)
func everyOperation(t *testing.T, td *testDevice, u, u2 string) {
	t.Helper()
	const code = "AuthenticationFailed"
	for _, c := range []struct {
		method, suffix string
		body           []byte
		hdr            []string
	}{
		{"HEAD", "", nil, nil},
		{"GET", "", nil, nil},
		{"GET", "&comp=blocklist", nil, nil},
		{"PUT", "&comp=block&blockid=" + blockID("z"), []byte("z"), nil},
		{"PUT", "&comp=blocklist", []byte("<BlockList></BlockList>"), nil},
		{"PUT", "", []byte("z"), []string{"x-ms-blob-type", "BlockBlob"}},
		{"DELETE", "", nil, nil},
		{"PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1"}},
		{"PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Break"}},
		{"PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Release", "x-ms-lease-id", restoreLeaseID}},
		{"PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Renew", "x-ms-lease-id", restoreLeaseID}},
		{"PUT", "&comp=lease", nil, []string{"x-ms-lease-action", "Change", "x-ms-lease-id", restoreLeaseID, "x-ms-proposed-lease-id", newGUID()}},
		{"PUT", "&comp=metadata", nil, []string{"x-ms-meta-owner", "attacker"}},
		{"PUT", "&comp=properties", nil, []string{"x-ms-blob-content-type", "text/plain"}},
		{"GET", "&comp=metadata", nil, nil},
	} {
		for _, base := range []string{u, u2} {
			r := td.do(t, c.method, base+c.suffix, c.body, c.hdr...)
			if r.StatusCode != 403 || (c.method != "HEAD" && r.Header.Get("x-ms-error-code") != code) {
				t.Fatalf("%s %s %v with a refused SAS = %d %s", c.method, c.suffix, c.hdr, r.StatusCode, r.Header.Get("x-ms-error-code"))
			}
			r.Body.Close()
		}
	}
}

// TestLiveSASCannotReachAnotherJobsBlobs: the SAS of a backup job still
// running names its own container only: every request on the committed
// blob of an earlier job, or a new blob beside it, is 403
// AuthenticationFailed, and the committed blob reads back unchanged.
func TestLiveSASCannotReachAnotherJobsBlobs(t *testing.T) {
	td := startDevice(t)
	first := td.NewGrant("job-1", GrantBackup, grantTTL)
	data := bytes.Repeat([]byte("page"), 2048)
	td.commitBlob(t, td.url("job-1", "db/full.bak", first.SAS), data)
	first.Revoke()
	live := td.NewGrant("job-2", GrantBackup, grantTTL)
	expect(t, td.do(t, "PUT", td.url("job-2", "db/log.trn", live.SAS), nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob in its own container")
	everyOperation(t, td, td.url("job-1", "db/full.bak", live.SAS), td.url("job-1", "db/planted.bak", live.SAS))
	got, _ := td.read(t, td.url("job-1", "db/full.bak", td.IssueSAS("job-1", "r", time.Hour)))
	if !bytes.Equal(got, data) {
		t.Fatalf("the other job's committed blob changed: %d bytes", len(got))
	}
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestDeviceAnswersLikeAzure: request ids, one ETag per committed blob
// with If-Match / If-None-Match, Content-MD5, 404 for a missing blob's
// Delete, and Azure's codes for operations the device does not serve.
func TestDeviceAnswersLikeAzure(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("c", "rw", time.Hour)
	u := td.url("c", "db/full.bak", sas)
	r := td.do(t, "HEAD", u, nil, "x-ms-client-request-id", "sqlserver-42")
	if !guidRE.MatchString(r.Header.Get("x-ms-request-id")) || r.Header.Get("x-ms-client-request-id") != "sqlserver-42" {
		t.Fatalf("request ids = %q %q", r.Header.Get("x-ms-request-id"), r.Header.Get("x-ms-client-request-id"))
	}
	r.Body.Close()
	expectCode(t, td.do(t, "DELETE", u, nil), 404, "BlobNotFound", "Delete of a missing blob")

	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob")
	expectCode(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob", "If-None-Match", "*"), 409, "BlobAlreadyExists", "Put Blob If-None-Match: *")
	data := []byte("sixteen bytes!!!")
	sum := md5.Sum(data)
	bad := md5.Sum([]byte("other"))
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), data, "Content-MD5", base64.StdEncoding.EncodeToString(bad[:])), 400, "Md5Mismatch", "Put Block with a wrong MD5")
	expectCode(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), data, "Content-MD5", "nope"), 400, "InvalidMd5", "Put Block with a malformed MD5")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), data, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:])), 201, "Put Block with its MD5")
	r = td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+blockID("0")+"</Latest></BlockList>"))
	etag := r.Header.Get("ETag")
	expect(t, r, 201, "Put Block List")
	if etag == "" {
		t.Fatal("Put Block List returned no ETag")
	}
	for i := 0; i < 2; i++ {
		for _, m := range []string{"HEAD", "GET"} {
			r := td.do(t, m, u, nil)
			if r.Header.Get("ETag") != etag {
				t.Fatalf("%s ETag = %s, Put Block List said %s", m, r.Header.Get("ETag"), etag)
			}
			expect(t, r, 200, m)
		}
	}
	expect(t, td.do(t, "GET", u, nil, "If-None-Match", etag), 304, "GET If-None-Match: its ETag")
	expect(t, td.do(t, "GET", u, nil, "If-Match", etag), 200, "GET If-Match: its ETag")
	expectCode(t, td.do(t, "GET", u, nil, "If-Match", `"0x1"`), 412, "ConditionNotMet", "GET If-Match: another ETag")
	expectCode(t, td.do(t, "HEAD", td.url("c", "db/other.bak", sas), nil, "If-Match", etag), 404, "BlobNotFound", "If-Match on a missing blob")

	other := td.url("c", "db/copy.bak", sas)
	for _, c := range []struct {
		what, method, url, code string
		status                  int
		hdr                     []string
	}{
		{"Copy Blob", "PUT", other, "UnsupportedHeader", 400, []string{"x-ms-copy-source", u}},
		{"Put Block From URL", "PUT", other + "&comp=block&blockid=" + blockID("0"), "UnsupportedHeader", 400, []string{"x-ms-copy-source", u}},
		{"append blob", "PUT", other, "InvalidHeaderValue", 400, []string{"x-ms-blob-type", "AppendBlob"}},
		{"page blob", "PUT", other, "InvalidHeaderValue", 400, []string{"x-ms-blob-type", "PageBlob"}},
		{"Put Blob without a type", "PUT", other, "MissingRequiredHeader", 400, nil},
		{"Append Block", "PUT", other + "&comp=appendblock", "UnsupportedQueryParameter", 400, nil},
		{"Put Page", "PUT", other + "&comp=page", "UnsupportedQueryParameter", 400, nil},
		{"Set Blob Metadata", "PUT", u + "&comp=metadata", "UnsupportedQueryParameter", 400, nil},
		{"Set Blob Properties", "PUT", u + "&comp=properties", "UnsupportedQueryParameter", 400, nil},
		{"Set Blob Tier", "PUT", u + "&comp=tier", "UnsupportedQueryParameter", 400, nil},
		{"Snapshot Blob", "PUT", u + "&comp=snapshot", "UnsupportedQueryParameter", 400, nil},
		{"an unknown comp", "PUT", other + "&comp=frobnicate", "InvalidQueryParameterValue", 400, nil},
		{"POST", "POST", other, "UnsupportedHttpVerb", 405, nil},
	} {
		expectCode(t, td.do(t, c.method, c.url, nil, c.hdr...), c.status, c.code, c.what)
	}
	expectCode(t, td.do(t, "HEAD", other, nil), 404, "BlobNotFound", "no refused request created a blob")
	if got, etag2 := td.read(t, u); string(got) != string(data) || etag2 != etag {
		t.Fatal("a refused request changed the blob")
	}
}

// TestCommitRacingDeleteLeavesNoHole: a Delete sent alongside Put Block
// List either removes the uncommitted blob before the commit (which then
// fails) or is refused after it; a commit answered 201 always leaves a
// readable blob.
func TestCommitRacingDeleteLeavesNoHole(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("race", "rw", time.Hour)
	for i := 0; i < 20; i++ {
		u := td.url("race", "b"+strconv.Itoa(i)+".bak", sas)
		expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob")
		expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+blockID("0"), []byte("data")), 201, "Put Block")
		var commit, del int
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+blockID("0")+"</Latest></BlockList>"))
			commit = r.StatusCode
			r.Body.Close()
		}()
		go func() {
			defer wg.Done()
			r := td.do(t, "DELETE", u, nil)
			del = r.StatusCode
			r.Body.Close()
		}()
		wg.Wait()
		switch {
		case commit == 201 && del == 409:
			if got, _ := td.read(t, u); string(got) != "data" {
				t.Fatalf("committed blob reads %q", got)
			}
		case commit == 400 && del == 202:
			expectCode(t, td.do(t, "HEAD", u, nil), 404, "BlobNotFound", "HEAD after the delete won")
		default:
			t.Fatalf("commit %d, delete %d", commit, del)
		}
	}
}
