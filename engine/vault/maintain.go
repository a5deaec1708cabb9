package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Packs, Chunks int
	Bytes         int64
	DamagedPacks  []string // packs with a chunk that does not authenticate
	MissingChunks int      // referenced by a manifest but in no index
	AffectedBlobs []string // committed blobs that read a damaged or missing chunk
	// HiddenObjects were under a delete marker and read from a retained
	// version: tampering, but nothing lost (hidden.go).
	HiddenObjects []string
}

// OK reports whether nothing is damaged.
func (r VerifyReport) OK() bool { return len(r.DamagedPacks) == 0 && r.MissingChunks == 0 }

// Verify reads every pack, authenticates and checks every chunk, and names
// the blobs a damaged pack affects.
func (v *Vault) Verify(ctx context.Context) (VerifyReport, error) {
	v.gcMu.RLock()
	defer v.gcMu.RUnlock()
	var rep VerifyReport
	byPack := map[string]map[ChunkID]location{}
	v.mu.Lock()
	for id, loc := range v.index {
		if byPack[loc.Pack] == nil {
			byPack[loc.Pack] = map[ChunkID]location{}
		}
		byPack[loc.Pack][id] = loc
	}
	v.mu.Unlock()
	bad := map[ChunkID]bool{}
	for pack, chunks := range byPack {
		rep.Packs++
		data, err := v.b.Get(ctx, pack)
		if errors.Is(err, ErrNotExist) { // a delete marker over a retained pack?
			data, err = v.readHidden(ctx, pack, 0, -1, v.packOpens(chunks))
		}
		damaged := err != nil
		for id, loc := range chunks {
			rep.Chunks++
			rep.Bytes += loc.Size
			if err != nil || loc.Offset+loc.Length > int64(len(data)) {
				bad[id] = true
				continue
			}
			if _, derr := v.decodeChunk(id, data[loc.Offset:loc.Offset+loc.Length], loc); derr != nil {
				bad[id], damaged = true, true
			}
		}
		if damaged {
			rep.DamagedPacks = append(rep.DamagedPacks, pack)
		}
	}
	ms, err := v.List(ctx, "")
	if err != nil {
		return rep, err
	}
	for _, m := range ms {
		hit := false
		for _, c := range m.Chunks {
			v.mu.Lock()
			_, known := v.index[c.ID]
			v.mu.Unlock()
			if !known {
				rep.MissingChunks++
			}
			hit = hit || bad[c.ID] || !known
		}
		if hit {
			rep.AffectedBlobs = append(rep.AffectedBlobs, m.Blob)
		}
	}
	sort.Strings(rep.DamagedPacks)
	sort.Strings(rep.AffectedBlobs)
	rep.HiddenObjects = v.HiddenObjects()
	return rep, nil
}

// GCReport is what a collection removed.
type GCReport struct {
	PacksDeleted, PacksKept int
	PacksRepacked           int // packs whose live chunks were moved to new packs
	BytesFreed              int64
	OrphanPacks             int // packs no index named (left by a crash)
	ExpiredUploads          int // uploads idle past UncommittedTTL, forgotten
}

