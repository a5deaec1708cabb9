package sqlsim

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// The backup stream: a header page, then the body. Header: "SQLSIMBK",
// the stripe chunk size (u32), flags (u32, bit 0 = compressed), the meta
// length (u64) and the meta JSON, padded to 8 KiB. Body (deflated when
// compressed): the payload length (u64) and the gob payload (tables and log
// records), the data pages, and a CRC-64 of the body before compression.
const magic = "SQLSIMBK"

// backupMeta is what HEADERONLY and FILELISTONLY show.
type backupMeta struct {
	Database       string
	DatabaseGUID   [16]byte
	Type           string // D, I, L
	CopyOnly       bool
	Compressed     bool
	BlockSize      int   // the BLOCKSIZE the stream's filemarks are aligned to
	FirstN, LastN  int64 // LSN counters
	CheckpointN    int64
	DatabaseBackup int64 // counter of the base full's checkpoint
	DiffBase       int64
	Start, Finish  time.Time
	Recovery       string
	Files          []DBFile
	Pages          int64
	Name           string
	Description    string
	Server         string
	Created        time.Time
	CorruptPage    int64 // the damaged page the backup holds, 0 none (dbcc.go)
}

// backupPayload is the data part.
type backupPayload struct {
	Tables map[string]*Table
	Log    []LogRecord
	Pages  int64
	PageV  map[int64]int64
}

// stripedWriter deals chunks round robin over the stripe writers.
type stripedWriter struct {
	ws    []BlobWriter
	chunk int
	cur   int
	fill  int
	n     int64
	slow  deviceDelay
}

// deviceDelay is the slow-device fault: a pause per block.
type deviceDelay struct {
	ctx context.Context
	d   time.Duration
}

