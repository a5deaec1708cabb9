// Package pagegen makes bytes that look like SQL Server data pages: a
// 96-byte header, rows drawn from a small vocabulary (so they compress
// roughly 2-4x as real pages do), a slot array and free space. A page is a
// pure function of (seed, page number, version): an unchanged page is
// byte-identical in every backup, so deduplication measures something real.
package pagegen

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

// Size is SQL Server's page size.
const Size = 8192

var vocabulary = []string{"Contoso", "Fabrikam", "Northwind", "Adventure", "Works", "Litware", "Order", "Invoice",
	"Shipped", "Pending", "Berlin", "Seattle", "Madrid", "Oslo", "Widget", "Gadget", "Sprocket", "EUR", "USD", "Paid"}

// Page fills dst (at least Size bytes) with page number n of a database
// identified by seed, at the given version (bumped when the page changes).
func Page(seed uint64, n int64, version int64, dst []byte) {
	dst = dst[:Size]
	clear(dst)
	r := rand.New(rand.NewPCG(seed^uint64(n)*0x9E3779B97F4A7C15, uint64(version)+1))
	dst[0] = 1 // page type: data
	binary.LittleEndian.PutUint32(dst[32:], uint32(n))
	binary.LittleEndian.PutUint64(dst[40:], seed)
	binary.LittleEndian.PutUint64(dst[48:], uint64(version))
	at, slots := 96, 0
	fill := 5200 + r.IntN(2400) // pages are 65-95% full
	for at < fill {
		row := dst[at:at]
		row = append(row, 0x30, 0)
		row = strconv.AppendInt(row, int64(r.IntN(1_000_000)), 10)
		row = append(row, '|')
		row = append(row, vocabulary[r.IntN(len(vocabulary))]...)
		row = append(row, ' ')
		row = append(row, vocabulary[r.IntN(len(vocabulary))]...)
		row = append(row, '|')
		row = strconv.AppendInt(row, int64(r.IntN(100000)), 10)
		row = append(row, '.')
		row = strconv.AppendInt(row, int64(r.IntN(100)), 10)
		at += len(row)
		slots++
		if Size-2*slots <= at+64 {
			break
		}
		binary.LittleEndian.PutUint16(dst[Size-2*slots:], uint16(at))
	}
	binary.LittleEndian.PutUint16(dst[22:], uint16(slots))
}
