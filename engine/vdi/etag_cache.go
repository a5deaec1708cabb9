package vdi

import (
	"sync"
	"time"
)

// etagCache keeps the ETag of each blob read. Deriving it hashes the
// whole manifest (every chunk id), and a restore's ranged GETs, one per
// few MiB, would redo that each time: two thirds of the device's CPU on a
// restore before this cache. A committed blob is write-once, so its name
// and commit time key it.
type etagCache struct {
	mu sync.Mutex
	m  map[string]string
}

const etagCacheSize = 4096 // blobs; a full map starts over

func (c *etagCache) of(blob string, br BlobReader) string {
	key := blob + "\x00" + br.ModTime().UTC().Format(time.RFC3339Nano)
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return e
	}
	e = br.ETag()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= etagCacheSize {
		c.m = map[string]string{}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e
}
