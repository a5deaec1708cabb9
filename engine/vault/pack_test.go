package vault

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// putHook runs during each pack write, in the writing goroutine, with the
// bytes the backend was handed.
type putHook struct {
	Backend
	onPack func(data []byte)
}

func (b *putHook) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "packs/") && b.onPack != nil {
		b.onPack(data)
	}
	return b.Backend.Put(ctx, name, data)
}

// packWithChunk is a pack of the vault's buffers holding one sealed chunk.
func packWithChunk(v *Vault, id ChunkID, comp []byte) *packWriter {
	p := v.packBufs.get(0)
	v.mu.Lock()
	sealInto(v.k.aead, p.reserve(id, sealedLen(v.k.aead, len(comp)), int64(len(comp)), ""), comp)
	v.pending[id] = true
	v.mu.Unlock()
	return p
}

// TestPackBufferIsReusedOnlyAfterItsWrite: while a pack is being written,
// the next pack gets a buffer of its own (the one being written would
// otherwise be overwritten under the backend, and the pack stored with
// another pack's bytes); once the write returns, its buffer serves the
// next pack instead of a new one the runtime must clear.
func TestPackBufferIsReusedOnlyAfterItsWrite(t *testing.T) {
	hook := &putHook{Backend: mustDir(t)}
	v := newVault(t, hook, Options{PackSize: 64 << 10})
	p := packWithChunk(v, ChunkID{1}, bytes.Repeat([]byte("page "), 1000))
	written := &p.buf[:1][0]
	hook.onPack = func(data []byte) {
		before := bytes.Clone(data)
		q := v.packBufs.get(0) // another ingest worker opening the next pack
		q.buf = q.buf[:cap(q.buf)]
		for i := range q.buf {
			q.buf[i] = 0xAA
		}
		if !bytes.Equal(data, before) {
			t.Error("the next pack got the buffer of the pack being written")
		}
		q.release()
		hook.onPack = nil
	}
	if err := v.writePack(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.locate(ChunkID{1}); !ok {
		t.Fatal("the chunk is not indexed after its pack was written")
	}
	next := v.packBufs.get(0)
	if &next.buf[:1][0] != written {
		t.Error("the written pack's buffer was not handed to the next pack")
	}
}

// TestPackIsWrittenOnlyAfterItsSeals: a chunk's place in the open pack is
// taken under the vault's lock and sealed after it, so the pack may be
// full and handed to its write while a worker still seals; the write
// must wait for that seal, or the pack is stored with a hole where the
// chunk should be.
func TestPackIsWrittenOnlyAfterItsSeals(t *testing.T) {
	hook := &putHook{Backend: mustDir(t)}
	v := newVault(t, hook, Options{PackSize: 64 << 10})
	comp := bytes.Repeat([]byte("row "), 1000)
	id := ChunkID{2}
	p := v.packBufs.get(0)
	v.mu.Lock()
	dst := p.reserve(id, sealedLen(v.k.aead, len(comp)), int64(len(comp)), "")
	p.sealing.Add(1) // as addToPack does before it lets the lock go
	v.pending[id] = true
	v.mu.Unlock()

	var mu sync.Mutex
	putStarted := false
	hook.onPack = func(data []byte) {
		mu.Lock()
		putStarted = true
		mu.Unlock()
		if _, err := open(v.k.aead, data[:len(dst)]); err != nil {
			t.Errorf("the pack was written before its chunk was sealed: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- v.writePack(context.Background(), p) }()
	// Seal once the write waits for it (or has gone on without waiting).
	for deadline := time.Now().Add(time.Minute); ; {
		mu.Lock()
		started := putStarted
		mu.Unlock()
		if started || writePackWaits() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pack write neither waited for the seal nor went on")
		}
		time.Sleep(time.Millisecond) // a poll, not a timing: each look stops the world
	}
	sealInto(v.k.aead, dst, comp)
	p.sealing.Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// writePackWaits says whether a goroutine sits in writePack waiting for
// the seals of its pack.
func writePackWaits() bool {
	buf := make([]byte, 1<<20)
	for n := runtime.Stack(buf, true); ; n = runtime.Stack(buf, true) {
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf)) // every goroutine's stack, none cut off
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*Vault).writePack(") && strings.Contains(g, "sync.(*WaitGroup).Wait") {
			return true
		}
	}
	return false
}
