// Package vault is sqlvault's store. Backup streams arrive as the blocks of
// Azure block blobs; each block is cut into content-defined chunks
// (FastCDC), each chunk named by a keyed BLAKE3 hash and stored once across
// the whole vault, compressed with zstd and sealed with AES-256-GCM, and
// chunks are gathered into pack files. A committed blob is an encrypted
// manifest listing its chunks. Everything lives in the backend, so a new
// server with the passphrase can list and restore every backup.
package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// Options tune a vault.
type Options struct {
	PackSize   int // bytes of sealed chunks per pack file; default 16 MiB
	ChunkAvg   int // FastCDC average chunk size; default 64 KiB
	CacheItems int // decoded chunks kept for readers; default 64
	// Codec is the chunk compression of a vault Create makes (CodecZstd by
	// default, or CodecS2); an existing vault keeps its own.
	Codec string
	// IngestCodec compresses chunks as they arrive when it differs from
	// the vault's codec: CodecS2 takes backups about twice as fast, and
	// Recompress later brings the packs to the vault's codec. Default: the
	// vault's codec.
	IngestCodec string
	// Workers is how many goroutines hash, compress and seal the chunks of
	// one block; default GOMAXPROCS.
	Workers int
	// UncommittedTTL is how long an upload may sit without a new block
	// before GC forgets it and collects its chunks; default 24h.
	UncommittedTTL time.Duration
	Logger         *slog.Logger
	// Hook, when set, is called at named points; tests use it to crash the
	// process at chosen moments.
	Hook func(point string)
}

// ChunkID names a chunk: the keyed BLAKE3 hash of its plaintext.
type ChunkID [32]byte

func (c ChunkID) String() string { return hex.EncodeToString(c[:]) }

// MarshalText writes the id in hex, which keeps manifests small and quick
// to parse.
func (c ChunkID) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, c[:]), nil }

// UnmarshalJSON reads a hex id, or the array of numbers early manifests
// held.
func (c *ChunkID) UnmarshalJSON(b []byte) error {
	if len(b) == 66 && b[0] == '"' && b[65] == '"' {
		if _, err := hex.Decode(c[:], b[1:65]); err != nil {
			return fmt.Errorf("chunk id: %w", err)
		}
		return nil
	}
	var arr [32]byte
	if err := json.Unmarshal(b, (*[32]uint8)(&arr)); err != nil {
		return fmt.Errorf("chunk id: %w", err)
	}
	*c = arr
	return nil
}

// location is where a sealed chunk lives.
type location struct {
	Pack   string `json:"p"`
	Offset int64  `json:"o"`
	Length int64  `json:"l"` // sealed length
	Size   int64  `json:"s"` // plaintext length
	// Codec compressed the chunk when it is not the vault's own: the fast
	// ingest codec, until Recompress rewrites the pack.
	Codec string `json:"c,omitempty"`
}

// chunkRef is one chunk of a blob.
type chunkRef struct {
	ID   ChunkID `json:"id"`
	Size int64   `json:"n"`
}

// Vault is an open vault.
type Vault struct {
	b      Backend
	k      *keys
	opts   Options
	codec  string // CodecZstd or CodecS2, fixed at creation
	ingest string // the codec of new chunks
	// activity is when a block was last stored or a chunk read (unix
	// nanoseconds): background recompression waits for a quiet vault.
	activity atomic.Int64
	recompMu sync.Mutex // one recompression at a time
	enc      *zstd.Encoder
	dec      *zstd.Decoder
	log      *slog.Logger

	chunker  *chunker
	packBufs *packBufs // buffers of written packs, for the next ones

	mu      sync.Mutex
	index   map[ChunkID]location
	packs   map[string][]ChunkID // every indexed pack -> the chunks its index names
	pack    *packWriter          // the open pack, not yet durable
	pending map[ChunkID]bool     // chunks in packs not yet durable
	written *sync.Cond           // on mu: broadcast when a pack write ends
	up      *uploads             // full packs being written in the background
	staged  map[string]*staging  // uploads not yet committed
	gcMu    sync.RWMutex         // GC excludes writers
	cache   *chunkCache
	ahead   aheadStore            // chunks read ahead for readers (readahead.go)
	blobs   map[string]*blobIndex // parsed manifests of blobs being read
	blobGen uint64                // bumped when a manifest changes

	// sizes is every committed blob's logical size, read from the
	// manifests by the first Stats and kept up to date by putManifest and
	// DeleteBlob after it, so Stats costs no manifest reads. nil before.
	sizesMu sync.Mutex
	sizes   map[string]int64

	setMu    sync.Mutex
	settings Settings // the settings object, read at Open
	revision int64    // of settings: each save numbers its version one more

	config   []byte       // the config object Open unwrapped the key from
	ownUntil atomic.Int64 // unix seconds config and settings are retained until
	held     heldDates    // blob -> the date Retain last held it until
	hidden   hiddenSet    // objects read from under a delete marker (hidden.go)

	recovered recoveredSet // indexes and manifests Open read from under someone's delete marker (marks.go)
	markOnce  sync.Once
	markKey   []byte // names sqlvault's delete marks (marks.go)
}

