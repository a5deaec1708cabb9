package vdi

import (
	"sync"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// benchData is one run's data, a stream per stripe, generated before the
// clock starts: SQL Server reads its pages on its own machine, so making
// them must not take the cores of the side being timed. It lives outside
// the Go heap (benchAlloc) so that holding it does not make the device's
// garbage collector, in this process, run less often than in serve.
type benchData struct {
	streams [][]byte
	free    func()
}

// newBenchData generates streams shares of size bytes, stream s from the
// generator of seed+s, one goroutine per stream.
func newBenchData(streams, size int, seed uint64) benchData {
	buf, free := benchAlloc(streams * size)
	d := benchData{streams: make([][]byte, streams), free: free}
	var wg sync.WaitGroup
	for s := range streams {
		d.streams[s] = buf[s*size : (s+1)*size : (s+1)*size]
		wg.Go(func() { vault.NewPageGen(seed+uint64(s)).Fill(d.streams[s], 0) })
	}
	wg.Wait()
	return d
}

// blocks serves a stream's blocks from memory.
func (d benchData) blocks(s int) func(off, n int) []byte {
	return func(off, n int) []byte { return d.streams[s][off : off+n] }
}

// generated serves a stream's blocks from a generator, for uploads too big
// to hold (the memory test), into one reused buffer.
func generated(gen *vault.PageGen, blockSize int) func(off, n int) []byte {
	buf := make([]byte, blockSize)
	return func(off, n int) []byte {
		gen.Fill(buf[:n], int64(off))
		return buf[:n]
	}
}
