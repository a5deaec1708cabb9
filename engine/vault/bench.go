package vault

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// SamplePages returns n bytes shaped like SQL Server data pages, for
// tests and benchmarks: the first n bytes of PageGen's stream of seed.
func SamplePages(seed uint64, n int) []byte {
	out := make([]byte, (n+8191)&^8191)
	NewPageGen(seed).Fill(out, 0)
	return out[:n]
}

// PageGen produces an endless stream of page-like data cheaply. Each 8 KiB
// page has a 96-byte header, as a SQL Server data page (Microsoft's "Pages
// and extents architecture guide"), rows of text from there and free
// space after them; its rows are drawn afresh from a generator seeded by
// the stream's seed and the page number: no two pages
// share their rows, so nothing repeats at any distance (a streaming
// compressor finds no more than one compressing each chunk does) and
// nothing dedups. For benchmarks and memory tests of any size.
type PageGen struct{ seed uint64 }

// NewPageGen makes a generator; streams of different seeds share no page.
func NewPageGen(seed uint64) *PageGen { return &PageGen{seed: seed} }

// Fill writes the stream's bytes [off, off+len(dst)) into dst; off must be
// a multiple of 8192.
func (g *PageGen) Fill(dst []byte, off int64) {
	var page [8192]byte
	for n := uint64(off / 8192); len(dst) > 0; n++ {
		g.page(&page, n)
		dst = dst[copy(dst, page[:]):]
	}
}

// pageWords are the text columns' vocabulary: rows repeat words, as real
// tables do, while their numbers differ.
var pageWords = [...]string{"Contoso", "Fabrikam", "Order", "Invoice", "Berlin", "Seattle", "Paid", "Open", "Widget", "Gadget"}

// page writes page n: the header holds the page number, the seed and a
// random word; rows "ID|word|word|amount|" fill it to about 6000 bytes.
func (g *PageGen) page(p *[8192]byte, n uint64) {
	clear(p[:])
	r := mrand.NewPCG(g.seed, n)
	binary.LittleEndian.PutUint64(p[0:], n)
	binary.LittleEndian.PutUint64(p[8:], g.seed)
	binary.LittleEndian.PutUint64(p[16:], r.Uint64())
	for at := 96; at < 6000; {
		x, y := r.Uint64(), r.Uint64()
		at = putDigits(p[:], at, x%1e8, 8)
		p[at] = '|'
		at += 1 + copy(p[at+1:], pageWords[(x>>32)%10])
		p[at] = '|'
		at += 1 + copy(p[at+1:], pageWords[(x>>40)%10])
		p[at] = '|'
		amount := y % 10000
		at = putDigits(p[:], at+1, amount, digits(amount))
		p[at] = '.'
		at = putDigits(p[:], at+1, (y>>20)%100, 2)
		p[at] = '|'
		at++
	}
}

// digits is how many decimal digits v has (1 for 0).
func digits(v uint64) int {
	n := 1
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}

// putDigits writes v in width decimal digits (zero-padded, the leading
// ones dropped if v has more) at p[at:] and returns the offset after.
func putDigits(p []byte, at int, v uint64, width int) int {
	for i := at + width - 1; i >= at; i-- {
		p[i] = byte('0' + v%10)
		v /= 10
	}
	return at + width
}

// BenchOptions size a benchmark run.
type BenchOptions struct {
	Size  int    // bytes of page-like data per measurement
	Dir   string // a directory on the disk under test; default os.TempDir()
	Codec string // the vault's chunk compression; default CodecZstd
}

// Bench measures each stage of ingest on one core, the vault's whole
// ingest and restore paths, and the disk's raw sequential write speed,
// printing MB/s, for `sqlvault bench`.
func Bench(ctx context.Context, w io.Writer, size int) error {
	return BenchWith(ctx, w, BenchOptions{Size: size})
}

// BenchRate prints one line of a benchmark and returns its MB/s.
func BenchRate(w io.Writer, name string, bytes int64, d time.Duration) float64 {
	mbs := float64(bytes) / 1e6 / d.Seconds()
	fmt.Fprintf(w, "%-40s %9.1f MB/s\n", name, mbs)
	return mbs
}

