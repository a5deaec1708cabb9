package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jotfs/fastcdc-go"
	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// SamplePages returns n bytes shaped like SQL Server data pages (a header,
// rows of repeating vocabulary, free space), for benchmarks.
func SamplePages(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 11))
	words := []string{"Contoso", "Fabrikam", "Order", "Invoice", "Berlin", "Seattle", "Paid", "Open", "Widget", "Gadget"}
	out := make([]byte, 0, n+8192)
	for len(out) < n {
		page := make([]byte, 8192)
		binary.LittleEndian.PutUint64(page, r.Uint64())
		for at := 96; at < 6000; {
			at += copy(page[at:], fmt.Sprintf("%08d|%s|%s|%d.%02d|", r.IntN(1e8), words[r.IntN(10)], words[r.IntN(10)], r.IntN(10000), r.IntN(100)))
		}
		out = append(out, page...)
	}
	return out[:n]
}

// Bench measures each stage of ingest and the whole path (a temporary
// directory vault), printing MB/s, for `sqlvault bench`.
func Bench(ctx context.Context, w io.Writer, size int) error {
	data := SamplePages(1, size)
	mb := float64(size) / (1 << 20)
	rate := func(name string, d time.Duration) {
		fmt.Fprintf(w, "%-28s %8.1f MB/s\n", name, mb/d.Seconds())
	}
	fmt.Fprintf(w, "vault bench: %.0f MiB of page-like data\n", mb)

	start := time.Now()
	ch, _ := fastcdc.NewChunker(bytes.NewReader(data), fastcdc.Options{AverageSize: 64 << 10})
	var chunks [][]byte
	for {
		c, err := ch.Next()
		if err != nil {
			break
		}
		chunks = append(chunks, bytes.Clone(c.Data))
	}
	rate("chunking (FastCDC)", time.Since(start))

	start = time.Now()
	key := make([]byte, 32)
	for _, c := range chunks {
		h, _ := blake3.NewKeyed(key)
		h.Write(c)
		h.Sum(nil)
	}
	rate("hashing (keyed BLAKE3)", time.Since(start))

	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	start = time.Now()
	var compressed [][]byte
	var csize int
	for _, c := range chunks {
		z := enc.EncodeAll(c, nil)
		compressed = append(compressed, z)
		csize += len(z)
	}
	rate("compression (zstd)", time.Since(start))
	fmt.Fprintf(w, "%-28s %8.2fx\n", "compression ratio", float64(size)/float64(csize))

	k, _ := deriveKeys(key)
	start = time.Now()
	for _, z := range compressed {
		seal(k.aead, z)
	}
	rate("encryption (AES-256-GCM)", time.Since(start))

	dir, err := os.MkdirTemp("", "sqlvault-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, _ := NewDirBackend(dir)
	v, err := Create(ctx, b, []byte("benchmark passphrase"), Options{})
	if err != nil {
		return err
	}
	defer v.Close()
	start = time.Now()
	var ids []string
	for i := 0; i*(4<<20) < size; i++ {
		id := fmt.Sprintf("%08d", i)
		if err := v.PutBlock(ctx, "bench/a.bak", id, data[i*(4<<20):min((i+1)*(4<<20), size)]); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if _, err := v.CommitBlob(ctx, "bench/a.bak", ids, nil); err != nil {
		return err
	}
	rate("end to end ingest (new)", time.Since(start))

	start = time.Now()
	for i, id := range ids {
		v.PutBlock(ctx, "bench/b.bak", id, data[i*(4<<20):min((i+1)*(4<<20), size)])
	}
	v.CommitBlob(ctx, "bench/b.bak", ids, nil)
	rate("end to end ingest (dedup)", time.Since(start))

	r, err := v.OpenBlob(ctx, "bench/a.bak")
	if err != nil {
		return err
	}
	start = time.Now()
	if _, err := io.Copy(io.Discard, io.NewSectionReader(r, 0, r.Size())); err != nil {
		return err
	}
	rate("restore read", time.Since(start))
	return nil
}
