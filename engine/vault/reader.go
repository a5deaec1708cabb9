package vault

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// Reader reads a committed blob at any offset without reading it from the
// start: it finds the chunk holding the offset by binary search.
type Reader struct {
	v   *Vault
	ctx context.Context
	*blobIndex
}

// blobIndex is a parsed manifest with the offset of each chunk. The vault
// keeps a few, since RESTORE opens the blob again for every ranged read.
type blobIndex struct {
	m       Manifest
	offsets []int64 // start of each chunk
}

const maxOpenBlobs = 64

// OpenBlob opens a committed blob for reading.
func (v *Vault) OpenBlob(ctx context.Context, blob string) (*Reader, error) {
	v.mu.Lock()
	bi, gen := v.blobs[blob], v.blobGen
	v.mu.Unlock()
	if bi != nil {
		return &Reader{v: v, ctx: ctx, blobIndex: bi}, nil
	}
	m, err := v.restorableManifest(ctx, blob)
	if err != nil {
		return nil, err
	}
	offs := make([]int64, len(m.Chunks))
	var at int64
	for i, c := range m.Chunks {
		offs[i] = at
		at += c.Size
	}
	bi = &blobIndex{m: m, offsets: offs}
	v.mu.Lock()
	defer v.mu.Unlock()
	if gen != v.blobGen { // changed while we read it: do not keep it
		return &Reader{v: v, ctx: ctx, blobIndex: bi}, nil
	}
	if len(v.blobs) >= maxOpenBlobs {
		for k := range v.blobs {
			delete(v.blobs, k)
			break
		}
	}
	v.blobs[blob] = bi
	return &Reader{v: v, ctx: ctx, blobIndex: bi}, nil
}

func (v *Vault) forgetBlob(blob string) {
	v.mu.Lock()
	delete(v.blobs, blob)
	v.blobGen++
	v.mu.Unlock()
}

// Size is the blob's length.
func (r *Reader) Size() int64 { return r.m.Size }

// Manifest is the blob's manifest.
func (r *Reader) Manifest() Manifest { return r.m }

// Close releases nothing; it exists for io.Closer.
func (r *Reader) Close() error { return nil }

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= r.m.Size {
		return 0, io.EOF
	}
	i := sort.Search(len(r.offsets), func(i int) bool { return r.offsets[i] > off }) - 1
	n := 0
	for n < len(p) && i < len(r.m.Chunks) {
		data, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], data[off+int64(n)-r.offsets[i]:])
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
