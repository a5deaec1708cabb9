package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var pass = []byte("correct horse battery")

// pages makes n bytes that look like database pages: headers, runs of
// similar rows, free space; deterministic in seed.
func pages(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]byte, 0, n)
	words := []string{"Contoso", "Fabrikam", "Order", "Invoice", "Berlin", "Seattle", "Paid", "Open", "Widget", "Gadget"}
	for len(out) < n {
		page := make([]byte, 8192)
		binary.LittleEndian.PutUint64(page, r.Uint64())
		at := 96
		for at < 6000 {
			row := fmt.Sprintf("%08d|%s|%s|%d.%02d|", r.IntN(1e8), words[r.IntN(10)], words[r.IntN(10)], r.IntN(10000), r.IntN(100))
			at += copy(page[at:], row)
		}
		out = append(out, page...)
	}
	return out[:n]
}

func newVault(t *testing.T, b Backend, opts Options) *Vault {
	t.Helper()
	v, err := Create(context.Background(), b, pass, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// upload sends data as blocks of blockSize and commits them.
func upload(t *testing.T, v *Vault, blob string, data []byte, blockSize int) Manifest {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i*blockSize < len(data); i++ {
		id := fmt.Sprintf("block-%06d", i)
		end := min((i+1)*blockSize, len(data))
		if err := v.PutBlock(ctx, blob, id, data[i*blockSize:end]); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	m, err := v.CommitBlob(ctx, blob, ids, map[string]string{"db": "Sales"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readAll(t *testing.T, v *Vault, blob string) []byte {
	t.Helper()
	r, err := v.OpenBlob(context.Background(), blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTripAndRandomRanges(t *testing.T) {
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{PackSize: 1 << 20})
	data := pages(1, 5<<20+123)
	m := upload(t, v, "c/sales.bak", data, 1<<20)
	if m.Size != int64(len(data)) {
		t.Fatalf("manifest size %d, want %d", m.Size, len(data))
	}
	if got := readAll(t, v, "c/sales.bak"); !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	r, _ := v.OpenBlob(context.Background(), "c/sales.bak")
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 200; i++ {
		off := rng.Int64N(int64(len(data)))
		n := rng.IntN(300000)
		buf := make([]byte, n)
		got, err := r.ReadAt(buf, off)
		want := min(n, len(data)-int(off))
		if got != want || (err != nil && err != io.EOF) || !bytes.Equal(buf[:got], data[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
		}
	}
	st, _ := v.Stats(context.Background())
	if st.Ratio < 1.5 {
		t.Fatalf("page-like data compressed only %.2fx", st.Ratio)
	}
}

func TestDedupAcrossBackups(t *testing.T) {
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{})
	ctx := context.Background()
	data := pages(2, 8<<20)
	upload(t, v, "c/full1.bak", data, 4<<20)
	s1, _ := v.Stats(ctx)
	upload(t, v, "c/full2.bak", data, 4<<20)
	s2, _ := v.Stats(ctx)
	if s2.StoredBytes != s1.StoredBytes {
		t.Fatalf("identical second backup added %d stored bytes", s2.StoredBytes-s1.StoredBytes)
	}
	// A changed page in the middle adds little.
	changed := bytes.Clone(data)
	copy(changed[3<<20:], pages(99, 8192))
	upload(t, v, "c/full3.bak", changed, 4<<20)
	s3, _ := v.Stats(ctx)
	if grew := s3.StoredBytes - s2.StoredBytes; grew > int64(len(data))/20 {
		t.Fatalf("one changed page added %d bytes (over 5%%)", grew)
	}
	if got := readAll(t, v, "c/full3.bak"); !bytes.Equal(got, changed) {
		t.Fatal("changed backup reads back wrong")
	}
}

func TestConcurrentStripes(t *testing.T) {
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{PackSize: 2 << 20})
	var wg sync.WaitGroup
	datas := make([][]byte, 4)
	for i := range datas {
		datas[i] = pages(uint64(10+i), 3<<20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			upload(t, v, fmt.Sprintf("c/stripe%d", i), datas[i], 1<<20)
		}()
	}
	wg.Wait()
	for i, d := range datas {
		if !bytes.Equal(readAll(t, v, fmt.Sprintf("c/stripe%d", i)), d) {
			t.Fatalf("stripe %d differs", i)
		}
	}
}

func TestWrongPassphraseAndUnknownBlock(t *testing.T) {
	dir := t.TempDir()
	b, _ := NewDirBackend(dir)
	v := newVault(t, b, Options{})
	if _, err := Open(context.Background(), b, []byte("wrong passphrase"), Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := v.CommitBlob(context.Background(), "c/x", []string{"never"}, nil); err == nil {
		t.Fatal("commit of an unknown block succeeded")
	}
	if _, err := Open(context.Background(), mustDir(t), pass, Options{}); !errors.Is(err, ErrNoVault) {
		t.Fatalf("empty backend: %v", err)
	}
}

func mustDir(t *testing.T) Backend {
	b, _ := NewDirBackend(t.TempDir())
	return b
}

// TestCatalogLossRecovery: a new process with only the backend and the
// passphrase lists every committed blob with its labels and reads it.
func TestCatalogLossRecovery(t *testing.T) {
	ctx := context.Background()
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{})
	data := pages(5, 2<<20)
	upload(t, v, "c/a.bak", data, 1<<20)
	v.Annotate(ctx, "c/a.bak", map[string]string{"last_lsn": "42000000001000001"})
	v.PutBlock(ctx, "c/uncommitted", "b1", pages(6, 1<<20))
	v.Close()

	v2, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := v2.List(ctx, "c/")
	if len(ms) != 1 || ms[0].Blob != "c/a.bak" || ms[0].Labels["last_lsn"] != "42000000001000001" || ms[0].Labels["db"] != "Sales" {
		t.Fatalf("manifests after reopen = %+v", ms)
	}
	if !bytes.Equal(readAll(t, v2, "c/a.bak"), data) {
		t.Fatal("blob differs after reopen")
	}
}

func TestVerifyNamesDamagedBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, _ := NewDirBackend(dir)
	v := newVault(t, b, Options{PackSize: 256 << 10})
	upload(t, v, "c/one.bak", pages(7, 1<<20), 1<<20)
	upload(t, v, "c/two.bak", pages(8, 1<<20), 1<<20)
	if rep, _ := v.Verify(ctx); !rep.OK() || rep.Chunks == 0 {
		t.Fatalf("clean vault: %+v", rep)
	}
	// Flip one byte in the middle of the first pack of blob two.
	m, _ := v.Manifest(ctx, "c/two.bak")
	loc := v.index[m.Chunks[0].ID]
	path := filepath.Join(dir, loc.Pack)
	raw, _ := os.ReadFile(path)
	raw[loc.Offset+loc.Length/2] ^= 0xff
	os.WriteFile(path, raw, 0o600)
	rep, err := v.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.AffectedBlobs) == 0 || rep.AffectedBlobs[len(rep.AffectedBlobs)-1] != "c/two.bak" {
		t.Fatalf("damage not reported: %+v", rep)
	}
	v.cache = newChunkCache(1) // no cached plaintext
	r, _ := v.OpenBlob(ctx, "c/two.bak")
	if _, err := r.ReadAt(make([]byte, 10), 0); err == nil {
		t.Fatal("damaged chunk was read without error")
	}
}

func TestGCKeepsCommittedRemovesDeleted(t *testing.T) {
	ctx := context.Background()
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{PackSize: 256 << 10})
	keep := pages(20, 1<<20)
	upload(t, v, "c/keep.bak", keep, 1<<20)
	upload(t, v, "c/drop.bak", pages(21, 1<<20), 1<<20)
	v.PutBlock(ctx, "c/aborted", "b", pages(22, 1<<20))
	v.AbortBlob("c/aborted")
	before, _ := v.Stats(ctx)
	v.DeleteBlob(ctx, "c/drop.bak")
	rep, err := v.GC(ctx)
	if err != nil || rep.PacksDeleted == 0 {
		t.Fatalf("gc = %+v, %v", rep, err)
	}
	after, _ := v.Stats(ctx)
	if after.StoredBytes >= before.StoredBytes {
		t.Fatalf("gc freed nothing: %d -> %d", before.StoredBytes, after.StoredBytes)
	}
	if !bytes.Equal(readAll(t, v, "c/keep.bak"), keep) {
		t.Fatal("kept blob damaged by GC")
	}
	if rep, _ := v.Verify(ctx); !rep.OK() {
		t.Fatalf("verify after gc: %+v", rep)
	}
}

func TestBucketBackend(t *testing.T) {
	b, err := NewBucketBackend(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t, b, Options{})
	data := pages(30, 3<<20)
	upload(t, v, "c/s3like.bak", data, 1<<20)
	if !bytes.Equal(readAll(t, v, "c/s3like.bak"), data) {
		t.Fatal("bucket round trip differs")
	}
}

// TestUncommittedUploadCollected: GC keeps the chunks of an upload in
// progress (its commit still works), and collects those of an upload left
// idle past UncommittedTTL, whose commit then fails instead of naming
// chunks that are gone.
func TestUncommittedUploadCollected(t *testing.T) {
	ctx := context.Background()
	b, _ := NewDirBackend(t.TempDir())
	v := newVault(t, b, Options{PackSize: 256 << 10})
	upload(t, v, "c/keep.bak", pages(70, 1<<20), 1<<18)
	base, _ := v.Stats(ctx)
	v.PutBlock(ctx, "c/live.bak", "b1", pages(71, 1<<20))
	if _, err := v.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.CommitBlob(ctx, "c/live.bak", []string{"b1"}, nil); err != nil {
		t.Fatalf("GC broke an upload in progress: %v", err)
	}
	v.DeleteBlob(ctx, "c/live.bak")
	v.GC(ctx)

	v.PutBlock(ctx, "c/abandoned.bak", "b1", pages(72, 1<<20))
	v.opts.UncommittedTTL = time.Nanosecond
	rep, err := v.GC(ctx)
	if err != nil || rep.ExpiredUploads != 1 {
		t.Fatalf("gc = %+v, %v", rep, err)
	}
	if st, _ := v.Stats(ctx); st.StoredBytes != base.StoredBytes {
		t.Fatalf("abandoned upload left %d bytes", st.StoredBytes-base.StoredBytes)
	}
	if _, err := v.CommitBlob(ctx, "c/abandoned.bak", []string{"b1"}, nil); err == nil {
		t.Fatal("commit of a collected upload succeeded")
	}
}

// TestStoredBytesCountsOnlyNewData: a manifest says how much it stored
// anew, so the portal can show what each backup really cost.
func TestStoredBytesCountsOnlyNewData(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, mustDir(t), Options{})
	data := pages(42, 4<<20)
	put := func(blob string) Manifest {
		if err := v.PutBlock(ctx, blob, "b1", data); err != nil {
			t.Fatal(err)
		}
		m, err := v.CommitBlob(ctx, blob, []string{"b1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first, second := put("c/first.bak"), put("c/second.bak")
	if first.StoredBytes <= 0 || first.StoredBytes >= first.Size {
		t.Errorf("first backup stored %d of %d bytes; want compressed, above zero", first.StoredBytes, first.Size)
	}
	if second.StoredBytes != 0 {
		t.Errorf("an identical backup stored %d new bytes; dedup should store none", second.StoredBytes)
	}
}

// countingBackend counts the manifests read.
type countingBackend struct {
	Backend
	manifestGets atomic.Int64
}

func (b *countingBackend) Get(ctx context.Context, name string) ([]byte, error) {
	if strings.HasPrefix(name, "manifests/") {
		b.manifestGets.Add(1)
	}
	return b.Backend.Get(ctx, name)
}

// TestStatsReadsManifestsOnce: the portal's overview asks for Stats on
// every load; reading and parsing every manifest each time made it cost
// O(vault) (seconds for a vault of a few hundred backups, found by
// tests/load). After the first call the sizes are kept up to date by
// commits and deletes, and agree with a freshly opened vault's.
func TestStatsReadsManifestsOnce(t *testing.T) {
	ctx := context.Background()
	dir, _ := NewDirBackend(t.TempDir())
	b := &countingBackend{Backend: dir}
	v := newVault(t, b, Options{})
	upload(t, v, "c/a.bak", pages(1, 1<<20), 256<<10)
	upload(t, v, "c/b.bak", pages(2, 2<<20), 256<<10)
	if s, err := v.Stats(ctx); err != nil || s.Blobs != 2 || s.LogicalBytes != 3<<20 {
		t.Fatalf("first Stats = %+v, %v", s, err)
	}
	before := b.manifestGets.Load()
	upload(t, v, "c/c.bak", pages(3, 1<<20), 256<<10)
	if err := v.Annotate(ctx, "c/c.bak", map[string]string{"lsn": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteBlob(ctx, "c/a.bak"); err != nil {
		t.Fatal(err)
	}
	before += 1 // Annotate reads the manifest it rewrites
	for i := 0; i < 5; i++ {
		v.Stats(ctx)
	}
	if n := b.manifestGets.Load() - before; n != 0 {
		t.Fatalf("Stats read %d manifests after the first call, want 0", n)
	}
	got, _ := v.Stats(ctx)
	fresh, err := Open(ctx, dir, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	want, _ := fresh.Stats(ctx)
	if got != want || got.Blobs != 2 || got.LogicalBytes != 3<<20 {
		t.Fatalf("kept Stats = %+v, a fresh vault's = %+v", got, want)
	}
}

// TestS2Codec: a vault made with S2 stores, reads back after reopening
// (the codec is kept in its config) and verifies.
func TestS2Codec(t *testing.T) {
	ctx := context.Background()
	b := mustDir(t)
	v, err := Create(ctx, b, pass, Options{Codec: CodecS2})
	if err != nil {
		t.Fatal(err)
	}
	data := pages(7, 3<<20)
	if err := v.PutBlock(ctx, "c/s2.bak", "b1", data); err != nil {
		t.Fatal(err)
	}
	m, err := v.CommitBlob(ctx, "c/s2.bak", []string{"b1"}, nil)
	if err != nil || m.StoredBytes <= 0 || m.StoredBytes >= m.Size {
		t.Fatalf("commit = %+v, %v", m, err)
	}
	v.Close()
	v, err = Open(ctx, b, pass, Options{}) // no codec asked: the vault's own
	if err != nil || v.Codec() != CodecS2 {
		t.Fatalf("reopened with codec %q, %v", v.Codec(), err)
	}
	defer v.Close()
	r, err := v.OpenBlob(ctx, "c/s2.bak")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("S2 vault read back different bytes")
	}
	if rep, err := v.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
	if _, err := Create(ctx, mustDir(t), pass, Options{Codec: "lz4"}); err == nil {
		t.Error("an unknown codec was accepted")
	}
}
