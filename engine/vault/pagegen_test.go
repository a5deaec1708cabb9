package vault

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestPageGenRepeatsNothingAtLongRange: the bench data is made of unique
// pages, as a database is, so a proxy that compresses each 4 MiB block as
// one zstd stream (WAL-G's, with its window over the whole block) gains
// nothing over the vault's 64 KiB chunks. A generator that copied a pool
// of pages gave the stream 28x against 3.7x per chunk, and so a
// side-by-side comparison unlike real backups.
func TestPageGenRepeatsNothingAtLongRange(t *testing.T) {
	block := make([]byte, 4<<20)
	NewPageGen(1010).Fill(block, 8<<20)

	var stream bytes.Buffer
	zw, _ := zstd.NewWriter(&stream, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(8<<20))
	zw.Write(block)
	zw.Close()
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	chunked := 0
	for off := 0; off < len(block); off += 64 << 10 {
		chunked += len(enc.EncodeAll(block[off:off+64<<10], nil))
	}
	streamRatio := float64(len(block)) / float64(stream.Len())
	chunkRatio := float64(len(block)) / float64(chunked)
	if streamRatio > chunkRatio*1.1 {
		t.Errorf("one zstd stream over the block compresses %.2fx, 64 KiB chunks %.2fx: the data repeats at long range", streamRatio, chunkRatio)
	}
	if chunkRatio < 2 || chunkRatio > 6 {
		t.Errorf("64 KiB chunks compress %.2fx: not page-like text rows", chunkRatio)
	}

	rows := map[string]bool{} // each page without its header
	for off := 0; off < len(block); off += 8192 {
		body := string(block[off+96 : off+8192])
		if rows[body] {
			t.Fatalf("the page at %d repeats an earlier page's rows", off)
		}
		rows[body] = true
	}
}

// TestPageGenFillIsAFunctionOfTheOffset: both sides of the side-by-side
// bench, and every block of a stream, get the same bytes for the same
// offset whatever the buffer size the caller fills.
func TestPageGenFillIsAFunctionOfTheOffset(t *testing.T) {
	whole := make([]byte, 1<<20)
	NewPageGen(7).Fill(whole, 0)
	part := make([]byte, 3*8192+100)
	NewPageGen(7).Fill(part, 5*8192)
	if !bytes.Equal(part, whole[5*8192:5*8192+len(part)]) {
		t.Error("Fill at an offset differs from the same range of a longer Fill")
	}
	other := make([]byte, 1<<20)
	NewPageGen(8).Fill(other, 0)
	if bytes.Equal(other[96:8192], whole[96:8192]) {
		t.Error("two seeds gave the same first page")
	}
	if !bytes.Equal(SamplePages(7, 1000), whole[:1000]) {
		t.Error("SamplePages is not the generator's stream")
	}
}
