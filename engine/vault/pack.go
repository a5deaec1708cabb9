package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// packWriter gathers sealed chunks for one pack object.
type packWriter struct {
	buf     bytes.Buffer
	entries map[ChunkID]location
}

func newPackWriter(capacity int) *packWriter {
	p := &packWriter{entries: map[ChunkID]location{}}
	p.buf.Grow(capacity + 512<<10)
	return p
}

// add appends a chunk sealed already (GC moving it between packs).
func (p *packWriter) add(id ChunkID, sealed []byte, size int64) {
	p.entries[id] = location{Offset: int64(p.buf.Len()), Length: int64(len(sealed)), Size: size}
	p.buf.Write(sealed)
}

// seal encrypts a compressed chunk straight into the pack: nonce, then
// ciphertext and tag.
func (p *packWriter) seal(aead cipher.AEAD, id ChunkID, comp []byte, size int64) {
	off := p.buf.Len()
	n := aead.NonceSize() + len(comp) + aead.Overhead()
	p.buf.Grow(n)
	b := p.buf.AvailableBuffer()[:aead.NonceSize()]
	rand.Read(b)
	b = aead.Seal(b, b, comp, nil)
	p.buf.Write(b)
	p.entries[id] = location{Offset: int64(off), Length: int64(n), Size: size}
}

func (p *packWriter) size() int { return p.buf.Len() }

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