// BenchWith is Bench with options.
func BenchWith(ctx context.Context, w io.Writer, o BenchOptions) error {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	size := int64(o.Size &^ 8191)
	data := make([]byte, size)
	NewPageGen(1).Fill(data, 0)
	rate := func(name string, n int64, d time.Duration) { BenchRate(w, name, n, d) }
	fmt.Fprintf(w, "vault stages, one core each (MB = 10^6 bytes), %d MiB of page-like data, GOMAXPROCS %d\n", size>>20, runtime.GOMAXPROCS(0))

	master := make([]byte, 32)
	rand.Read(master)
	k, _ := deriveKeys(master)
	ck := newChunker(k.gearKey, 64<<10)
	start := time.Now()
	cuts := ck.cuts(nil, data)
	rate("chunk (FastCDC, 64 KiB average)", size, time.Since(start))
	chunk := func(i int) []byte {
		s := 0
		if i > 0 {
			s = cuts[i-1]
		}
		return data[s:cuts[i]]
	}

	start = time.Now()
	var id ChunkID
	for i := range cuts {
		h, _ := blake3.NewKeyed(k.idKey)
		h.Write(chunk(i))
		h.Sum(id[:0])
	}
	rate("hash (keyed BLAKE3)", size, time.Since(start))

	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
	comp := make([][]byte, len(cuts))
	var csize int64
	start = time.Now()
	for i := range cuts {
		comp[i] = enc.EncodeAll(chunk(i), nil)
		csize += int64(len(comp[i]))
	}
	rate("compress (zstd fastest)", size, time.Since(start))
	fmt.Fprintf(w, "%-40s %9.2fx\n", "compression ratio", float64(size)/float64(csize))

	start = time.Now()
	var packs []*packWriter
	p := newPackWriter(16 << 20)
	for i, c := range comp {
		p.seal(k.aead, ChunkID{byte(i), byte(i >> 8), byte(i >> 16)}, c, int64(len(chunk(i))), "")
		if p.size() >= 16<<20 {
			packs = append(packs, p)
			p = newPackWriter(16 << 20)
		}
	}
	packs = append(packs, p)
	d := time.Since(start)
	rate("encrypt (AES-256-GCM, compressed bytes)", csize, d)
	rate("  the same per input byte", size, d)
	comp = nil

	dir, err := os.MkdirTemp(o.Dir, "sqlvault-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pb, _ := NewDirBackend(filepath.Join(dir, "packs"))
	var sealed int64
	start = time.Now()
	for i, p := range packs {
		if err := pb.Put(ctx, fmt.Sprintf("p%04d", i), p.buf); err != nil {
			return err
		}
		sealed += int64(p.size())
	}
	d = time.Since(start)
	rate("pack write (16 MiB, fsync; packed bytes)", sealed, d)
	rate("  the same per input byte", size, d)
	packs = nil

	if err := benchDisk(w, dir, size); err != nil {
		return err
	}

	fmt.Fprintf(w, "vault in process (%s), %d workers per block, 4 MiB blocks\n", cmpOr(o.Codec, CodecZstd), runtime.GOMAXPROCS(0))
	b, _ := NewDirBackend(filepath.Join(dir, "vault"))
	v, err := Create(ctx, b, []byte("benchmark passphrase"), Options{Codec: o.Codec})
	if err != nil {
		return err
	}
	defer v.Close()
	for _, streams := range []int{1, 4} {
		NewPageGen(uint64(streams)+10).Fill(data, 0) // new data for each run
		start = time.Now()
		if err := benchIngest(ctx, v, fmt.Sprintf("bench/new%d", streams), data, streams); err != nil {
			return err
		}
		rate(fmt.Sprintf("ingest new data, %d stream(s)", streams), size, time.Since(start))
	}
	start = time.Now() // the data of the last run again: all of it dedups
	if err := benchIngest(ctx, v, "bench/again", data, 4); err != nil {
		return err
	}
	rate("ingest known data (dedup), 4 streams", size, time.Since(start))

	r, err := v.OpenBlob(ctx, "bench/again-0")
	if err != nil {
		return err
	}
	start = time.Now()
	n, err := io.CopyBuffer(io.Discard, io.NewSectionReader(r, 0, r.Size()), make([]byte, 4<<20))
	if err != nil {
		return err
	}
	rate("restore read, one stream", n, time.Since(start))
	return nil
}

// benchIngest uploads data as one blob per stream, each a share of data in
// 4 MiB blocks.
func benchIngest(ctx context.Context, v *Vault, name string, data []byte, streams int) error {
	share := (len(data)/streams + 4<<20 - 1) &^ (4<<20 - 1)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			blob := fmt.Sprintf("%s-%d", name, s)
			part := data[min(s*share, len(data)):min((s+1)*share, len(data))]
			var ids []string
			for i := 0; i*(4<<20) < len(part); i++ {
				id := fmt.Sprintf("%08d", i)
				if err := v.PutBlock(ctx, blob, id, part[i*(4<<20):min((i+1)*(4<<20), len(part))]); err != nil {
					errs[s] = err
					return
				}
				ids = append(ids, id)
			}
			_, errs[s] = v.CommitBlob(ctx, blob, ids, nil)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// benchDisk writes size bytes sequentially in 4 MiB writes and fsyncs:
// the disk's raw speed, beside which the vault's figures are read.
func benchDisk(w io.Writer, dir string, size int64) error {
	f, err := os.CreateTemp(dir, "disk-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4<<20)
	rand.Read(buf)
	start := time.Now()
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	BenchRate(w, "disk: raw sequential write + fsync", size, time.Since(start))
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
