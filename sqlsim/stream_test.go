package sqlsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// memStripe is one stripe held in memory; gate, if set, is called before
// each ReadAt.
type memStripe struct {
	bytes.Buffer
	gate   func(off int64) error
	mu     sync.Mutex
	closed bool
	late   bool // a ReadAt after Close
}

func (m *memStripe) Write(p []byte) (int, error) { return m.Buffer.Write(p) }
func (m *memStripe) Size() int64                 { return int64(m.Len()) }
func (m *memStripe) Abort() error                { return nil }
func (m *memStripe) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

func (m *memStripe) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	m.late = m.late || m.closed
	m.mu.Unlock()
	if m.gate != nil {
		if err := m.gate(off); err != nil {
			return 0, err
		}
	}
	if off >= int64(m.Len()) {
		return 0, io.EOF
	}
	n := copy(p, m.Bytes()[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// stripedStream deals a stream of size bytes (a sqlsim header, then random
// bytes) over k stripes in chunks of chunk bytes, as BACKUP does.
func stripedStream(t *testing.T, k, chunk, size int) ([]byte, []*memStripe) {
	t.Helper()
	stream := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(k), uint64(size)))
	for i := range stream {
		stream[i] = byte(r.Uint32())
	}
	copy(stream, magic)
	binary.LittleEndian.PutUint32(stream[8:], uint32(chunk))
	stripes := make([]*memStripe, k)
	ws := make([]BlobWriter, k)
	for i := range stripes {
		stripes[i] = &memStripe{}
		ws[i] = stripes[i]
	}
	w := &stripedWriter{ws: ws, chunk: chunk}
	if _, err := w.Write(stream); err != nil {
		t.Fatal(err)
	}
	return stream, stripes
}

func readers(stripes []*memStripe) []BlobReader {
	rs := make([]BlobReader, len(stripes))
	for i, s := range stripes {
		rs[i] = s
	}
	return rs
}

// TestStripedReaderKeepsTheStreamsOrder: whatever the stripe count and
// however the caller's reads cut the chunks, RESTORE reads back the
// stream BACKUP wrote, byte for byte.
func TestStripedReaderKeepsTheStreamsOrder(t *testing.T) {
	for _, k := range []int{1, 3, 4} {
		for _, size := range []int{64 << 10, 64<<10 + 5000} { // whole chunks, and a short last one
			stream, stripes := stripedStream(t, k, 8<<10, size)
			sr, err := newStripedReader(readers(stripes))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := io.CopyBuffer(&got, struct{ io.Reader }{sr}, make([]byte, 3000)); err != nil {
				t.Fatalf("%d stripes, %d bytes: %v", k, size, err)
			}
			if !bytes.Equal(got.Bytes(), stream) {
				t.Errorf("%d stripes, %d bytes: the stream read back differs from the one written", k, size)
			}
			if err := sr.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStripedReaderReadsStripesAtOnce: every stripe has a read in flight
// at the same time (one reader per device), so a restore from 4 URLs is
// not bound to one stripe's round trips. Each stripe's first read waits
// until all four have started; a reader taking the stripes in turn never
// gets there.
func TestStripedReaderReadsStripesAtOnce(t *testing.T) {
	const k = 4
	stream, stripes := stripedStream(t, k, 8<<10, 128<<10)
	sr, err := newStripedReader(readers(stripes))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan int, k)
	release := make(chan struct{})
	for i, s := range stripes {
		var once sync.Once
		s.gate = func(off int64) error {
			if off != 0 {
				return nil
			}
			once.Do(func() { started <- i })
			<-release
			return nil
		}
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(sr)
		done <- b
	}()
	seen := map[int]bool{}
	deadline := time.After(30 * time.Second)
	for len(seen) < k {
		select {
		case i := <-started:
			seen[i] = true
		case <-deadline:
			close(release)
			<-done
			t.Fatalf("only stripes %v had a read in flight; want all %d at once", seen, k)
		}
	}
	close(release)
	if got := <-done; !bytes.Equal(got, stream) {
		t.Error("the stream read back differs from the one written")
	}
	sr.Close()
}

// TestStripedReaderFailsAndStops: a stripe that fails mid-stream fails
// the read with its error, and Close returns only once no stripe is read
// any more (the leases it releases are not used after).
func TestStripedReaderFailsAndStops(t *testing.T) {
	_, stripes := stripedStream(t, 4, 8<<10, 256<<10)
	lost := errors.New("connection reset")
	stripes[2].gate = func(off int64) error {
		if off >= 16<<10 {
			return lost
		}
		return nil
	}
	sr, err := newStripedReader(readers(stripes))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(sr); !errors.Is(err, lost) {
		t.Fatalf("read error %v, want the stripe's %v", err, lost)
	}
	if err := sr.Close(); err != nil {
		t.Fatal(err)
	}
	for i, s := range stripes {
		if !s.closed || s.late {
			t.Errorf("stripe %d: closed %v, read after close %v", i, s.closed, s.late)
		}
	}
	if _, err := sr.Read(make([]byte, 10)); err == nil {
		t.Error("a read after Close succeeded")
	}
}
