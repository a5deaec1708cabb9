// Package azsdk checks the device against Microsoft's JavaScript Azure
// Blob client (@azure/storage-blob, installed by `npm ci` in this folder),
// a client sqlvault did not write.
package azsdk

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// node finds node and the installed package; without them the test
// skips, unless CI is set (.ci/run installs both).
func node(t *testing.T) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	path, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: the Azure JavaScript client test needs Node.js")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@azure", "storage-blob", "package.json")); err != nil {
		skip("@azure/storage-blob is not installed: run `npm ci` in tests/azsdk")
	}
	return path
}

// TestAzureJavaScriptClient: with a backup grant, the JavaScript client
// stages three blocks, commits them, reads the blob's size, ETag, block
// list and a range across a block boundary, and finds a second
// commitBlockList and a delete of the committed blob refused with Azure's
// 409 BlobImmutableDueToPolicy; the vault holds the blob at its size.
func TestAzureJavaScriptClient(t *testing.T) {
	nodePath := node(t)
	env := enginetest.Start(t)
	sas, revoke := env.Device.Hold(context.Background(), "job-1-azsdk", vdi.GrantBackup)
	t.Cleanup(revoke)
	ca := filepath.Join(t.TempDir(), "device-ca.pem")
	if err := os.WriteFile(ca, env.Device.CACertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(nodePath, "conformance.mjs")
	cmd.Env = append(os.Environ(),
		"AZSDK_BLOB_URL="+env.Device.BlobURL("job-1-azsdk", "Sales/full.bak")+"?"+strings.TrimPrefix(sas, "?"),
		"AZSDK_DEVICE_HOST="+env.DeviceName, "AZSDK_DEVICE_IP="+env.DeviceIP, "NODE_EXTRA_CA_CERTS="+ca)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node conformance.mjs: %v\n%s%s", err, out, stderr)
	}
	t.Logf("the client observed: %s", out)
	var got struct {
		Size    int64
		Refused []struct {
			What   string
			Status int
			Code   string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	if len(got.Refused) != 2 {
		t.Fatalf("refusals = %+v", got.Refused)
	}
	for _, r := range got.Refused {
		if r.Status != 409 || r.Code != "BlobImmutableDueToPolicy" {
			t.Errorf("%s of the committed blob: %d %s, want 409 BlobImmutableDueToPolicy", r.What, r.Status, r.Code)
		}
	}
	ms, err := env.Vault.List(context.Background(), "job-1-azsdk/")
	if err != nil || len(ms) != 1 || ms[0].Size != got.Size {
		t.Fatalf("vault holds %+v (%v), want one blob of %d bytes", ms, err, got.Size)
	}
}
