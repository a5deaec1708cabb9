package vault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Azurite's documented development account.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startAzurite runs Microsoft's Azure Storage emulator (npm package
// azurite) on a free port and returns the gocloud bucket URL of a fresh
// container in it.
func startAzurite(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		t.Skip("azurite-blob is not on PATH, so the Azure backend is not tested against an Azure-compatible server here; install it with `npm install -g azurite` (.ci/run does when npm exists)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", t.TempDir(),
		"--silent", "--skipApiVersionCheck", "--disableTelemetry")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("azurite did not start listening within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cs := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s/%s;",
		azuriteAccount, azuriteKey, addr, azuriteAccount)
	client, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(context.Background(), "vault", nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
	return "azblob://vault?protocol=http&domain=" + addr
}

// TestAzureBackendAgainstAzurite runs the vault on the gocloud Azure Blob
// driver against Azurite: striped uploads, then a second vault opened from
// the bucket alone lists every backup with its labels, reads ranges,
// verifies, and collects a deleted backup.
func TestAzureBackendAgainstAzurite(t *testing.T) {
	bucketRoundTrip(t, startAzurite(t), "Azure", nil)
}

// bucketRoundTrip drives the vault on the bucket at url as a server
// would: striped uploads, then a second vault opened from the bucket
// alone lists every backup with its labels, reads ranges, verifies, and
// collects a deleted backup. where names the storage in failures; check,
// if set, looks at the first backend before use.
func bucketRoundTrip(t *testing.T, url, where string, check func(*BucketBackend)) {
	t.Helper()
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if check != nil {
		check(b)
	}
	v := newVault(t, b, Options{PackSize: 1 << 20})
	one, two := pages(60, 3<<20+5000), pages(61, 2<<20)
	upload(t, v, "SQL01/Sales/full.bak", one, 1<<20)
	upload(t, v, "SQL01/Sales/log.trn", two, 1<<20)
	if err := v.Annotate(ctx, "SQL01/Sales/full.bak", map[string]string{"last_lsn": "42000000001000001"}); err != nil {
		t.Fatal(err)
	}
	v.Close()

	b2, err := NewBucketBackend(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	v2, err := Open(ctx, b2, pass, Options{PackSize: 1 << 20})
	if err != nil {
		t.Fatalf("open from %s alone: %v", where, err)
	}
	defer v2.Close()
	ms, err := v2.List(ctx, "SQL01/")
	if err != nil || len(ms) != 2 {
		t.Fatalf("List = %d manifests, %v", len(ms), err)
	}
	for _, m := range ms {
		if m.Labels["db"] != "Sales" || (m.Blob == "SQL01/Sales/full.bak" && m.Labels["last_lsn"] != "42000000001000001") {
			t.Fatalf("labels of %s = %v", m.Blob, m.Labels)
		}
	}
	r, err := v2.OpenBlob(ctx, "SQL01/Sales/full.bak")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100000)
	if _, err := r.ReadAt(buf, 2<<20+17); err != nil || !bytes.Equal(buf, one[2<<20+17:2<<20+17+100000]) {
		t.Fatalf("range read from %s: %v", where, err)
	}
	if !bytes.Equal(readAll(t, v2, "SQL01/Sales/log.trn"), two) {
		t.Fatalf("log backup reads back wrong from %s", where)
	}
	if rep, err := v2.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify on %s: %+v %v", where, rep, err)
	}
	before, _ := v2.Stats(ctx)
	v2.DeleteBlob(ctx, "SQL01/Sales/log.trn")
	if _, err := v2.GC(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := v2.Stats(ctx)
	if after.StoredBytes >= before.StoredBytes || !bytes.Equal(readAll(t, v2, "SQL01/Sales/full.bak"), one) {
		t.Fatalf("gc on %s: stored %d -> %d", where, before.StoredBytes, after.StoredBytes)
	}
}
