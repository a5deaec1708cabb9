package vdi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/sqlvault/sqlvault/engine/vault"
)

type testDevice struct {
	*Device
	addr   string
	client *http.Client
	vault  *vault.Vault
	now    time.Time
}

// startDevice runs a device over a real vault on a loopback port; its
// client resolves the device name to that port and trusts the device CA.
func startDevice(t *testing.T) *testDevice {
	t.Helper()
	ctx := context.Background()
	b, _ := vault.NewDirBackend(t.TempDir())
	v, err := vault.Create(ctx, b, []byte("device test passphrase"), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	td := &testDevice{vault: v, now: time.Now()}
	d, err := New(Config{Name: "vault.sqlvault.test", CertDir: t.TempDir(), Store: VaultStore{v}, Key: bytes.Repeat([]byte{7}, 32),
		MaxBlockSize: 8 << 20, Now: func() time.Time { return td.now }})
	if err != nil {
		t.Fatal(err)
	}
	td.Device = d
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	td.addr = l.Addr().String()
	go d.Serve(l)
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	td.client = clientFor(t, d, td.addr)
	return td
}

// clientFor is a client that trusts d's CA and dials addr for any name.
func clientFor(t *testing.T, d *Device, addr string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CACertPEM())
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (td *testDevice) url(container, name, sas string) string {
	return "https://vault.sqlvault.test/" + container + "/" + name + "?" + sas
}

// TestAzureSDKConformance drives the device with Microsoft's own Azure
// Blob SDK: stage blocks, commit, read properties and ranges, delete.
func TestAzureSDKConformance(t *testing.T) {
	td := startDevice(t)
	ctx := context.Background()
	sas := td.IssueSAS("backups", "rwd", time.Hour)
	c, err := blockblob.NewClientWithNoCredential(td.url("backups", "db/Sales_full.bak", sas),
		&blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: td.client}})
	if err != nil {
		t.Fatal(err)
	}
	data := vault.SamplePages(1, 3<<20+100)
	var ids []string
	for i := 0; i*(1<<20) < len(data); i++ {
		id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%06d", i)))
		part := data[i<<20 : min((i+1)<<20, len(data))]
		if _, err := c.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(part)), nil); err != nil {
			t.Fatalf("StageBlock: %v", err)
		}
		ids = append(ids, id)
	}
	if _, err := c.CommitBlockList(ctx, ids, nil); err != nil {
		t.Fatalf("CommitBlockList: %v", err)
	}
	props, err := c.GetProperties(ctx, nil)
	if err != nil || *props.ContentLength != int64(len(data)) || *props.BlobType != blob.BlobTypeBlockBlob {
		t.Fatalf("GetProperties = %+v, %v", props, err)
	}
	resp, err := c.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 1 << 20, Count: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, data[1<<20:1<<20+5000]) {
		t.Fatal("ranged download differs")
	}
	if _, err := c.Delete(ctx, nil); err == nil || !strings.Contains(err.Error(), "BlobImmutableDueToPolicy") {
		t.Fatalf("Delete of a committed blob: %v, want BlobImmutableDueToPolicy", err)
	}
	if again, err := c.GetProperties(ctx, nil); err != nil || *again.ETag != *props.ETag {
		t.Fatalf("after the refused delete: %v, ETag %v then %v", err, props.ETag, again.ETag)
	}
}

// do sends one request with optional headers.
func (td *testDevice) do(t *testing.T, method, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := td.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func expect(t *testing.T, r *http.Response, status int, what string) {
	t.Helper()
	if r.StatusCode != status {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("%s = %d %s, want %d", what, r.StatusCode, b, status)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
}

// TestSQLServerSequence replays the requests SQL Server sends for BACKUP
// TO URL with a SAS credential, then those of RESTORE FROM URL.
func TestSQLServerSequence(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("sqlvault", "rw", time.Hour)
	u := td.url("sqlvault", "SQL01/Sales/full_1.bak", sas)
	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob (create)")
	r := td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1")
	lease := r.Header.Get("x-ms-lease-id")
	expect(t, r, 201, "Lease Acquire")
	if lease == "" {
		t.Fatal("no lease id")
	}
	block := func(i int) string { return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", i))) }
	data := vault.SamplePages(2, 3<<20)
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+block(0), data[:1<<20]), 412, "Put Block without the lease id")
	var list strings.Builder
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for i := 0; i < 3; i++ {
		expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+block(i), data[i<<20:(i+1)<<20], "x-ms-lease-id", lease), 201, "Put Block")
		fmt.Fprintf(&list, "<Latest>%s</Latest>", block(i))
	}
	list.WriteString("</BlockList>")
	if td.Received("sqlvault/SQL01/Sales/full_1.bak") != 3<<20 {
		t.Fatalf("received %d bytes", td.Received("sqlvault/SQL01/Sales/full_1.bak"))
	}
	expect(t, td.do(t, "PUT", u+"&comp=blocklist", []byte(list.String()), "x-ms-lease-id", lease), 201, "Put Block List")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Release", "x-ms-lease-id", lease), 200, "Lease Release")

	// RESTORE: HEAD for the size, then ranged reads.
	r = td.do(t, "HEAD", u, nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Length") != fmt.Sprint(3<<20) || r.Header.Get("x-ms-blob-type") != "BlockBlob" {
		t.Fatalf("HEAD = %d %v", r.StatusCode, r.Header)
	}
	r = td.do(t, "GET", u, nil, "x-ms-range", "bytes=2097150-2097159")
	got, _ := io.ReadAll(r.Body)
	if r.StatusCode != 206 || !bytes.Equal(got, data[2097150:2097160]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 2097150-2097159/%d", 3<<20) {
		t.Fatalf("ranged GET = %d %q", r.StatusCode, r.Header.Get("Content-Range"))
	}
	expect(t, td.do(t, "GET", u, nil, "x-ms-range", "bytes=99999999-"), 416, "range past the end")
}

