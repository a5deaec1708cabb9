package vault

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as a crashing child: with
// VAULT_CRASH_DIR set it uploads into that vault and kills itself with
// SIGKILL at the point named by VAULT_CRASH_AT.
func TestMain(m *testing.M) {
	if dir := os.Getenv("VAULT_CRASH_DIR"); dir != "" {
		crashChild(dir, os.Getenv("VAULT_CRASH_AT"))
		os.Exit(3) // the kill point was never reached
	}
	os.Exit(m.Run())
}

func crashChild(dir, point string) {
	ctx := context.Background()
	b, _ := NewDirBackend(dir)
	kill := func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	v, err := Open(ctx, b, pass, Options{PackSize: 128 << 10, Hook: kill})
	if err != nil {
		os.Exit(4)
	}
	if point == "gc-after-index-delete" {
		v.DeleteBlob(ctx, "c/old.bak")
		v.GC(ctx)
		return
	}
	data := pages(41, 1<<20)
	var ids []string
	for i := 0; i < 4; i++ {
		id := string(rune('a' + i))
		v.PutBlock(ctx, "c/new.bak", id, data[i<<18:(i+1)<<18])
		ids = append(ids, id)
	}
	v.CommitBlob(ctx, "c/new.bak", ids, nil)
	kill("after-commit")
}

// TestCrashAtEveryPoint kills a writer at each point and checks that what
// was committed before survives byte for byte, that the interrupted blob is
// either whole or absent, and that verify and GC are clean afterwards.
func TestCrashAtEveryPoint(t *testing.T) {
	points := []struct {
		name      string
		committed bool // the new blob is committed at this point
	}{
		{"after-pack", false}, {"after-index", false}, {"before-manifest", false},
		{"after-manifest", true}, {"after-commit", true}, {"gc-after-index-delete", false},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			b, _ := NewDirBackend(dir)
			v := newVault(t, b, Options{PackSize: 128 << 10})
			old := pages(40, 1<<20)
			upload(t, v, "c/old.bak", old, 1<<18)
			keep := pages(42, 512<<10)
			upload(t, v, "c/keep.bak", keep, 1<<18)
			v.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "VAULT_CRASH_DIR="+dir, "VAULT_CRASH_AT="+p.name)
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die at %s: %v", p.name, err)
			}

			v2, err := Open(ctx, b, pass, Options{})
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			if !bytes.Equal(readAll(t, v2, "c/keep.bak"), keep) {
				t.Fatal("a committed blob changed after the crash")
			}
			ms, _ := v2.List(ctx, "c/new")
			if (len(ms) == 1) != p.committed {
				t.Fatalf("new blob committed = %v, want %v", len(ms) == 1, p.committed)
			}
			if p.committed && !bytes.Equal(readAll(t, v2, "c/new.bak"), pages(41, 1<<20)) {
				t.Fatal("committed new blob reads back wrong")
			}
			if rep, err := v2.Verify(ctx); err != nil || !rep.OK() {
				t.Fatalf("verify after crash: %+v %v", rep, err)
			}
			if _, err := v2.GC(ctx); err != nil {
				t.Fatal(err)
			}
			if rep, _ := v2.Verify(ctx); !rep.OK() {
				t.Fatalf("verify after gc: %+v", rep)
			}
			if !bytes.Equal(readAll(t, v2, "c/keep.bak"), keep) {
				t.Fatal("gc after the crash damaged a committed blob")
			}
		})
	}
}
