package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Hidden objects. On a bucket with Object Lock a DELETE without a version
// id is allowed to anyone with the delete permission: it puts a delete
// marker over the key and the retained version stays (AWS S3 userguide
// object-lock.md; SeaweedFS weed/s3api/s3api_object_handlers_delete.go).
// A plain GET then answers 404 NoSuchKey, so a restore would fail although
// its data is intact. The vault reads such an object from its stored
// versions instead, and remembers it: someone tried to remove a recovery
// point, and a person must hear of it (Verify, HiddenObjects).

// VersionedBackend is a backend that keeps an object's versions under a
// delete marker: a bucket with S3 Object Lock (always versioned).
type VersionedBackend interface {
	// HiddenVersions answers the stored versions of name, newest first,
	// when a delete marker is its current version; none otherwise.
	HiddenVersions(ctx context.Context, name string) ([]string, error)
	// ReadVersion reads n bytes at off of one version (all when n < 0).
	ReadVersion(ctx context.Context, name, id string, off, n int64) ([]byte, error)
}

// HiddenVersions is VersionedBackend's: none on a bucket without a lock.
func (b *BucketBackend) HiddenVersions(ctx context.Context, name string) ([]string, error) {
	if b.lock == nil {
		return nil, nil
	}
	return b.lock.hiddenVersions(ctx, name)
}

// ReadVersion is VersionedBackend's.
func (b *BucketBackend) ReadVersion(ctx context.Context, name, id string, off, n int64) ([]byte, error) {
	if b.lock == nil {
		return nil, ErrNoObjectLock
	}
	return b.lock.readVersion(ctx, name, id, off, n)
}

// hiddenSet is the objects found under a delete marker since Open, and
// those TakeHidden has handed out already.
type hiddenSet struct {
	mu       sync.Mutex
	m        map[string]bool
	reported map[string]bool
}

func (h *hiddenSet) note(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]bool{}
	}
	h.m[name] = true
}

// take answers the names not taken before, sorted, and marks them taken.
func (h *hiddenSet) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for n := range h.m {
		if !h.reported[n] {
			out = append(out, n)
		}
	}
	if h.reported == nil {
		h.reported = map[string]bool{}
	}
	for _, n := range out {
		h.reported[n] = true
	}
	sort.Strings(out)
	return out
}

func (h *hiddenSet) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.m))
	for n := range h.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// HiddenObjects names the objects found hidden by a delete marker and
// read from a retained version since the vault was opened, sorted.
func (v *Vault) HiddenObjects() []string { return v.hidden.list() }

// TakeHidden answers the hidden objects found since the last call, so
// whoever alerts on them does so once for each.
func (v *Vault) TakeHidden() []string { return v.hidden.take() }

// readHidden reads n bytes at off (all of it when n < 0) of an object the
// vault needs that answered ErrNotExist: on a locked bucket, from the
// newest version under the delete marker that ok accepts (the caller
// authenticates it, so a version someone else put there is passed over).
// Elsewhere, or when nothing is hidden, it answers ErrNotExist.
func (v *Vault) readHidden(ctx context.Context, name string, off, n int64, ok func([]byte) bool) ([]byte, error) {
	vb, versioned := v.b.(VersionedBackend)
	if !versioned {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	ids, err := vb.HiddenVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, id := range ids {
		data, err := vb.ReadVersion(ctx, name, id, off, n)
		if err != nil { // a version too short for the range, say: try the next
			errs = append(errs, err)
			continue
		}
		if ok(data) {
			v.hidden.note(name)
			v.log.Warn("vault object hidden by a delete marker: read its retained version; someone with the bucket's delete permission tried to remove it",
				"object", name, "version", id)
			return data, nil
		}
	}
	if len(ids) > 0 {
		return nil, fmt.Errorf("%s is hidden by a delete marker and none of its %d stored versions authenticates: %w", name, len(ids),
			errors.Join(append(errs, ErrNotExist)...))
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
}

// hiddenVersions answers the stored versions of name, newest first, when
// its current version is a delete marker; none when it has no marker on
// top (really absent, or there again).
func (l *s3Lock) hiddenVersions(ctx context.Context, name string) ([]string, error) {
	key := l.prefix + name
	var ids []string
	marked := false
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(l.bucket), Prefix: aws.String(key)}
	for {
		page, err := l.client.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", key, err)
		}
		for _, dm := range page.DeleteMarkers {
			marked = marked || (aws.ToString(dm.Key) == key && aws.ToBool(dm.IsLatest))
		}
		for _, ov := range page.Versions { // S3 lists a key's versions newest first
			if aws.ToString(ov.Key) == key {
				ids = append(ids, aws.ToString(ov.VersionId))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	if !marked {
		return nil, nil
	}
	return ids, nil
}

// readVersion reads n bytes at off of one version of name (all when n < 0).
func (l *s3Lock) readVersion(ctx context.Context, name, id string, off, n int64) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.prefix + name), VersionId: aws.String(id)}
	if n >= 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	}
	got, err := l.client.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", name, id, err)
	}
	defer got.Body.Close()
	data, err := io.ReadAll(got.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", name, id, err)
	}
	if n >= 0 && int64(len(data)) != n {
		return nil, fmt.Errorf("read %s version %s: %d bytes at %d, want %d", name, id, len(data), off, n)
	}
	return data, nil
}