// staging is an upload in progress: its blocks by id.
type staging struct {
	blocks  map[string][]chunkRef
	stored  map[string]int64 // compressed bytes each block stored anew (not deduplicated)
	touched time.Time
	failed  uint64 // pack write failures before its first block
}

// Open unlocks the vault in b and loads its index.
func Open(ctx context.Context, b Backend, passphrase []byte, opts Options) (*Vault, error) {
	k, codec, config, err := openKeys(ctx, b, passphrase)
	if err != nil {
		return nil, err
	}
	if opts.PackSize <= 0 {
		opts.PackSize = 16 << 20
	}
	if opts.ChunkAvg <= 0 {
		opts.ChunkAvg = 64 << 10
	}
	if opts.CacheItems <= 0 {
		opts.CacheItems = 64
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.UncommittedTTL <= 0 {
		opts.UncommittedTTL = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// EncodeAll and DecodeAll are safe for concurrent use; the concurrency
	// option bounds how many run at once, so it must not be 1.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)+2), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false)) // GCM and the chunk id already check every byte
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	ingest := opts.IngestCodec
	if ingest != CodecZstd && ingest != CodecS2 {
		ingest = codec
	}
	v := &Vault{b: b, k: k, opts: opts, enc: enc, dec: dec, log: opts.Logger, codec: codec, ingest: ingest,
		chunker: newChunker(k.gearKey, opts.ChunkAvg), packBufs: newPackBufs(opts.PackSize, 4*opts.ChunkAvg),
		index: map[ChunkID]location{}, packs: map[string][]ChunkID{}, pending: map[ChunkID]bool{},
		staged: map[string]*staging{}, cache: newChunkCache(opts.CacheItems), blobs: map[string]*blobIndex{}, config: config}
	v.written, v.up = sync.NewCond(&v.mu), newUploads()
	if err := v.loadIndex(ctx); err != nil {
		return nil, err
	}
	if err := v.recoverHidden(ctx); err != nil { // marks.go
		return nil, err
	}
	if err := v.loadSettings(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// Create initialises a vault in b if there is none, then opens it.
func Create(ctx context.Context, b Backend, passphrase []byte, opts Options) (*Vault, error) {
	v, err := Open(ctx, b, passphrase, opts)
	if errors.Is(err, ErrNoVault) {
		if opts.Codec == "" {
			opts.Codec = CodecZstd
		}
		if err := InitCodec(ctx, b, passphrase, opts.Codec); err != nil {
			return nil, err
		}
		return Open(ctx, b, passphrase, opts)
	}
	return v, err
}

func (v *Vault) hook(point string) {
	if v.opts.Hook != nil {
		v.opts.Hook(point)
	}
}

// Close flushes nothing: uncommitted data is garbage by design. It waits
// for the pack writes under way, which use the backend.
func (v *Vault) Close() error {
	v.up.wait()
	v.enc.Close()
	v.dec.Close()
	return nil
}

// PutBlock stores one block of a blob being uploaded. Blocks of different
// blobs, and of one blob, may arrive concurrently. The block's chunks are
// durable only after CommitBlob.
func (v *Vault) PutBlock(ctx context.Context, blob, blockID string, data []byte) error {
	v.gcMu.RLock()
	defer v.gcMu.RUnlock()
	v.touch()
	failed, _ := v.up.state()
	refs, stored, err := v.storeChunks(ctx, data)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.staged[blob]
	if st == nil {
		st = &staging{blocks: map[string][]chunkRef{}, stored: map[string]int64{}, failed: failed}
		v.staged[blob] = st
	}
	if err := v.uploadFailedSince(st.failed); err != nil {
		return err
	}
	st.blocks[blockID] = refs
	st.stored[blockID] = stored
	st.touched = time.Now()
	return nil
}

// compBufs recycles zstd output buffers.
var compBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}

// storeChunks cuts data into chunks and stores the new ones, spreading the
// hashing, compression and sealing of one block over the workers.
func (v *Vault) storeChunks(ctx context.Context, data []byte) ([]chunkRef, int64, error) {
	if len(data) == 0 {
		return nil, 0, nil
	}
	var stored atomic.Int64
	cuts := v.chunker.cuts(make([]int, 0, len(data)/v.opts.ChunkAvg*2+2), data)
	refs := make([]chunkRef, len(cuts))
	var next atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	work := func() {
		buf := compBufs.Get().(*[]byte)
		defer compBufs.Put(buf)
		for {
			i := int(next.Add(1) - 1)
			if i >= len(cuts) {
				return
			}
			start := 0
			if i > 0 {
				start = cuts[i-1]
			}
			c := data[start:cuts[i]]
			id := v.chunkID(c)
			refs[i] = chunkRef{ID: id, Size: int64(len(c))}
			if v.has(id) {
				continue
			}
			*buf = v.compress(c, (*buf)[:0], v.ingest)
			added, err := v.addToPack(ctx, id, *buf, int64(len(c)))
			if added {
				stored.Add(int64(len(*buf)))
			}
			if err != nil {
				errMu.Lock()
				firstErr = cmp(firstErr, err)
				errMu.Unlock()
				next.Store(int64(len(cuts)))
				return
			}
			if ctx.Err() != nil {
				next.Store(int64(len(cuts)))
				return
			}
		}
	}
	workers := min(v.opts.Workers, len(cuts))
	if workers <= 1 {
		work()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return refs, stored.Load(), nil
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (v *Vault) chunkID(data []byte) ChunkID {
	h, _ := blake3.NewKeyed(v.k.idKey)
	h.Write(data)
	var id ChunkID
	h.Sum(id[:0])
	return id
}

func (v *Vault) has(id ChunkID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.index[id]
	return ok || v.pending[id]
}

// addToPack seals a chunk into the open pack unless it is stored or
// pending already; added reports whether this call stored it. The chunk's
// place is taken under the lock and sealed outside it, so workers encrypt
// at once. A pack that fills up is written in the background.
func (v *Vault) addToPack(ctx context.Context, id ChunkID, comp []byte, size int64) (added bool, err error) {
	n := sealedLen(v.k.aead, len(comp))
	v.mu.Lock()
	if v.pending[id] {
		v.mu.Unlock()
		return false, nil
	}
	if _, ok := v.index[id]; ok {
		v.mu.Unlock()
		return false, nil
	}
	var full *packWriter
	if v.pack != nil && !v.pack.fits(n) {
		full, v.pack = v.pack, nil
	}
	if v.pack == nil {
		v.pack = v.packBufs.get(n)
	}
	p := v.pack
	dst := p.reserve(id, n, size, v.tag(v.ingest))
	p.sealing.Add(1)
	v.pending[id] = true
	if full == nil && p.size() >= v.opts.PackSize {
		full, v.pack = p, nil
	}
	v.mu.Unlock()
	v.hook("before-seal")
	sealInto(v.k.aead, dst, comp)
	p.sealing.Done()
	if full != nil {
		return true, v.writePackAsync(ctx, full)
	}
	return true, nil
}

// writePack makes a pack durable: the pack object first, then its index
// object. A crash between them leaves a pack no index names: garbage that
// GC removes, never a dangling index entry.
func (v *Vault) writePack(ctx context.Context, p *packWriter) error {
	defer func() {
		v.mu.Lock()
		v.written.Broadcast()
		v.mu.Unlock()
	}()
	p.sealing.Wait() // the chunks reserved in it are all sealed
	name := "packs/" + randomName()
	err := v.b.Put(ctx, name, p.buf)
	p.release()
	if err != nil {
		v.dropPending(p)
		return fmt.Errorf("write pack: %w", err)
	}
	v.hook("after-pack")
	entries := make(map[string]location, len(p.entries))
	for id, loc := range p.entries {
		loc.Pack = name
		entries[id.String()] = loc
	}
	plain, _ := json.Marshal(entries)
	if err := v.b.Put(ctx, "index/"+name[len("packs/"):], seal(v.k.aead, plain)); err != nil {
		v.dropPending(p)
		return fmt.Errorf("write index: %w", err)
	}
	v.hook("after-index")
	v.mu.Lock()
	ids := make([]ChunkID, 0, len(p.entries))
	for id, loc := range p.entries {
		loc.Pack = name
		v.index[id] = loc
		ids = append(ids, id)
		delete(v.pending, id)
	}
	v.packs[name] = ids
	v.mu.Unlock()
	return nil
}

func (v *Vault) dropPending(p *packWriter) {
	v.mu.Lock()
	for id := range p.entries {
		delete(v.pending, id)
	}
	v.mu.Unlock()
}

// flush makes the open pack durable, in one of the background writes'
// slots so that the bound holds for every pack ingest writes.
func (v *Vault) flush(ctx context.Context) error {
	v.mu.Lock()
	p := v.pack
	v.pack = nil
	v.mu.Unlock()
	if p == nil || len(p.entries) == 0 {
		return nil
	}
	return v.writePackBounded(ctx, p)
}

// Manifest describes a committed blob.
type Manifest struct {
	Blob        string            `json:"blob"`
	Size        int64             `json:"size"`
	Chunks      []chunkRef        `json:"chunks"`
	Labels      map[string]string `json:"labels,omitempty"`
	Created     time.Time         `json:"created"`
	StoredBytes int64             `json:"stored_bytes"` // sealed bytes of chunks first stored by this blob
}

// manifestName maps a blob name to its manifest object; the blob name is
// hashed so it may hold any character.
func manifestName(blob string) string {
	h := blake3.Sum256([]byte(blob))
	return "manifests/" + hex.EncodeToString(h[:16])
}

// CommitBlob commits a blob as the ordered blocks named, as Put Block List
// does. Every pack the blob needs is durable before its manifest is written.
func (v *Vault) CommitBlob(ctx context.Context, blob string, blockIDs []string, labels map[string]string) (Manifest, error) {
	v.gcMu.RLock()
	defer v.gcMu.RUnlock()
	v.mu.Lock()
	var blocks map[string][]chunkRef
	var stored map[string]int64
	if st := v.staged[blob]; st != nil {
		blocks, stored = st.blocks, st.stored
	}
	m := Manifest{Blob: blob, Labels: labels, Created: time.Now().UTC()}
	for _, id := range blockIDs {
		refs, ok := blocks[id]
		if !ok {
			v.mu.Unlock()
			return Manifest{}, fmt.Errorf("blob %s: block %q was never uploaded", blob, id)
		}
		m.StoredBytes += stored[id]
		for _, r := range refs {
			m.Size += r.Size
		}
		m.Chunks = append(m.Chunks, refs...)
	}
	v.mu.Unlock()
	if err := v.flush(ctx); err != nil {
		return Manifest{}, err
	}
	if err := v.awaitDurable(ctx, m.Chunks); err != nil {
		return Manifest{}, fmt.Errorf("blob %s: %w", blob, err)
	}
	v.hook("before-manifest")
	if err := v.putManifest(ctx, m); err != nil {
		return Manifest{}, err
	}
	v.hook("after-manifest")
	v.mu.Lock()
	delete(v.staged, blob)
	v.mu.Unlock()
	return m, nil
}

// awaitDurable waits until every chunk is in a durable, indexed pack: a
// chunk this upload found pending may sit in a pack another upload is
// still writing.
func (v *Vault) awaitDurable(ctx context.Context, refs []chunkRef) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for {
		wait, inOpen := false, false
		for _, r := range refs {
			if _, ok := v.index[r.ID]; ok {
				continue
			}
			if !v.pending[r.ID] {
				return v.lostChunk(r.ID)
			}
			wait = true
			if v.pack != nil {
				_, inOpen = v.pack.entries[r.ID]
			}
			break
		}
		if !wait {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if inOpen {
			v.mu.Unlock()
			err := v.flush(ctx)
			v.mu.Lock()
			if err != nil {
				return err
			}
			continue
		}
		v.written.Wait()
	}
}

func (v *Vault) putManifest(ctx context.Context, m Manifest) error {
	v.forgetBlob(m.Blob)
	defer v.forgetBlob(m.Blob)
	plain, _ := json.Marshal(m)
	if err := v.b.Put(ctx, manifestName(m.Blob), seal(v.k.aead, plain)); err != nil {
		return fmt.Errorf("write manifest of %s: %w", m.Blob, err)
	}
	v.noteSize(m.Blob, m.Size, true)
	return nil
}

// noteSize records a manifest written or deleted in the kept sizes, once
// the backend has done it (so a concurrent first Stats either read it or
// is followed by this).
func (v *Vault) noteSize(blob string, size int64, present bool) {
	v.sizesMu.Lock()
	defer v.sizesMu.Unlock()
	switch {
	case v.sizes == nil:
	case present:
		v.sizes[blob] = size
	default:
		delete(v.sizes, blob)
	}
}

// Manifest reads the manifest of a committed blob.
func (v *Vault) Manifest(ctx context.Context, blob string) (Manifest, error) {
	return v.readManifest(ctx, manifestName(blob))
}

func (v *Vault) readManifest(ctx context.Context, name string) (Manifest, error) {
	sealed, err := v.getRecovered(ctx, name)
	if err != nil {
		return Manifest{}, err
	}
	return v.parseManifest(name, sealed)
}

func (v *Vault) parseManifest(name string, sealed []byte) (Manifest, error) {
	plain, err := open(v.k.aead, sealed)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", name, err)
	}
	var m Manifest
	return m, json.Unmarshal(plain, &m)
}

// Annotate adds labels to a committed blob (e.g. the LSNs SQL Server
// reported after the upload), rewriting its manifest atomically.
func (v *Vault) Annotate(ctx context.Context, blob string, labels map[string]string) error {
	m, err := v.Manifest(ctx, blob)
	if err != nil {
		return err
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	for k, val := range labels {
		m.Labels[k] = val
	}
	return v.putManifest(ctx, m)
}

// DeleteBlob removes a committed blob; its chunks go at the next GC. An
// immutable vault refuses (ErrImmutable) a described blob younger than
// its soft delete period.
func (v *Vault) DeleteBlob(ctx context.Context, blob string) error {
	if err := v.refuseImmutableDelete(ctx, blob); err != nil {
		return err
	}
	v.mu.Lock()
	delete(v.staged, blob)
	v.mu.Unlock()
	v.forgetBlob(blob)
	defer v.forgetBlob(blob)
	// On a locked bucket the delete is a marker: mark it as sqlvault's
	// (marks.go). An Annotate of the same blob between the mark and the
	// delete would leave its new version unmarked; nothing annotates a
	// point being deleted.
	if err := v.markDeleted(ctx, manifestName(blob)); err != nil {
		return err
	}
	err := v.b.Delete(ctx, manifestName(blob))
	if err == nil || errors.Is(err, ErrNotExist) {
		v.recovered.forget(manifestName(blob))
		v.noteSize(blob, 0, false)
	}
	return err
}

// AbortBlob forgets the uncommitted blocks of a blob.
func (v *Vault) AbortBlob(blob string) {
	v.mu.Lock()
	delete(v.staged, blob)
	v.mu.Unlock()
}

// List returns the manifests of committed blobs whose names start with
// prefix, read from the backend alone (with those Open found hidden by
// someone's delete marker, marks.go).
func (v *Vault) List(ctx context.Context, prefix string) ([]Manifest, error) {
	names, err := v.listWithRecovered(ctx, "manifests/")
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, n := range names {
		m, err := v.readManifest(ctx, n)
		if err != nil {
			return nil, err
		}
		if len(m.Blob) >= len(prefix) && m.Blob[:len(prefix)] == prefix {
			out = append(out, m)
		}
	}
	return out, nil
}

func (v *Vault) loadIndex(ctx context.Context) error {
	names, err := v.b.List(ctx, "index/")
	if err != nil {
		return err
	}
	for _, n := range names {
		sealed, err := v.b.Get(ctx, n)
		if err != nil {
			return err
		}
		if err := v.addIndex(n, sealed); err != nil {
			return err
		}
	}
	return nil
}

// addIndex opens the index object n and adds its entries.
func (v *Vault) addIndex(n string, sealed []byte) error {
	plain, err := open(v.k.aead, sealed)
	if err != nil {
		return fmt.Errorf("index %s: %w", n, err)
	}
	var entries map[string]location
	if err := json.Unmarshal(plain, &entries); err != nil {
		return fmt.Errorf("index %s: %w", n, err)
	}
	ids := make([]ChunkID, 0, len(entries))
	pack := "packs/" + strings.TrimPrefix(n, "index/")
	for hexID, loc := range entries {
		var id ChunkID
		if _, err := hex.Decode(id[:], []byte(hexID)); err != nil || loc.Pack != pack {
			return fmt.Errorf("index %s: bad entry %q", n, hexID)
		}
		v.index[id] = loc
		ids = append(ids, id)
	}
	v.packs[pack] = ids
	return nil
}

// readChunk fetches, opens, decompresses and checks one chunk.
func (v *Vault) readChunk(ctx context.Context, id ChunkID) ([]byte, error) {
	if b, ok := v.cache.get(id); ok {
		return b, nil
	}
	v.touch()
	loc, ok := v.locate(id)
	if !ok {
		return nil, fmt.Errorf("chunk %s is not in the vault index", id)
	}
	sealed, err := v.b.GetRange(ctx, loc.Pack, loc.Offset, loc.Length)
	if now, _ := v.locate(id); err != nil && now != loc {
		// Recompression (or GC) moved the chunk while we read.
		loc = now
		sealed, err = v.b.GetRange(ctx, loc.Pack, loc.Offset, loc.Length)
	}
	if errors.Is(err, ErrNotExist) { // a delete marker over a retained pack?
		sealed, err = v.readHidden(ctx, loc.Pack, loc.Offset, loc.Length, v.chunkOpens(id, loc))
	}
	if err != nil {
		return nil, err
	}
	data, err := v.decodeChunk(id, sealed, loc)
	if err != nil {
		return nil, fmt.Errorf("chunk %s in %s: %w", id, loc.Pack, err)
	}
	v.cache.put(id, data)
	return data, nil
}

func (v *Vault) locate(id ChunkID) (location, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	loc, ok := v.index[id]
	return loc, ok
}

func (v *Vault) touch() { v.activity.Store(time.Now().UnixNano()) }

// tag is the codec a location records: none for the vault's own.
func (v *Vault) tag(codec string) string {
	if codec == v.codec {
		return ""
	}
	return codec
}

// compress appends c compressed with codec to dst.
func (v *Vault) compress(c, dst []byte, codec string) []byte {
	if codec == CodecS2 {
		n := s2.MaxEncodedLen(len(c))
		if cap(dst) < n {
			dst = make([]byte, 0, n)
		}
		return s2.Encode(dst[:n], c)
	}
	return v.enc.EncodeAll(c, dst)
}

func (v *Vault) decompress(comp []byte, size int64, codec string) ([]byte, error) {
	if codec == CodecS2 {
		return s2.Decode(make([]byte, size), comp)
	}
	return v.dec.DecodeAll(comp, make([]byte, 0, size))
}

// Codec is the chunk compression the vault was created with.
func (v *Vault) Codec() string { return v.codec }

func (v *Vault) decodeChunk(id ChunkID, sealed []byte, loc location) ([]byte, error) {
	comp, err := open(v.k.aead, sealed)
	if err != nil {
		return nil, err
	}
	data, err := v.decompress(comp, loc.Size, cmpOr(loc.Codec, v.codec))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if v.chunkID(data) != id {
		return nil, errors.New("content does not match its id")
	}
	return data, nil
}
