package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Packs, Chunks int
	Bytes         int64
	DamagedPacks  []string // packs with a chunk that does not authenticate
	MissingChunks int      // referenced by a manifest but in no index
	AffectedBlobs []string // committed blobs that read a damaged or missing chunk
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
		damaged := err != nil
		for id, loc := range chunks {
			rep.Chunks++
			rep.Bytes += loc.Size
			if err != nil || loc.Offset+loc.Length > int64(len(data)) {
				bad[id] = true
				continue
			}
			if _, derr := v.decodeChunk(id, data[loc.Offset:loc.Offset+loc.Length], loc.Size); derr != nil {
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
	return rep, nil
}

// GCReport is what a collection removed.
type GCReport struct {
	PacksDeleted, PacksKept int
	BytesFreed              int64
	OrphanPacks             int // packs no index named (left by a crash)
}

// GC deletes packs no committed manifest or upload in progress references.
// Packs partly in use are kept whole (no repacking). It deletes a pack's
// index object before the pack itself, so a crash at any point leaves at
// worst an orphan pack, never an index entry pointing at nothing.
func (v *Vault) GC(ctx context.Context) (GCReport, error) {
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	if err := v.flush(ctx); err != nil {
		return GCReport{}, err
	}
	used := map[ChunkID]bool{}
	ms, err := v.List(ctx, "")
	if err != nil {
		return GCReport{}, err
	}
	for _, m := range ms {
		for _, c := range m.Chunks {
			used[c.ID] = true
		}
	}
	v.mu.Lock()
	for _, blocks := range v.staged {
		for _, refs := range blocks {
			for _, r := range refs {
				used[r.ID] = true
			}
		}
	}
	live := map[string]bool{}
	all := map[string][]ChunkID{}
	for id, loc := range v.index {
		all[loc.Pack] = append(all[loc.Pack], id)
		if used[id] {
			live[loc.Pack] = true
		}
	}
	v.mu.Unlock()

	var rep GCReport
	for pack, ids := range all {
		if live[pack] {
			rep.PacksKept++
			continue
		}
		if err := v.b.Delete(ctx, "index/"+strings.TrimPrefix(pack, "packs/")); err != nil {
			return rep, err
		}
		v.mu.Lock()
		for _, id := range ids {
			rep.BytesFreed += v.index[id].Length
			delete(v.index, id)
		}
		v.mu.Unlock()
		v.hook("gc-after-index-delete")
		if err := v.b.Delete(ctx, pack); err != nil {
			return rep, err
		}
		rep.PacksDeleted++
	}
	// Packs without an index (a crash between pack and index) hold nothing
	// any manifest can name.
	packs, err := v.b.List(ctx, "packs/")
	if err != nil {
		return rep, err
	}
	for _, p := range packs {
		if _, known := all[p]; !known {
			v.b.Delete(ctx, p)
			rep.OrphanPacks++
		}
	}
	return rep, nil
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

// Stats reads the manifests and the index.
func (v *Vault) Stats(ctx context.Context) (Stats, error) {
	ms, err := v.List(ctx, "")
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, m := range ms {
		s.Blobs++
		s.LogicalBytes += m.Size
	}
	packs := map[string]bool{}
	v.mu.Lock()
	for _, loc := range v.index {
		s.Chunks++
		s.StoredBytes += loc.Length
		packs[loc.Pack] = true
	}
	v.mu.Unlock()
	s.Packs = len(packs)
	if s.StoredBytes > 0 {
		s.Ratio = float64(s.LogicalBytes) / float64(s.StoredBytes)
	}
	return s, nil
}

// String is a one-line summary for logs.
func (s Stats) String() string {
	b, _ := json.Marshal(s)
	return fmt.Sprintf("%s", b)
}
