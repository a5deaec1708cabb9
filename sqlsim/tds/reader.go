package tds

import (
	"encoding/binary"
	"fmt"
)

// reader walks a request payload. The first out-of-bounds read records an
// error and every later read returns zero values, so parsers check err once
// at a convenient point instead of after every field.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || r.off+n > len(r.b) {
		r.err = fmt.Errorf("%w: need %d bytes at offset %d of %d", errProtocol, n, r.off, len(r.b))
		return false
	}
	return true
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) byte() byte {
	if !r.need(1) {
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) peek() (byte, bool) {
	if r.err != nil || r.off >= len(r.b) {
		return 0, false
	}
	return r.b[r.off], true
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.off += 2
	return binary.LittleEndian.Uint16(r.b[r.off-2:])
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.b[r.off-4:])
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:])
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

// bVarChar reads a B_VARCHAR: a byte count of UCS-2 characters.
func (r *reader) bVarChar() string { return decodeUCS2(r.bytes(int(r.byte()) * 2)) }

// usVarChar reads a US_VARCHAR: a USHORT count of UCS-2 characters.
func (r *reader) usVarChar() string { return decodeUCS2(r.bytes(int(r.u16()) * 2)) }

// skipAllHeaders skips the ALL_HEADERS block that starts SQLBatch, RPC
// and transaction manager requests ([MS-TDS] 2.2.5.3). Its first DWORD
// is the total length including itself; each header carries its own
// length, and all must add up.
func (r *reader) skipAllHeaders() {
	start := r.off
	total := int(r.u32())
	if r.err != nil {
		return
	}
	if total < 4 || start+total > len(r.b) {
		r.err = fmt.Errorf("%w: ALL_HEADERS length %d", errProtocol, total)
		return
	}
	for r.off < start+total && r.err == nil {
		n := int(r.u32())
		if n < 6 || r.off-4+n > start+total {
			r.err = fmt.Errorf("%w: ALL_HEADERS entry length %d", errProtocol, n)
			return
		}
		r.bytes(n - 4)
	}
}
