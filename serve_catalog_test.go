package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// stop closes a started app now; its cleanup then has nothing left to do.
func stop(a *app) {
	a.close()
	a.closers = nil
}

// A lost catalog beside a vault full of points must not start as if new:
// it would begin fresh chains while the points stay unlisted.
func TestServeRefusesAnEmptyCatalogBesideAVaultWithPoints(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	a, err := startIn(t, data)
	if err != nil {
		t.Fatal(err)
	}
	blob := "job-1/Sales_full.bak"
	if err := a.eng.vault.PutBlock(ctx, blob, "AAAA", []byte("a full backup")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.eng.vault.CommitBlob(ctx, blob, []string{"AAAA"}, map[string]string{pointLabel: `{"server":"sql1","database":"Sales","kind":"full"}`}); err != nil {
		t.Fatal(err)
	}
	stop(a)
	for _, f := range []string{db.FileName, db.FileName + "-wal", db.FileName + "-shm"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	a, err = startIn(t, data)
	if err == nil {
		stop(a)
		t.Fatal("serve started on an empty catalog beside a vault with a point")
	}
	for _, want := range []string{"sqlvault vault rebuild-catalog", "--new-catalog", "1 backup file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}

	a, err = startIn(t, data, "--new-catalog")
	if err != nil {
		t.Fatalf("--new-catalog: %v", err)
	}
	stop(a)
}

// A first start (empty catalog, empty vault) is not refused.
func TestServeStartsAFreshCatalogOnAnEmptyVault(t *testing.T) {
	a, err := startIn(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stop(a)
}
