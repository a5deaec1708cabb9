package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// packWriter gathers sealed chunks for one pack object. Ingest workers
// reserve their chunk's bytes under the vault's lock and seal into them
// outside it (AES-GCM and the copy of the chunk need no lock), so buf's
// capacity never changes while seals run; sealing counts those still
// under way, and the pack is written only once it is zero.
type packWriter struct {
	buf     []byte
	entries map[ChunkID]location
	sealing sync.WaitGroup
	free    *packBufs // where buf goes once the pack is written; nil: the heap
}

// newPackWriter makes a pack on a buffer of its own, for a single writer
// (GC moving chunks), which may grow it.
func newPackWriter(capacity int) *packWriter {
	return &packWriter{buf: make([]byte, 0, capacity+512<<10), entries: map[ChunkID]location{}}
}

// sealedLen is the bytes a chunk of n compressed bytes takes in a pack.
func sealedLen(aead cipher.AEAD, n int) int { return aead.NonceSize() + n + aead.Overhead() }

// fits says whether n more bytes fit without growing the buffer.
func (p *packWriter) fits(n int) bool { return len(p.buf)+n <= cap(p.buf) }

// reserve claims the next n bytes for chunk id and records where it lies;
// the caller fills them. Callers hold the vault's lock, or are alone.
func (p *packWriter) reserve(id ChunkID, n int, size int64, codec string) []byte {
	off := len(p.buf)
	p.buf = p.buf[:off+n]
	p.entries[id] = location{Offset: int64(off), Length: int64(n), Size: size, Codec: codec}
	return p.buf[off : off+n : off+n]
}

// grow makes room for n more bytes; only a pack with a single writer may.
func (p *packWriter) grow(n int) {
	if !p.fits(n) {
		buf := make([]byte, len(p.buf), 2*cap(p.buf)+n)
		copy(buf, p.buf)
		p.buf = buf
	}
}

// add appends a chunk sealed already (GC moving it between packs).
func (p *packWriter) add(id ChunkID, sealed []byte, from location) {
	p.grow(len(sealed))
	copy(p.reserve(id, len(sealed), from.Size, from.Codec), sealed)
}

// seal encrypts a compressed chunk into the pack (a single writer's).
func (p *packWriter) seal(aead cipher.AEAD, id ChunkID, comp []byte, size int64, codec string) {
	n := sealedLen(aead, len(comp))
	p.grow(n)
	sealInto(aead, p.reserve(id, n, size, codec), comp)
}

// sealInto encrypts comp into dst, exactly sealedLen long: nonce, then
// ciphertext and tag.
func sealInto(aead cipher.AEAD, dst, comp []byte) {
	nonce := dst[:aead.NonceSize()]
	rand.Read(nonce)
	aead.Seal(nonce, nonce, comp, nil)
}

func (p *packWriter) size() int { return len(p.buf) }

// release hands the buffer back once the pack is written: every backend's
// Put is done with data when it returns (DirBackend writes a file; the
// bucket backend's PutObject and Upload read it in the call).
func (p *packWriter) release() {
	if p.free != nil {
		p.free.put(p.buf)
	}
	p.buf, p.free = nil, nil
}

// packBufs keeps the buffers of written packs for the next ones: a fresh
// 16 MiB buffer is cleared by the runtime first (7 % of ingest's CPU),
// while a reused one is only overwritten where chunks are sealed. It
// holds at most keep buffers (the packs that are written at once, and
// the open one); the rest go to the garbage collector.
type packBufs struct {
	capacity, keep int
	mu             sync.Mutex
	bufs           [][]byte
}

func newPackBufs(packSize, chunkMax int) *packBufs {
	// A pack is full at packSize; the chunk that fills it may pass it by
	// one sealed chunk, at most about chunkMax (incompressible data).
	return &packBufs{capacity: packSize + chunkMax + chunkMax/4 + 4<<10, keep: uploadsInFlight + 2}
}

// get answers an empty pack able to take n bytes, on a kept buffer when
// it is big enough.
func (b *packBufs) get(n int) *packWriter {
	p := &packWriter{entries: map[ChunkID]location{}}
	if n > b.capacity {
		p.buf = make([]byte, 0, n)
		return p
	}
	p.free = b
	b.mu.Lock()
	if k := len(b.bufs); k > 0 {
		p.buf = b.bufs[k-1][:0]
		b.bufs = b.bufs[:k-1]
	}
	b.mu.Unlock()
	if p.buf == nil {
		p.buf = make([]byte, 0, b.capacity)
	}
	return p
}

func (b *packBufs) put(buf []byte) {
	if cap(buf) < b.capacity {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bufs) < b.keep {
		b.bufs = append(b.bufs, buf[:0])
	}
}

func randomName() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// chunkCache keeps recently decoded chunks for sequential and repeated reads.
type chunkCache struct {
	mu    sync.Mutex
	max   int
	order []ChunkID
	items map[ChunkID][]byte
}

func newChunkCache(n int) *chunkCache { return &chunkCache{max: n, items: map[ChunkID][]byte{}} }

func (c *chunkCache) get(id ChunkID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.items[id]
	return b, ok
}

func (c *chunkCache) put(id ChunkID, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.order = append(c.order, id)
	c.items[id] = b
}