// GC removes every chunk no committed manifest or live upload references,
// after extending the object lock retention of the vault's own objects.
// A pack with no live chunk is deleted; a pack with some is rewritten: its
// live chunks (still sealed) go to a new pack whose pack and index objects
// are durable before the old index and then the old pack are deleted. So
// a crash at any point leaves at worst an orphan pack or a chunk indexed
// twice, never an index entry pointing at nothing.
func (v *Vault) GC(ctx context.Context) (GCReport, error) {
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	// A pack still being written is in no index yet: it would look like
	// an orphan. Writers are held off now, so no new one starts.
	v.up.wait()
	var rep GCReport
	if err := v.flush(ctx); err != nil {
		return rep, err
	}
	// Each pass moves the retention of the vault's own objects forward,
	// so it stays ahead of now while the vault lives.
	if err := v.RetainVault(ctx, time.Now()); err != nil {
		return rep, err
	}
	used := map[ChunkID]bool{}
	ms, err := v.List(ctx, "")
	if err != nil {
		return rep, err
	}
	for _, m := range ms {
		for _, c := range m.Chunks {
			used[c.ID] = true
		}
	}
	cutoff := time.Now().Add(-v.opts.UncommittedTTL)
	type packUse struct {
		name       string
		live, dead []ChunkID
		deadBytes  int64
	}
	var plan []packUse
	v.mu.Lock()
	for blob, st := range v.staged {
		if st.touched.Before(cutoff) {
			delete(v.staged, blob)
			rep.ExpiredUploads++
			continue
		}
		for _, refs := range st.blocks {
			for _, r := range refs {
				used[r.ID] = true
			}
		}
	}
	for name, ids := range v.packs {
		pu := packUse{name: name}
		for _, id := range ids {
			// A chunk indexed in two packs (a crash during an earlier GC)
			// lives only where the index points.
			if loc, ok := v.index[id]; ok && loc.Pack == name && used[id] {
				pu.live = append(pu.live, id)
			} else {
				pu.dead = append(pu.dead, id)
				if ok && loc.Pack == name {
					pu.deadBytes += loc.Length
				}
			}
		}
		plan = append(plan, pu)
	}
	v.mu.Unlock()
	sort.Slice(plan, func(i, j int) bool { return plan[i].name < plan[j].name })

	// moved holds old packs whose live chunks sit in out, not yet durable.
	var out *packWriter
	var moved []packUse
	drop := func(pu packUse) error {
		if err := v.dropPack(ctx, pu.name, "gc-after-index-delete"); err != nil {
			return err
		}
		rep.BytesFreed += pu.deadBytes
		return nil
	}
	writeOut := func() error {
		if out == nil {
			return nil
		}
		if err := v.writePack(ctx, out); err != nil {
			return err
		}
		v.hook("gc-after-repack-write")
		for _, pu := range moved {
			if err := drop(pu); err != nil {
				return err
			}
			rep.PacksRepacked++
		}
		out, moved = nil, nil
		return nil
	}
	for _, pu := range plan {
		switch {
		case len(pu.live) == 0:
			if err := drop(pu); err != nil {
				return rep, err
			}
			rep.PacksDeleted++
		case len(pu.dead) == 0, v.locker() != nil:
			// Under an object lock a repack would free nothing (the old
			// pack stays retained) and leave live chunks in a new,
			// unretained pack, so a pack with any live chunk stays whole.
			rep.PacksKept++
		default:
			data, err := v.b.Get(ctx, pu.name)
			if err != nil {
				return rep, fmt.Errorf("repack %s: %w", pu.name, err)
			}
			if out == nil {
				out = newPackWriter(v.opts.PackSize)
			}
			v.mu.Lock()
			for _, id := range pu.live {
				loc := v.index[id]
				if loc.Offset+loc.Length > int64(len(data)) {
					v.mu.Unlock()
					return rep, fmt.Errorf("repack %s: chunk %s lies past the end; run verify", pu.name, id)
				}
				out.add(id, data[loc.Offset:loc.Offset+loc.Length], loc)
			}
			v.mu.Unlock()
			moved = append(moved, pu)
			if out.size() >= v.opts.PackSize {
				if err := writeOut(); err != nil {
					return rep, err
				}
			}
		}
	}
	if err := writeOut(); err != nil {
		return rep, err
	}
	// Packs without an index (a crash between pack and index, or during
	// GC) hold nothing any manifest can name.
	packs, err := v.b.List(ctx, "packs/")
	if err != nil {
		return rep, err
	}
	v.mu.Lock()
	var orphans []string
	for _, p := range packs {
		if _, known := v.packs[p]; !known {
			orphans = append(orphans, p)
		}
	}
	v.mu.Unlock()
	for _, p := range orphans {
		if err := v.b.Delete(ctx, p); err != nil {
			return rep, err
		}
		rep.OrphanPacks++
	}
	return rep, nil
}

