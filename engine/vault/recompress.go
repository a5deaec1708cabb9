package vault

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// RecompressReport says what a recompression did.
type RecompressReport struct {
	Packs  int   // packs rewritten
	Bytes  int64 // plaintext bytes of the chunks recompressed
	Before int64 // their sealed bytes before
	After  int64 // and after
	Left   int   // packs still holding chunks of the ingest codec
}

// Recompress brings the chunks stored with the fast ingest codec to the
// vault's own codec, a pack at a time, a pack per core: it decodes and
// checks each chunk, compresses it again, writes the new pack and its
// index, then drops the old pack as GC does (a crash in between leaves
// a chunk indexed twice, which GC resolves). It stops early, without
// error, once busy reports a backup or restore at work. A vault under
// an object lock is left as it is: its old packs stay retained, so a
// rewrite would only add bytes.
func (v *Vault) Recompress(ctx context.Context, busy func() bool) (RecompressReport, error) {
	var rep RecompressReport
	if v.locker() != nil {
		return rep, nil
	}
	v.recompMu.Lock()
	defer v.recompMu.Unlock()
	todo := v.fastPacks()
	var mu sync.Mutex
	var firstErr error
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for name := range next {
				r, err := v.recompressPack(ctx, name)
				mu.Lock()
				rep.Packs, rep.Bytes, rep.Before, rep.After = rep.Packs+r.Packs, rep.Bytes+r.Bytes, rep.Before+r.Before, rep.After+r.After
				firstErr = cmp(firstErr, err)
				mu.Unlock()
			}
		})
	}
	for _, name := range todo {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil || (busy != nil && busy()) {
			break
		}
		next <- name
	}
	close(next)
	wg.Wait()
	rep.Left = len(v.fastPacks())
	return rep, cmp(firstErr, ctx.Err())
}

// fastPacks names the packs holding a chunk of another codec than the
// vault's, in name order.
func (v *Vault) fastPacks() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for name, ids := range v.packs {
		for _, id := range ids {
			if loc, ok := v.index[id]; ok && loc.Pack == name && loc.Codec != "" {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// recompressPack rewrites one pack; writers go on meanwhile, GC waits.
func (v *Vault) recompressPack(ctx context.Context, name string) (RecompressReport, error) {
	var rep RecompressReport
	v.gcMu.RLock()
	defer v.gcMu.RUnlock()
	data, err := v.b.Get(ctx, name)
	if err != nil {
		return rep, fmt.Errorf("recompress %s: %w", name, err)
	}
	type entry struct {
		id  ChunkID
		loc location
	}
	var entries []entry
	v.mu.Lock()
	for _, id := range v.packs[name] {
		if loc, ok := v.index[id]; ok && loc.Pack == name {
			entries = append(entries, entry{id, loc})
		}
	}
	v.mu.Unlock()
	if len(entries) == 0 {
		return rep, nil // GC's to drop
	}
	// Keep the order the chunks arrived in: a blob's chunks stay near each
	// other, so a restore reads them in a few ranged GETs (readahead.go).
	sort.Slice(entries, func(i, j int) bool { return entries[i].loc.Offset < entries[j].loc.Offset })
	out := v.packBufs.get(len(data))
	buf := compBufs.Get().(*[]byte)
	defer compBufs.Put(buf)
	for _, e := range entries {
		if e.loc.Offset+e.loc.Length > int64(len(data)) {
			return rep, fmt.Errorf("recompress %s: chunk %s lies past the end; run verify", name, e.id)
		}
		sealed := data[e.loc.Offset : e.loc.Offset+e.loc.Length]
		if e.loc.Codec == "" {
			out.add(e.id, sealed, e.loc)
			continue
		}
		plain, err := v.decodeChunk(e.id, sealed, e.loc)
		if err != nil {
			return rep, fmt.Errorf("recompress %s: chunk %s: %w", name, e.id, err)
		}
		*buf = v.compress(plain, (*buf)[:0], v.codec)
		out.seal(v.k.aead, e.id, *buf, e.loc.Size, "")
		rep.Bytes += e.loc.Size
		rep.Before += e.loc.Length
		rep.After += out.entries[e.id].Length
	}
	if err := v.writePack(ctx, out); err != nil {
		return RecompressReport{}, fmt.Errorf("recompress %s: %w", name, err)
	}
	v.hook("recompress-after-write")
	if err := v.dropPack(ctx, name, "recompress-after-index-delete"); err != nil {
		return rep, fmt.Errorf("recompress %s: %w", name, err)
	}
	rep.Packs = 1
	return rep, nil
}

// RecompressWhenIdle runs Recompress whenever no block was stored and no
// chunk read for quiet, until ctx ends: backups ingest with the fast
// codec and the vault still keeps its own codec's ratio at rest.
func (v *Vault) RecompressWhenIdle(ctx context.Context, quiet time.Duration) {
	if v.ingest == v.codec {
		return
	}
	busy := func() bool { return time.Since(time.Unix(0, v.activity.Load())) < quiet }
	t := time.NewTicker(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if busy() {
			continue
		}
		rep, err := v.Recompress(ctx, busy)
		if err != nil && ctx.Err() == nil {
			v.log.Warn("background recompression failed; it is tried again when the vault is idle", "err", err)
		} else if rep.Packs > 0 {
			v.log.Info("background recompression", "packs", rep.Packs, "bytes_before", rep.Before, "bytes_after", rep.After, "packs_left", rep.Left)
		}
	}
}

// IngestCodec is the codec new chunks are stored with.
func (v *Vault) IngestCodec() string { return v.ingest }
