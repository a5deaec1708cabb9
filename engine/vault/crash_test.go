package vault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as a crashing child: with
// VAULT_CRASH_DIR set it uploads into that vault and kills itself with
// SIGKILL at the point named by VAULT_CRASH_AT.
func TestMain(m *testing.M) {
	if dir := os.Getenv("VAULT_CRASH_DIR"); dir != "" || os.Getenv("VAULT_CRASH_URL") != "" {
		crashChild(dir, os.Getenv("VAULT_CRASH_AT"))
		os.Exit(3) // the kill point was never reached
	}
	if dir := os.Getenv("VAULT_RSS_DIR"); dir != "" {
		rssChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashChild(dir, point string) {
	ctx := context.Background()
	var b Backend
	if url := os.Getenv("VAULT_CRASH_URL"); url != "" {
		bb, err := NewBucketBackend(ctx, url)
		if err != nil {
			os.Exit(4)
		}
		b = bb
	} else {
		b, _ = NewDirBackend(dir)
	}
	kill := func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	v, err := Open(ctx, b, pass, Options{PackSize: 128 << 10, Hook: kill})
	if err != nil {
		os.Exit(4)
	}
	if strings.HasPrefix(point, "recompress-") {
		v.Recompress(ctx, nil)
		return
	}
	if strings.HasPrefix(point, "gc-") {
		v.DeleteBlob(ctx, "c/old.bak")
		v.DeleteBlob(ctx, "c/mix-a.bak") // shares packs with mix-b: GC repacks
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
	crashAtEveryPoint(t, func(t *testing.T) (Backend, string) {
		dir := t.TempDir()
		b, _ := NewDirBackend(dir)
		return b, "VAULT_CRASH_DIR=" + dir
	})
}

// TestCrashAtEveryPointOnS3 is the same against SeaweedFS's S3 gateway,
// a prefix of one bucket per crash point (SeaweedFS gives each bucket
// volumes of its own, and a few buckets exhaust a small server).
func TestCrashAtEveryPointOnS3(t *testing.T) {
	sw := startSeaweed(t)
	bucket := sw.bucket(t, "crash", false)
	n := 0
	crashAtEveryPoint(t, func(t *testing.T) (Backend, string) {
		n++
		url := fmt.Sprintf("%s&prefix=point%d/", bucket, n)
		b, err := NewBucketBackend(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, "VAULT_CRASH_URL=" + url
	})
}

// crashAtEveryPoint runs the crash points on the backends newBackend
// makes; its second answer is the environment entry that has the child
// open the same storage.
func crashAtEveryPoint(t *testing.T, newBackend func(t *testing.T) (Backend, string)) {
	points := []struct {
		name      string
		committed bool // the new blob is committed at this point
	}{
		{"after-pack", false}, {"after-index", false}, {"before-manifest", false},
		{"after-manifest", true}, {"after-commit", true},
		{"gc-after-index-delete", false}, {"gc-after-repack-write", false},
		{"recompress-after-write", false}, {"recompress-after-index-delete", false},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, where := newBackend(t)
			opts := Options{PackSize: 128 << 10}
			if strings.HasPrefix(p.name, "recompress-") {
				opts.IngestCodec = CodecS2 // packs for the child to recompress
			}
			v := newVault(t, b, opts)
			old := pages(40, 1<<20)
			upload(t, v, "c/old.bak", old, 1<<18)
			keep := pages(42, 512<<10)
			upload(t, v, "c/keep.bak", keep, 1<<18)
			mixA, mixB := pages(43, 1<<20), pages(44, 1<<20)
			interleave(t, v, "c/mix-a.bak", mixA, "c/mix-b.bak", mixB, 1<<16)
			st0, _ := v.Stats(ctx)
			v.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), where, "VAULT_CRASH_AT="+p.name)
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die at %s: %v", p.name, err)
			}

			v2, err := Open(ctx, b, pass, Options{})
			if err != nil {
				t.Fatalf("reopen after crash: %v", err)
			}
			if !bytes.Equal(readAll(t, v2, "c/keep.bak"), keep) || !bytes.Equal(readAll(t, v2, "c/mix-b.bak"), mixB) {
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
			if !bytes.Equal(readAll(t, v2, "c/keep.bak"), keep) || !bytes.Equal(readAll(t, v2, "c/mix-b.bak"), mixB) {
				t.Fatal("gc after the crash damaged a committed blob")
			}
			// What no committed backup references is gone, the chunks of
			// the interrupted upload included.
			st, _ := v2.Stats(ctx)
			if ref := referencedBytes(t, v2); st.StoredBytes != ref {
				t.Fatalf("after gc the vault stores %d bytes, but committed backups reference %d", st.StoredBytes, ref)
			}
			if !p.committed && !strings.HasPrefix(p.name, "gc-") && !strings.HasPrefix(p.name, "recompress-") && st.StoredBytes != st0.StoredBytes {
				t.Fatalf("the interrupted upload left %d bytes after gc", st.StoredBytes-st0.StoredBytes)
			}
			if left, _ := b.List(ctx, "packs/"); len(left) != st.Packs {
				t.Fatalf("%d pack files for %d indexed packs", len(left), st.Packs)
			}
		})
	}
}

// interleave uploads two blobs block by block in turn, so their chunks
// share packs.
func interleave(t *testing.T, v *Vault, a string, da []byte, b string, db []byte, block int) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i*block < len(da); i++ {
		id := fmt.Sprintf("%06d", i)
		if err := v.PutBlock(ctx, a, id, da[i*block:(i+1)*block]); err != nil {
			t.Fatal(err)
		}
		if err := v.PutBlock(ctx, b, id, db[i*block:(i+1)*block]); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, blob := range []string{a, b} {
		if _, err := v.CommitBlob(ctx, blob, ids, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// referencedBytes sums the sealed size of the distinct chunks committed
// manifests name.
func referencedBytes(t *testing.T, v *Vault) int64 {
	t.Helper()
	ms, err := v.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[ChunkID]bool{}
	var n int64
	for _, m := range ms {
		for _, c := range m.Chunks {
			if !seen[c.ID] {
				seen[c.ID] = true
				n += v.index[c.ID].Length
			}
		}
	}
	return n
}
