package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// SQLite keeps serving a deleted file from its open descriptor: the
// catalog must notice, or every change since is lost at the next start.
func TestCatalogFileDeletedOrReplacedIsNoticed(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, want string
		change     func(path string) error
	}{
		{"deleted", "deleted", os.Remove},
		{"replaced", "replaced", func(path string) error {
			other := path + ".new"
			if err := os.WriteFile(other, []byte("not the catalog"), 0o600); err != nil {
				return err
			}
			return os.Rename(other, path)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := openTest(t)
			if err := d.Ping(ctx); err != nil {
				t.Fatalf("healthy catalog: %v", err)
			}
			if err := c.change(d.Path()); err != nil {
				t.Fatal(err)
			}
			// The open handle still answers, which is the silent failure.
			if _, err := d.CreateUser(ctx, "after", "h", RoleReader); err != nil {
				t.Fatalf("write after the file was %s: %v", c.name, err)
			}
			err := d.Ping(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), d.Path()) {
				t.Fatalf("Ping after the file was %s = %v, want an error naming the file and %q", c.name, err, c.want)
			}
		})
	}
}

// A write the disk has no room for fails with SQLITE_FULL, is rolled back,
// and the catalog keeps answering reads.
func TestCatalogWriteOnFullStorage(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	if err := d.SetMaxPageCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var err error
	made := 0
	for i := 0; i < 100000 && err == nil; i++ {
		if _, err = d.CreateUser(ctx, fmt.Sprintf("user%06d", i), strings.Repeat("h", 200), RoleReader); err == nil {
			made++
		}
	}
	if !IsStorageFull(err) {
		t.Fatalf("writes into a full catalog ended with %v, want SQLITE_FULL", err)
	}
	n, cerr := d.CountUsers(ctx)
	if cerr != nil || n != made {
		t.Fatalf("after the refused write: %d users, %v; want the %d that were written", n, cerr, made)
	}
	if IsStorageFull(fmt.Errorf("wrapped: %w", os.ErrNotExist)) {
		t.Error("an unrelated error is taken for a full catalog")
	}
}

// A connection opened after the file was deleted (a pool replaces a broken
// or idle-closed one at any time) must not create an empty catalog at the
// path: that would hide the deletion behind "replaced" and leave an empty
// file for the next start to take as a new catalog.
func TestNewConnectionDoesNotRecreateADeletedCatalog(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	if err := os.Remove(d.Path()); err != nil {
		t.Fatal(err)
	}
	// Hold the idle connection, if any, so the pool must open a new one.
	if conn, err := d.read.Conn(ctx); err == nil {
		defer conn.Close()
	}
	_ = d.read.PingContext(ctx) // fails with the fix; created the file before it
	if _, err := os.Stat(d.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after a new connection the deleted catalog's path holds a file (stat: %v)", err)
	}
	if err := d.Ping(ctx); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("Ping = %v, want the deletion named", err)
	}
}