func TestSASIsChecked(t *testing.T) {
	td := startDevice(t)
	good := td.IssueSAS("c1", "r", time.Hour)
	expect(t, td.do(t, "HEAD", td.url("c1", "x.bak", ""), nil), 403, "no SAS")
	expect(t, td.do(t, "HEAD", td.url("c2", "x.bak", good), nil), 403, "SAS of another container")
	expect(t, td.do(t, "PUT", td.url("c1", "x.bak", good), nil), 403, "write with a read-only SAS")
	expect(t, td.do(t, "HEAD", td.url("c1", "x.bak", strings.Replace(good, "sp=r", "sp=rw", 1)), nil), 403, "SAS with edited permissions")
	expect(t, td.do(t, "HEAD", td.url("c1", "x.bak", good), nil), 404, "HEAD of a missing blob with a good SAS")
	td.now = td.now.Add(2 * time.Hour)
	expect(t, td.do(t, "HEAD", td.url("c1", "x.bak", good), nil), 403, "expired SAS")
}

func TestUncommittedBlobIsInvisibleAndBadListsRefused(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("c", "rw", time.Hour)
	u := td.url("c", "half.bak", sas)
	id := base64.StdEncoding.EncodeToString([]byte("0001"))
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+id, []byte("hello")), 201, "Put Block")
	expect(t, td.do(t, "HEAD", u, nil), 404, "HEAD before Put Block List")
	expect(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>bm9wZQ==</Latest></BlockList>")), 400, "list naming an unknown block")
	expect(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>")), 400, "broken XML")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid=%%%", []byte("x")), 400, "invalid block id")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+id, make([]byte, 9<<20)), 413, "block over the limit")
}

// TestLeaseActionsBlockListAndTraversal: the lease actions SQL Server
// sends (Acquire, Renew, Change, Release, Break) with Azure's statuses,
// Get Block List, and paths that try to leave their container.
func TestLeaseActionsBlockListAndTraversal(t *testing.T) {
	td := startDevice(t)
	sas := td.IssueSAS("c", "rwd", time.Hour)
	u := td.url("c", "db/log.trn", sas)
	expect(t, td.do(t, "PUT", u, nil, "x-ms-blob-type", "BlockBlob"), 201, "Put Blob")
	r := td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "60",
		"x-ms-proposed-lease-id", "11111111-1111-1111-1111-111111111111")
	expect(t, r, 201, "Acquire")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1"), 409, "second Acquire")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Renew", "x-ms-lease-id", "11111111-1111-1111-1111-111111111111"), 200, "Renew")
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Change", "x-ms-lease-id", "11111111-1111-1111-1111-111111111111",
		"x-ms-proposed-lease-id", "22222222-2222-2222-2222-222222222222"), 200, "Change")
	id := base64.StdEncoding.EncodeToString([]byte("block-0"))
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+id, []byte("data"), "x-ms-lease-id", "11111111-1111-1111-1111-111111111111"), 412, "Put Block with the old lease id")
	expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+id, []byte("data"), "x-ms-lease-id", "22222222-2222-2222-2222-222222222222"), 201, "Put Block with the changed lease id")
	r = td.do(t, "GET", u+"&comp=blocklist&blocklisttype=all", nil)
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), "<UncommittedBlocks><Block><Name>"+id+"</Name><Size>4</Size>") {
		t.Fatalf("Get Block List = %d %s", r.StatusCode, body)
	}
	expect(t, td.do(t, "PUT", u+"&comp=blocklist", []byte("<BlockList><Latest>"+id+"</Latest></BlockList>"), "x-ms-lease-id", "22222222-2222-2222-2222-222222222222"), 201, "Put Block List")
	r = td.do(t, "GET", u+"&comp=blocklist", nil)
	body, _ = io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), "<CommittedBlocks><Block><Name>"+id+"</Name>") {
		t.Fatalf("Get Block List after commit = %d %s", r.StatusCode, body)
	}
	expect(t, td.do(t, "PUT", u+"&comp=lease", nil, "x-ms-lease-action", "Break"), 409, "Break of a committed blob's lease")
	expect(t, td.do(t, "DELETE", u, nil, "x-ms-lease-id", "22222222-2222-2222-2222-222222222222"), 409, "Delete of a committed blob")
	expect(t, td.do(t, "GET", td.url("c", "nothing.bak", sas)+"&comp=blocklist", nil), 404, "Get Block List of a missing blob")

	for _, p := range []string{"c/../other/x.bak", "c/a/%2e%2e/%2e%2e/x.bak", "c//x.bak", "c/a\\..\\x.bak"} {
		expect(t, td.do(t, "PUT", "https://vault.sqlvault.test/"+p+"?"+sas, nil), 400, "path "+p)
	}
}