// chunkOpens is readHidden's check for a ranged read of one chunk.
func (v *Vault) chunkOpens(id ChunkID, loc location) func([]byte) bool {
	return func(sealed []byte) bool {
		_, err := v.decodeChunk(id, sealed, loc)
		return err == nil
	}
}

// packOpens is readHidden's check for a whole pack: every chunk its
// index names authenticates.
func (v *Vault) packOpens(chunks map[ChunkID]location) func([]byte) bool {
	return func(data []byte) bool {
		for id, loc := range chunks {
			if loc.Offset+loc.Length > int64(len(data)) {
				return false
			}
			if _, err := v.decodeChunk(id, data[loc.Offset:loc.Offset+loc.Length], loc); err != nil {
				return false
			}
		}
		return true
	}
}

// manifestOpens is readHidden's check for a manifest: sealed with the
// vault's key.
func (v *Vault) manifestOpens(sealed []byte) bool {
	_, err := open(v.k.aead, sealed)
	return err == nil
}

// restorableManifest is Manifest for a read that needs the blob (a
// restore): a manifest hidden by a delete marker is read from its
// retained version. Deletes sqlvault makes itself (DeleteBlob) keep the
// plain Manifest, which sees them as gone.
func (v *Vault) restorableManifest(ctx context.Context, blob string) (Manifest, error) {
	m, err := v.Manifest(ctx, blob)
	if !errors.Is(err, ErrNotExist) {
		return m, err
	}
	sealed, err := v.readHidden(ctx, manifestName(blob), 0, -1, v.manifestOpens)
	if err != nil {
		return Manifest{}, err
	}
	return v.parseManifest(manifestName(blob), sealed)
}

// Tampered reports whether Verify found objects hidden by a delete marker.
func (r VerifyReport) Tampered() bool { return len(r.HiddenObjects) > 0 }

// currentVersion answers the id of key's current version (HEAD; nil if
// it has none), which retain then holds by id: a retention without one
// names whatever the store takes for current, which under a delete marker
// SeaweedFS takes to be the newest version stored (maybe not sqlvault's).
// When a marker hides key it holds every version under it instead
// (retainHidden) and answers done.
func (l *s3Lock) currentVersion(ctx context.Context, key string, until time.Time) (id *string, done bool, err error) {
	head, err := l.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key)})
	if err == nil {
		return head.VersionId, false, nil
	}
	hidden, herr := l.retainHidden(ctx, strings.TrimPrefix(key, l.prefix), until)
	if hidden || herr != nil {
		return nil, true, herr
	}
	return nil, false, fmt.Errorf("object lock retention of %s: %w", key, err)
}

// retainHidden holds every version stored under the delete marker over
// name until at least until, since a retention without a version id
// cannot reach them. Which of them is sqlvault's only a read can tell
// (readHidden), so all are held: the genuine one stays whatever else was
// put there. It reports false when name is not hidden.
func (l *s3Lock) retainHidden(ctx context.Context, name string, until time.Time) (bool, error) {
	ids, err := l.hiddenVersions(ctx, name)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	for _, id := range ids {
		if err := l.retainVersion(ctx, name, id, until); err != nil {
			return true, err
		}
	}
	return true, nil
}
