package vault

import (
	"sort"
	"sync"
)

// RESTORE reads a blob front to back in ranges of MAXTRANSFERSIZE, each
// a request of its own (a Reader per range). On object storage a ranged
// GET per 64 KiB chunk makes the read a round trip per chunk, so a chunk
// not in the cache brings the chunks of about one range after it: one
// GET for each run of them that lie near each other in a pack, a few
// GETs at once. Each chunk is still opened, decompressed and checked
// against its id before anyone sees it.
const (
	readAheadPlain = 4 << 20   // plaintext of the blob one read-ahead covers
	spanGap        = 128 << 10 // bytes of other chunks a GET reads across rather than make two
	spanMax        = 8 << 20   // the largest ranged GET
	spansAtOnce    = 4         // GETs of one read-ahead in flight at once
	aheadBudget    = 32 << 20  // plaintext read ahead and not yet used, the whole vault
)

// aheadChunk is a chunk to read ahead and where it lies.
type aheadChunk struct {
	id  ChunkID
	loc location
}

// span is one ranged GET: a pack's bytes [off, end) holding chunks.
type span struct {
	pack     string
	off, end int64
	chunks   []aheadChunk
}

// planSpans groups chunks into ranged GETs: sorted by pack and offset, a
// chunk joins the span before it when it lies at most spanGap past its
// end and the span stays within spanMax.
func planSpans(chunks []aheadChunk) []span {
	sort.Slice(chunks, func(i, j int) bool {
		a, b := chunks[i].loc, chunks[j].loc
		return a.Pack < b.Pack || a.Pack == b.Pack && a.Offset < b.Offset
	})
	var out []span
	for _, c := range chunks {
		end := c.loc.Offset + c.loc.Length
		if n := len(out); n > 0 {
			s := &out[n-1]
			if s.pack == c.loc.Pack && c.loc.Offset >= s.end && c.loc.Offset-s.end <= spanGap && end-s.off <= spanMax {
				s.end, s.chunks = end, append(s.chunks, c)
				continue
			}
		}
		out = append(out, span{pack: c.loc.Pack, off: c.loc.Offset, end: end, chunks: []aheadChunk{c}})
	}
	return out
}

// aheadStore keeps the chunks read ahead, decoded and checked, until a
// reader takes one (it then goes to the chunk cache) or the budget
// pushes the oldest out.
type aheadStore struct {
	mu    sync.Mutex
	items map[ChunkID][]byte
	order []ChunkID // oldest first; may name chunks taken already
	bytes int64
}

func (a *aheadStore) put(id ChunkID, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.items == nil {
		a.items = map[ChunkID][]byte{}
	}
	if _, ok := a.items[id]; ok {
		return
	}
	a.items[id] = data
	a.order = append(a.order, id)
	a.bytes += int64(len(data))
	for a.bytes > aheadBudget && len(a.order) > 0 {
		a.drop(a.order[0])
		a.order = a.order[1:]
	}
	if len(a.order) > 2*len(a.items)+64 { // mostly taken: compact
		kept := a.order[:0]
		for _, id := range a.order {
			if _, ok := a.items[id]; ok {
				kept = append(kept, id)
			}
		}
		a.order = kept
	}
}

func (a *aheadStore) drop(id ChunkID) {
	if b, ok := a.items[id]; ok {
		a.bytes -= int64(len(b))
		delete(a.items, id)
	}
}

// has reports whether id waits in the store.
func (a *aheadStore) has(id ChunkID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.items[id]
	return ok
}

// take removes id from the store and answers it.
func (a *aheadStore) take(id ChunkID) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.items[id]
	a.drop(id)
	return b, ok
}

// cached reports whether the chunk cache holds id.
func (v *Vault) cached(id ChunkID) bool {
	_, ok := v.cache.get(id)
	return ok
}

// chunk answers the blob's chunk i: from the cache, from what was read
// ahead, or read ahead now. A chunk the read-ahead could not bring (its
// GET or its check failed) is read alone by readChunk, which reports the
// error or finds the chunk moved or under a delete marker.
func (r *Reader) chunk(i int) ([]byte, error) {
	id := r.m.Chunks[i].ID
	if b, ok := r.v.cache.get(id); ok {
		return b, nil
	}
	b, ok := r.v.ahead.take(id)
	if !ok {
		r.readAhead(i)
		b, ok = r.v.ahead.take(id)
	}
	if !ok {
		return r.v.readChunk(r.ctx, id)
	}
	r.v.cache.put(id, b)
	return b, nil
}

// readAhead brings the chunks of about readAheadPlain of the blob from
// chunk i on that are neither cached nor read ahead already.
func (r *Reader) readAhead(i int) {
	r.v.touch()
	spans := planSpans(r.toReadAhead(i))
	next := make(chan span)
	var wg sync.WaitGroup
	for range min(spansAtOnce, len(spans)) {
		wg.Go(func() {
			for s := range next {
				r.readSpan(s)
			}
		})
	}
	for _, s := range spans {
		next <- s
	}
	close(next)
	wg.Wait()
}

// toReadAhead lists the chunks from i on, about readAheadPlain of the
// blob, with their locations; each chunk once.
func (r *Reader) toReadAhead(i int) []aheadChunk {
	var ids []ChunkID
	seen := map[ChunkID]bool{}
	for plain := int64(0); i < len(r.m.Chunks) && plain < readAheadPlain; i++ {
		c := r.m.Chunks[i]
		plain += c.Size
		if !seen[c.ID] && !r.v.cached(c.ID) && !r.v.ahead.has(c.ID) {
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
	}
	out := make([]aheadChunk, 0, len(ids))
	r.v.mu.Lock()
	defer r.v.mu.Unlock()
	for _, id := range ids {
		if loc, ok := r.v.index[id]; ok {
			out = append(out, aheadChunk{id, loc})
		}
	}
	return out
}

// readSpan makes one ranged GET and keeps each chunk in it that opens and
// matches its id; on an error it keeps nothing (chunk reads them alone).
func (r *Reader) readSpan(s span) {
	data, err := r.v.b.GetRange(r.ctx, s.pack, s.off, s.end-s.off)
	if err != nil {
		return
	}
	for _, c := range s.chunks {
		at := c.loc.Offset - s.off
		plain, err := r.v.decodeChunk(c.id, data[at:at+c.loc.Length], c.loc)
		if err == nil {
			r.v.ahead.put(c.id, plain)
		}
	}
}
