package vault

import (
	"encoding/binary"
	"math/bits"

	"github.com/zeebo/blake3"
)

// chunker cuts data into content-defined chunks with FastCDC (Xia et al.,
// 2016: a gear rolling hash, cut-point skipping below the minimum size and
// normalized chunking with a stricter mask before the average size and a
// looser one after it). It works on a slice in place: no copy, no buffer.
//
// The gear table is derived from the vault's master key, so chunk sizes
// do not reveal which well-known content a vault holds.
type chunker struct {
	gear               [256]uint64
	min, avg, max      int
	maskSmall, maskBig uint64
}

func newChunker(master []byte, avg int) *chunker {
	c := &chunker{avg: avg, min: avg / 4, max: avg * 4}
	var raw [256 * 8]byte
	blake3.DeriveKey("sqlvault 2026 chunk gear", master, raw[:])
	for i := range c.gear {
		c.gear[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	b := bits.Len(uint(avg)) - 1 // log2 of the average size
	c.maskSmall = 1<<(b+2) - 1   // normalization level 2
	c.maskBig = 1<<(b-2) - 1
	return c
}

// next returns the length of the first chunk of data.
func (c *chunker) next(data []byte) int {
	n := len(data)
	if n <= c.min {
		return n
	}
	n = min(n, c.max)
	norm := min(n, c.avg)
	var fp uint64
	i := c.min
	for ; i < norm; i++ {
		fp = fp<<1 + c.gear[data[i]]
		if fp&c.maskSmall == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		fp = fp<<1 + c.gear[data[i]]
		if fp&c.maskBig == 0 {
			return i + 1
		}
	}
	return n
}

// cuts appends the end offset of every chunk of data to dst.
func (c *chunker) cuts(dst []int, data []byte) []int {
	at := 0
	for at < len(data) {
		at += c.next(data[at:])
		dst = append(dst, at)
	}
	return dst
}