func (d deviceDelay) wait() error {
	if d.d <= 0 {
		return nil
	}
	select {
	case <-time.After(d.d):
		return nil
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

func (s *stripedWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if s.fill == 0 {
			if err := s.slow.wait(); err != nil {
				return total - len(p), err
			}
		}
		take := min(s.chunk-s.fill, len(p))
		if _, err := s.ws[s.cur].Write(p[:take]); err != nil {
			return total - len(p), err
		}
		p, s.fill, s.n = p[take:], s.fill+take, s.n+int64(take)
		if s.fill == s.chunk {
			s.fill, s.cur = 0, (s.cur+1)%len(s.ws)
		}
	}
	return total, nil
}

// stripedReader reads the stream back in the order it was dealt. Each
// stripe has its own reader goroutine fetching its chunks ahead, as SQL
// Server reads the devices of a striped backup at once (see
// docs/compatibility.md, Unknowns); Read takes the chunks round robin, so
// the stream's order is the one written.
type stripedReader struct {
	rs    []BlobReader
	chunk int64
	off   int64 // logical offset
	size  int64
	slow  deviceDelay

	start   sync.Once
	feeds   []*stripeFeed
	stop    chan struct{}
	wg      sync.WaitGroup
	cur     *stripePiece // the chunk Read is in, from feeds[curFeed]
	curFeed int
}

// stripeFeed is one stripe's chunks in order, and the buffers its reader
// may fill: two, so it reads one chunk ahead of the one being consumed.
type stripeFeed struct {
	full chan *stripePiece
	free chan []byte
}

type stripePiece struct {
	buf []byte // the chunk's bytes (shorter for the stripe's last chunk)
	err error  // set on the stripe's last piece if reading it failed
}

func newStripedReader(rs []BlobReader) (*stripedReader, error) {
	var head [16]byte
	if _, err := rs[0].ReadAt(head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(head[:8]) != magic {
		return nil, sqlErr(3241, 16, "The media family on device is incorrectly formed. SQL Server cannot process this media family.")
	}
	s := &stripedReader{rs: rs, chunk: int64(binary.LittleEndian.Uint32(head[8:])), stop: make(chan struct{})}
	for _, r := range rs {
		s.size += r.Size()
	}
	if s.chunk == 0 {
		return nil, sqlErr(3241, 16, "The media family on device is incorrectly formed.")
	}
	return s, nil
}

// Close stops the stripe readers, waits for them, then closes every
// stripe once: over HTTPS that releases the restore leases.
func (s *stripedReader) Close() error {
	if s.rs == nil {
		return nil
	}
	s.start.Do(func() {}) // no reader starts after Close
	close(s.stop)
	s.wg.Wait()
	rs := s.rs
	s.rs = nil
	return closeAll(rs)
}

func closeAll(rs []BlobReader) error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// readStripe fetches stripe i's chunks in order into its feed until the
// stripe ends, a read fails or the reader is closed.
func (s *stripedReader) readStripe(i int) {
	defer s.wg.Done()
	f, r := s.feeds[i], s.rs[i]
	defer close(f.full) // Read past the stripe's end sees it ended
	for at := int64(0); at < r.Size(); at += s.chunk {
		var buf []byte
		select {
		case buf = <-f.free:
		case <-s.stop:
			return
		}
		n := min(s.chunk, r.Size()-at)
		got, err := r.ReadAt(buf[:n], at)
		if int64(got) == n {
			err = nil
		} else if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		select {
		case f.full <- &stripePiece{buf: buf[:got], err: err}:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *stripedReader) startReaders() {
	for range s.rs {
		f := &stripeFeed{full: make(chan *stripePiece, 2), free: make(chan []byte, 2)}
		f.free <- make([]byte, s.chunk)
		f.free <- make([]byte, s.chunk)
		s.feeds = append(s.feeds, f)
	}
	for i := range s.rs {
		s.wg.Add(1)
		go s.readStripe(i)
	}
}

func (s *stripedReader) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if s.rs == nil {
		return 0, errors.New("sqlsim: read of a closed backup stream")
	}
	s.start.Do(s.startReaders)
	within := s.off % s.chunk
	if s.cur == nil {
		if within == 0 {
			if err := s.slow.wait(); err != nil {
				return 0, err
			}
		}
		s.curFeed = int((s.off / s.chunk) % int64(len(s.rs)))
		piece, ok := <-s.feeds[s.curFeed].full
		if !ok {
			return 0, io.ErrUnexpectedEOF
		}
		s.cur = piece
	}
	piece := s.cur
	if within >= int64(len(piece.buf)) {
		if piece.err != nil {
			return 0, piece.err
		}
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, piece.buf[within:])
	s.off += int64(n)
	if within+int64(n) == int64(len(piece.buf)) && piece.err == nil {
		s.feeds[s.curFeed].free <- piece.buf[:cap(piece.buf)]
		s.cur = nil
	}
	return n, nil
}

// writeStream writes header and body to w, calling progress with bytes
// done of total as it goes.
func writeStream(ctx context.Context, w io.Writer, chunk int, meta backupMeta, payload backupPayload, pages []int64, seed uint64, progress func(done int64) error) (int64, error) {
	mj, _ := json.Marshal(meta)
	head := make([]byte, 8192*((24+len(mj))/8192+1))
	copy(head, magic)
	binary.LittleEndian.PutUint32(head[8:], uint32(chunk))
	if meta.Compressed {
		binary.LittleEndian.PutUint32(head[12:], 1)
	}
	binary.LittleEndian.PutUint64(head[16:], uint64(len(mj)))
	copy(head[24:], mj)
	if _, err := w.Write(head); err != nil {
		return 0, err
	}
	var body io.Writer = w
	var zw *flate.Writer
	if meta.Compressed {
		zw, _ = flate.NewWriter(w, flate.BestSpeed)
		body = zw
	}
	crc := crc64.New(crc64.MakeTable(crc64.ECMA))
	out := io.MultiWriter(body, crc)
	var pb bytes.Buffer
	if err := gob.NewEncoder(&pb).Encode(payload); err != nil {
		return 0, err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(pb.Len()))
	out.Write(lenBuf[:])
	if _, err := out.Write(pb.Bytes()); err != nil {
		return 0, err
	}
	page := make([]byte, pageSize)
	for i, n := range pages {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		genPage(seed, n, payload.PageV[n], page)
		if _, err := out.Write(page); err != nil {
			return 0, err
		}
		if i%64 == 63 || i == len(pages)-1 {
			if err := progress(int64(i + 1)); err != nil {
				return 0, err
			}
		}
	}
	if len(pages) == 0 {
		if err := progress(0); err != nil {
			return 0, err
		}
	}
	var sum [8]byte
	binary.LittleEndian.PutUint64(sum[:], crc.Sum64())
	if _, err := body.Write(sum[:]); err != nil {
		return 0, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return 0, err
		}
	}
	return int64(len(pages)), nil
}

// readMeta reads the header page.
func readMeta(r io.Reader) (backupMeta, bool, error) {
	head := make([]byte, 8192)
	if _, err := io.ReadFull(r, head); err != nil {
		return backupMeta{}, false, sqlErr(3241, 16, "The media family on device is incorrectly formed: "+err.Error())
	}
	n := binary.LittleEndian.Uint64(head[16:])
	compressed := binary.LittleEndian.Uint32(head[12:])&1 == 1
	mj := head[24:]
	if n > uint64(len(mj)) {
		extra := make([]byte, 8192*((24+int(n))/8192+1)-8192)
		if _, err := io.ReadFull(r, extra); err != nil {
			return backupMeta{}, false, err
		}
		mj = append(mj, extra...)
	}
	var m backupMeta
	if err := json.Unmarshal(mj[:n], &m); err != nil {
		return m, false, sqlErr(3241, 16, "The backup header is damaged.")
	}
	return m, compressed, nil
}

// readBody reads the body after the header and checks its checksum;
// pages is how many data pages the header says follow the payload.
func readBody(r io.Reader, compressed bool, pages int64, progress func(done int64)) (backupPayload, error) {
	var body io.Reader = r
	if compressed {
		body = flate.NewReader(r)
	}
	crc := crc64.New(crc64.MakeTable(crc64.ECMA))
	tr := io.TeeReader(body, crc)
	var lenBuf [8]byte
	if _, err := io.ReadFull(tr, lenBuf[:]); err != nil {
		return backupPayload{}, damaged(err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > 1<<32 {
		return backupPayload{}, damaged(errors.New("payload length is not plausible"))
	}
	pb := make([]byte, n)
	if _, err := io.ReadFull(tr, pb); err != nil {
		return backupPayload{}, damaged(err)
	}
	var payload backupPayload
	if err := gob.NewDecoder(bytes.NewReader(pb)).Decode(&payload); err != nil {
		return payload, damaged(err)
	}
	page := make([]byte, pageSize)
	for i := int64(0); i < pages; i++ {
		if _, err := io.ReadFull(tr, page); err != nil {
			return payload, damaged(err)
		}
		if progress != nil && (i%64 == 63 || i == pages-1) {
			progress(i + 1)
		}
	}
	var sum [8]byte
	if _, err := io.ReadFull(body, sum[:]); err != nil {
		return payload, damaged(err)
	}
	if binary.LittleEndian.Uint64(sum[:]) != crc.Sum64() {
		return payload, damaged(errors.New("the backup checksum does not match"))
	}
	return payload, nil
}

func damaged(err error) error {
	return &multiErr{msgs: []*tds.Message{sqlErr(3183, 16, "RESTORE detected an error on page (1:1) in database \"unknown\" as read from the backup set: "+strings.TrimSpace(err.Error())),
		sqlErr(3013, 16, "RESTORE DATABASE is terminating abnormally.")}}
}

func fmtMB(bytes int64, d time.Duration) string {
	secs := max(d.Seconds(), 0.001)
	return fmt.Sprintf("%.3f seconds (%.3f MB/sec)", secs, float64(bytes)/(1<<20)/secs)
}
