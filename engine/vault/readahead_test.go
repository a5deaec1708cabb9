package vault

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// rangeCounter counts the ranged GETs of packs and the bytes they bring.
type rangeCounter struct {
	Backend
	gets, bytes atomic.Int64
}

func (b *rangeCounter) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if strings.HasPrefix(name, "packs/") {
		b.gets.Add(1)
		b.bytes.Add(n)
	}
	return b.Backend.GetRange(ctx, name, off, n)
}

// readLikeRestore reads the blob as the device serves RESTORE: a Reader
// per range of rangeSize, each read in 32 KiB pieces (net/http's copy
// buffer). It answers what it read up to the first error.
func readLikeRestore(v *Vault, blob string, rangeSize int64) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for off := int64(0); ; off += rangeSize {
		r, err := v.OpenBlob(context.Background(), blob)
		if err != nil {
			return out.Bytes(), err
		}
		if off >= r.Size() {
			return out.Bytes(), nil
		}
		sec := io.NewSectionReader(r, off, min(rangeSize, r.Size()-off))
		if _, err := io.CopyBuffer(&out, sec, buf); err != nil {
			return out.Bytes(), err
		}
	}
}

// sealedBytes is the sealed length of a blob's distinct chunks.
func sealedBytes(v *Vault, m Manifest) int64 {
	seen := map[ChunkID]bool{}
	var n int64
	for _, c := range m.Chunks {
		if !seen[c.ID] {
			seen[c.ID] = true
			n += v.index[c.ID].Length
		}
	}
	return n
}

// TestRestoreReadsChunksOfAPackTogether: a restore's sequential read of a
// blob whose chunks sit next to each other in a pack makes one ranged GET
// per read-ahead, not one per chunk (a round trip each on object
// storage), reads no byte of the pack twice, and gives back the data.
func TestRestoreReadsChunksOfAPackTogether(t *testing.T) {
	dir, _ := NewDirBackend(t.TempDir())
	b := &rangeCounter{Backend: dir}
	v := newVault(t, b, Options{PackSize: 32 << 20, IngestCodec: CodecZstd})
	data := pages(41, 6<<20)
	m := upload(t, v, "c/full.bak", data, 4<<20)
	got, err := readLikeRestore(v, m.Blob, 4<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d of %d bytes, equal %v: %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	windows := int64(len(data))/readAheadPlain + 1
	if n := b.gets.Load(); n > windows || n >= int64(len(m.Chunks)) {
		t.Fatalf("%d ranged GETs for %d chunks in one pack; want at most one per %d MiB read ahead (%d)", n, len(m.Chunks), readAheadPlain>>20, windows)
	}
	if got, want := b.bytes.Load(), sealedBytes(v, m); got != want {
		t.Fatalf("read %d bytes of the pack for %d bytes of sealed chunks", got, want)
	}
}

// TestRecompressionKeepsABlobsChunksTogether: after the background
// recompression, reading a blob brings little more than its chunks' bytes:
// the rewritten pack keeps the order the chunks arrived in (in map order
// each read-ahead's GET spanned the whole pack, and the next one read
// part of it again).
func TestRecompressionKeepsABlobsChunksTogether(t *testing.T) {
	dir, _ := NewDirBackend(t.TempDir())
	b := &rangeCounter{Backend: dir}
	v := newVault(t, b, Options{PackSize: 32 << 20, IngestCodec: CodecS2})
	one := pages(42, 5<<20)
	m := upload(t, v, "c/one.bak", one, 4<<20)
	upload(t, v, "c/two.bak", pages(43, 5<<20), 4<<20)
	if rep, err := v.Recompress(context.Background(), nil); err != nil || rep.Packs == 0 {
		t.Fatalf("recompress: %+v %v", rep, err)
	}
	got, err := readLikeRestore(v, m.Blob, 4<<20)
	if err != nil || !bytes.Equal(got, one) {
		t.Fatalf("read back differs: %v", err)
	}
	if got, want := b.bytes.Load(), sealedBytes(v, m); got > want+want/10 {
		t.Fatalf("read %d bytes of the pack for %d bytes of the blob's sealed chunks", got, want)
	}
}

// TestReadAheadChecksEveryChunk: a byte changed inside a chunk in the
// middle of a read-ahead fails the read at that chunk, with every byte
// before it given back intact.
func TestReadAheadChecksEveryChunk(t *testing.T) {
	root := t.TempDir()
	b, _ := NewDirBackend(root)
	v := newVault(t, b, Options{PackSize: 32 << 20, IngestCodec: CodecZstd})
	data := pages(44, 2<<20)
	m := upload(t, v, "c/full.bak", data, 1<<20)
	k := len(m.Chunks) / 2
	loc := v.index[m.Chunks[k].ID]
	path := filepath.Join(root, loc.Pack)
	raw, _ := os.ReadFile(path)
	raw[loc.Offset+loc.Length/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var at int64
	for _, c := range m.Chunks[:k] {
		at += c.Size
	}
	got, err := readLikeRestore(v, m.Blob, 4<<20)
	if err == nil || !strings.Contains(err.Error(), m.Chunks[k].ID.String()) {
		t.Fatalf("read past a changed chunk: %v", err)
	}
	if int64(len(got)) > at || !bytes.Equal(got, data[:len(got)]) || int64(len(got)) < at-32<<10 {
		t.Fatalf("gave back %d bytes before the damaged chunk at %d (or wrong ones)", len(got), at)
	}
}

// TestPlanSpans: chunks of one pack near each other are one GET, a gap
// over spanGap or a span over spanMax starts another, packs never share.
func TestPlanSpans(t *testing.T) {
	c := func(pack string, off, n int64) aheadChunk {
		return aheadChunk{loc: location{Pack: pack, Offset: off, Length: n}}
	}
	spans := planSpans([]aheadChunk{
		c("a", 100, 10), c("a", 0, 100), c("a", 110+spanGap, 5), // one span, given out of order
		c("a", 116+2*spanGap, 5),                   // past the gap
		c("b", 0, spanMax-1), c("b", spanMax-1, 2), // over spanMax
	})
	want := []span{{pack: "a", off: 0, end: 115 + spanGap}, {pack: "a", off: 116 + 2*spanGap, end: 121 + 2*spanGap},
		{pack: "b", off: 0, end: spanMax - 1}, {pack: "b", off: spanMax - 1, end: spanMax + 1}}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d: %+v", len(spans), len(want), spans)
	}
	for i, s := range spans {
		if s.pack != want[i].pack || s.off != want[i].off || s.end != want[i].end {
			t.Fatalf("span %d is %s [%d, %d), want %s [%d, %d)", i, s.pack, s.off, s.end, want[i].pack, want[i].off, want[i].end)
		}
	}
}
