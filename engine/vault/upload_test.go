package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatedBackend holds pack writes at a gate, counts how many wait there at
// once, records the order writes complete in, and can fail pack writes.
type gatedBackend struct {
	Backend
	gate chan struct{} // closed: pack writes go through

	mu       sync.Mutex
	inPut    int      // pack writes under way now
	maxInPut int      // the most at once
	done     []string // completed writes, in order
	failNext int      // pack writes still to fail
}

var errStorageFull = fmt.Errorf("storage refused the write: %w", syscall.ENOSPC)

func (g *gatedBackend) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "packs/") {
		g.mu.Lock()
		g.inPut++
		g.maxInPut = max(g.maxInPut, g.inPut)
		g.mu.Unlock()
		<-g.gate
		g.mu.Lock()
		g.inPut--
		fail := g.failNext > 0
		if fail {
			g.failNext--
		}
		g.mu.Unlock()
		if fail {
			return errStorageFull
		}
	}
	if err := g.Backend.Put(ctx, name, data); err != nil {
		return err
	}
	g.mu.Lock()
	g.done = append(g.done, name)
	g.mu.Unlock()
	return nil
}

func (g *gatedBackend) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inPut
}

// TestPackWritesOverlapBoundedAndBeforeTheManifest: full packs are
// written in the background, uploadsInFlight at a time while the stream
// goes on (the writes of one stream's packs overlap, which is what makes
// object storage keep up), never more (each holds a pack's memory); the
// manifest is written only after every pack and index its chunks are in,
// and the blob reads back whole from a vault opened afresh.
func TestPackWritesOverlapBoundedAndBeforeTheManifest(t *testing.T) {
	g := &gatedBackend{Backend: mustDir(t), gate: make(chan struct{})} // Create writes no pack
	v := newVault(t, g, Options{PackSize: 32 << 10, Workers: 1})

	data := pages(61, 1<<20) // about 9 packs of 32 KiB after compression
	ctx := context.Background()
	result := make(chan error, 1)
	go func() {
		var ids []string
		for i := 0; i*(128<<10) < len(data); i++ {
			id := fmt.Sprintf("%04d", i)
			if err := v.PutBlock(ctx, "c/a.bak", id, data[i*(128<<10):(i+1)*(128<<10)]); err != nil {
				result <- err
				return
			}
			ids = append(ids, id)
		}
		_, err := v.CommitBlob(ctx, "c/a.bak", ids, nil)
		result <- err
	}()
	// With the gate shut, writes pile up to the bound, no further.
	for deadline := time.Now().Add(time.Minute); g.waiting() < uploadsInFlight; {
		if time.Now().After(deadline) {
			t.Fatalf("%d pack writes under way with the storage stalled, want %d in flight", g.waiting(), uploadsInFlight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.gate)
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if g.maxInPut != uploadsInFlight {
		t.Fatalf("at most %d pack writes at once, want %d", g.maxInPut, uploadsInFlight)
	}

	// Everything the manifest names was durable before it.
	manifest := -1
	durable := map[string]bool{}
	for i, name := range g.done {
		durable[name] = true
		if name == manifestName("c/a.bak") {
			manifest = i
			break
		}
	}
	if manifest < 0 {
		t.Fatal("the manifest was never written")
	}
	m, _ := v.Manifest(ctx, "c/a.bak")
	for _, c := range m.Chunks {
		pack := v.index[c.ID].Pack
		if !durable[pack] || !durable["index/"+strings.TrimPrefix(pack, "packs/")] {
			t.Fatalf("the manifest was written before %s and its index", pack)
		}
	}
	v2, err := Open(ctx, g.Backend, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v2, "c/a.bak"); string(got) != string(data) {
		t.Fatal("the blob reads back wrong from a vault opened afresh")
	}
}

// TestFailedPackWriteFailsItsUpload: the storage refuses a pack written
// in the background. The upload fails (at a later block or at commit,
// never committing), with the storage's error inside (a full disk stays
// UserErrorVaultStorageFull); verify is clean, GC leaves nothing of it,
// and the next upload succeeds.
func TestFailedPackWriteFailsItsUpload(t *testing.T) {
	g := &gatedBackend{Backend: mustDir(t), gate: make(chan struct{})}
	close(g.gate)
	v := newVault(t, g, Options{PackSize: 64 << 10})
	ctx := context.Background()
	keep := upload(t, v, "c/keep.bak", pages(62, 256<<10), 64<<10)
	st0, _ := v.Stats(ctx)

	g.mu.Lock()
	g.failNext = 1
	g.mu.Unlock()
	data := pages(63, 1<<20)
	var ids []string
	var err error
	for i := 0; i*(64<<10) < len(data) && err == nil; i++ {
		id := fmt.Sprintf("%04d", i)
		err = v.PutBlock(ctx, "c/lost.bak", id, data[i*(64<<10):(i+1)*(64<<10)])
		ids = append(ids, id)
	}
	if err == nil {
		_, err = v.CommitBlob(ctx, "c/lost.bak", ids, nil)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("upload over a failed pack write: %v, want the storage's ENOSPC", err)
	}
	v.AbortBlob("c/lost.bak")
	if ms, _ := v.List(ctx, "c/lost"); len(ms) != 0 {
		t.Fatal("an upload whose pack failed was committed")
	}
	if rep, err := v.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if _, err := v.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := v.Stats(ctx); st.StoredBytes != st0.StoredBytes {
		t.Fatalf("after gc the vault stores %d bytes, %d before the failed upload", st.StoredBytes, st0.StoredBytes)
	}
	again := upload(t, v, "c/again.bak", data, 64<<10)
	if string(readAll(t, v, again.Blob)) != string(data) || string(readAll(t, v, keep.Blob)) != string(pages(62, 256<<10)) {
		t.Fatal("an upload after the failure, or one before it, reads back wrong")
	}
}