// ExtendRetention makes storage with an object lock hold each blob (its
// manifest, packs and their indexes) until at least the date given: a
// point whose expiry moved later since its backup (kept longer by an
// undelete, a longer soft delete period, a chain still needed) is held
// longer. A date earlier than one already held changes nothing: the lock
// never shortens. Blobs no longer in the vault are passed over. It
// answers how many blobs were extended; without a lock, none.
func (v *Vault) ExtendRetention(ctx context.Context, until map[string]time.Time) (int, error) {
	if v.locker() == nil {
		return 0, nil
	}
	blobs := make([]string, 0, len(until))
	for b := range until {
		blobs = append(blobs, b)
	}
	sort.Strings(blobs)
	n := 0
	for _, b := range blobs {
		if v.held.covers(b, until[b]) {
			continue
		}
		err := v.Retain(ctx, b, until[b])
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// dropPack deletes a pack's index, forgets the index entries that point
// into it, then deletes the pack: an entry never names a missing pack.
func (v *Vault) dropPack(ctx context.Context, name, hook string) error {
	index := "index/" + strings.TrimPrefix(name, "packs/")
	if err := v.markDeleted(ctx, index); err != nil { // marks.go: GC's marker is not taken for an attacker's
		return err
	}
	if err := v.b.Delete(ctx, index); err != nil {
		return err
	}
	v.recovered.forget(index)
	v.mu.Lock()
	for _, id := range v.packs[name] {
		if loc, ok := v.index[id]; ok && loc.Pack == name {
			delete(v.index, id)
		}
	}
	delete(v.packs, name)
	v.mu.Unlock()
	v.hook(hook)
	return v.b.Delete(ctx, name)
}

// Stats sums up the vault.
type Stats struct {
	Blobs        int     `json:"blobs"`
	LogicalBytes int64   `json:"logical_bytes"` // what the blobs add up to
	StoredBytes  int64   `json:"stored_bytes"`  // sealed chunk bytes in packs
	Chunks       int     `json:"chunks"`
	Packs        int     `json:"packs"`
	Ratio        float64 `json:"ratio"` // logical / stored
}

// Stats sums the blobs' sizes and the index. The first call reads every
// manifest; later ones use the sizes commits and deletes keep since.
func (v *Vault) Stats(ctx context.Context) (Stats, error) {
	v.sizesMu.Lock()
	if v.sizes == nil {
		sizes, err := v.readSizes(ctx)
		if err != nil {
			v.sizesMu.Unlock()
			return Stats{}, err
		}
		v.sizes = sizes
	}
	var s Stats
	for _, n := range v.sizes {
		s.Blobs++
		s.LogicalBytes += n
	}
	v.sizesMu.Unlock()
	v.mu.Lock()
	for _, loc := range v.index {
		s.Chunks++
		s.StoredBytes += loc.Length
	}
	s.Packs = len(v.packs)
	v.mu.Unlock()
	if s.StoredBytes > 0 {
		s.Ratio = float64(s.LogicalBytes) / float64(s.StoredBytes)
	}
	return s, nil
}

// readSizes reads every manifest's blob size; a manifest deleted between
// the listing and its read is skipped.
func (v *Vault) readSizes(ctx context.Context) (map[string]int64, error) {
	names, err := v.listWithRecovered(ctx, "manifests/")
	if err != nil {
		return nil, err
	}
	sizes := make(map[string]int64, len(names))
	for _, n := range names {
		m, err := v.readManifest(ctx, n)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sizes[m.Blob] = m.Size
	}
	return sizes, nil
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	b, _ := json.Marshal(s)
	return fmt.Sprintf("%s", b)
}
