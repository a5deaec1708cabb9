package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// Locker is a backend whose storage itself can refuse to delete or
// overwrite an object until a date (S3 Object Lock in compliance mode):
// then even someone holding the storage's credentials, or sqlvault itself,
// cannot remove a recovery point's data before its expiry.
type Locker interface {
	// Locks reports whether the storage enforces retention here.
	Locks() bool
	// Retain makes the storage keep name until at least until; a later
	// date it holds already stays (compliance retention never shortens).
	Retain(ctx context.Context, name string, until time.Time) error
}

// ErrNoObjectLock is the answer of Retain on storage without a lock.
var ErrNoObjectLock = errors.New("the vault's storage has no object lock")

// s3Lock is S3 Object Lock on one bucket. known caches the retention
// each object holds, so a pack shared by many points costs a round trip
// only when a point extends it.
type s3Lock struct {
	client *s3.Client
	bucket string
	prefix string // the URL's prefix parameter: gocloud puts it before every key

	mu    sync.Mutex
	known map[string]time.Time
}

// openS3Lock finds whether the bucket of an s3:// URL has Object Lock
// enabled (it can only be chosen when the bucket is created); nil if not.
func openS3Lock(ctx context.Context, b *blob.Bucket, rawURL string) (*s3Lock, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" {
		return nil, err
	}
	var client *s3.Client
	if !b.As(&client) {
		return nil, nil
	}
	out, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(u.Host)})
	if err != nil {
		// S3 answers ObjectLockConfigurationNotFoundError for a bucket
		// made without the lock; any failure means no lock to rely on.
		return nil, nil
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return nil, nil
	}
	return &s3Lock{client: client, bucket: u.Host, prefix: u.Query().Get("prefix"), known: map[string]time.Time{}}, nil
}

// retain sets a compliance retention of until on the object's current
// version unless it holds a later one.
func (l *s3Lock) retain(ctx context.Context, name string, until time.Time) error {
	until = wholeSecond(until)
	name = l.prefix + name
	l.mu.Lock()
	have, ok := l.known[name]
	l.mu.Unlock()
	if !ok {
		got, err := l.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(l.bucket), Key: aws.String(name)})
		if err == nil && got.Retention != nil && got.Retention.RetainUntilDate != nil {
			have = *got.Retention.RetainUntilDate
		}
	}
	if !have.Before(until) {
		l.remember(name, have)
		return nil
	}
	id, done, err := l.currentVersion(ctx, name, until) // hidden.go: done when a delete marker hides it
	if err != nil || done {
		return err
	}
	_, err = l.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(l.bucket), Key: aws.String(name), VersionId: id,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until)}})
	if err != nil {
		return fmt.Errorf("object lock retention of %s until %s: %w", name, until.Format(time.RFC3339), err)
	}
	l.remember(name, until)
	return nil
}

// maxVersionSize bounds the versions versions reads: config and settings
// are under a kilobyte, so a bigger version is not one sqlvault wrote.
const maxVersionSize = 64 << 10

// objectVersion is one stored version of an object; id is empty on a
// backend that keeps no versions.
type objectVersion struct {
	id   string
	body []byte
}

// versions reads every stored version of name, newest first, leaving out
// delete markers. A bucket with Object Lock is always versioned, and a
// DELETE without a version id only adds a delete marker over a retained
// version (AWS S3 userguide object-lock.md; SeaweedFS
// weed/s3api/s3api_object_handlers_delete.go): whoever hid the current
// version, the retained ones are still here to be read.
func (l *s3Lock) versions(ctx context.Context, name string) ([]objectVersion, error) {
	key := l.prefix + name
	var out []objectVersion
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(l.bucket), Prefix: aws.String(key)}
	for {
		page, err := l.client.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", key, err)
		}
		for _, ov := range page.Versions {
			if aws.ToString(ov.Key) == key && aws.ToInt64(ov.Size) <= maxVersionSize {
				out = append(out, objectVersion{id: aws.ToString(ov.VersionId)})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	for i := range out { // S3 lists a key's versions newest first
		body, err := l.read(ctx, key, out[i].id)
		if err != nil {
			return nil, err
		}
		out[i].body = body
	}
	return out, nil
}

func (l *s3Lock) read(ctx context.Context, key, id string) ([]byte, error) {
	got, err := l.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key), VersionId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", key, id, err)
	}
	defer got.Body.Close()
	body, err := io.ReadAll(io.LimitReader(got.Body, maxVersionSize))
	if err != nil {
		return nil, fmt.Errorf("read %s version %s: %w", key, id, err)
	}
	return body, nil
}

// retainVersion is retain for one version of name.
func (l *s3Lock) retainVersion(ctx context.Context, name, id string, until time.Time) error {
	until = wholeSecond(until)
	key := l.prefix + name
	got, err := l.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(l.bucket), Key: aws.String(key), VersionId: aws.String(id)})
	if err == nil && got.Retention != nil && got.Retention.RetainUntilDate != nil && !got.Retention.RetainUntilDate.Before(until) {
		return nil
	}
	_, err = l.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(l.bucket), Key: aws.String(key), VersionId: aws.String(id),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until)}})
	if err != nil {
		return fmt.Errorf("object lock retention of %s version %s until %s: %w", key, id, until.Format(time.RFC3339), err)
	}
	return nil
}

// wholeSecond rounds up to the whole seconds S3 keeps, in UTC.
func wholeSecond(t time.Time) time.Time {
	if whole := t.UTC().Truncate(time.Second); whole.Before(t) {
		return whole.Add(time.Second)
	}
	return t.UTC()
}

// storedVersions answers every version of name the backend keeps, newest
// first: all of them on a bucket with Object Lock, else the current one
// alone (none if it is missing).
func storedVersions(ctx context.Context, b Backend, name string) ([]objectVersion, error) {
	if bb, ok := b.(*BucketBackend); ok && bb.lock != nil {
		return bb.lock.versions(ctx, name)
	}
	data, err := b.Get(ctx, name)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []objectVersion{{body: data}}, nil
}

// retainVersion holds one version of name until at least until: by its
// id on a versioned bucket, else the object itself.
func retainVersion(ctx context.Context, l Locker, b Backend, name string, ver objectVersion, until time.Time) error {
	if bb, ok := b.(*BucketBackend); ok && bb.lock != nil && ver.id != "" {
		return bb.lock.retainVersion(ctx, name, ver.id, until)
	}
	return l.Retain(ctx, name, until)
}

func (l *s3Lock) remember(name string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.known[name]) {
		l.known[name] = until
	}
}

// Locks reports whether the bucket has S3 Object Lock enabled.
func (b *BucketBackend) Locks() bool { return b.lock != nil }

// Retain sets compliance-mode retention on an object of a bucket with
// Object Lock; ErrNoObjectLock elsewhere.
func (b *BucketBackend) Retain(ctx context.Context, name string, until time.Time) error {
	if b.lock == nil {
		return ErrNoObjectLock
	}
	return b.lock.retain(ctx, name, until)
}

// locker is the vault's backend when its storage enforces retention.
func (v *Vault) locker() Locker {
	if l, ok := v.b.(Locker); ok && l.Locks() {
		return l
	}
	return nil
}

// Retain makes the storage keep everything a committed blob needs until
// at least until: every pack holding one of its chunks with that pack's
// index, then the manifest. A pack shared with other points (dedup)
// keeps the latest date any of them asked for. Without an object lock it
// does nothing: sqlvault's own guards are all there is (docs/security.md).
func (v *Vault) Retain(ctx context.Context, blob string, until time.Time) error {
	l := v.locker()
	if l == nil {
		return nil
	}
	if err := v.retain(ctx, l, blob, until); err != nil {
		return err
	}
	v.held.note(blob, until)
	return nil
}

func (v *Vault) retain(ctx context.Context, l Locker, blob string, until time.Time) error {
	m, err := v.restorableManifest(ctx, blob) // a hidden manifest's point is held on too
	if err != nil {
		return err
	}
	packs := map[string]bool{}
	v.mu.Lock()
	for _, c := range m.Chunks {
		if loc, ok := v.index[c.ID]; ok {
			packs[loc.Pack] = true
		}
	}
	v.mu.Unlock()
	names := make([]string, 0, 2*len(packs)+1)
	for p := range packs {
		names = append(names, p, "index/"+strings.TrimPrefix(p, "packs/"))
	}
	sort.Strings(names)
	if err := retainAll(ctx, l, names, until); err != nil {
		return fmt.Errorf("retain %s: %w", blob, err)
	}
	if err := l.Retain(ctx, manifestName(blob), until); err != nil {
		return fmt.Errorf("retain %s: %w", blob, err)
	}
	if until.Unix() > v.ownUntil.Load() { // the key must outlive every pack it opens
		return v.retainOwn(ctx, l, until)
	}
	return nil
}

// vaultObjectsHold is how far ahead of now each maintenance pass holds
// the vault's own objects: the longest soft delete period and a month, so
// they outlast a server that stays down for weeks as well as any point.
const vaultObjectsHold = (MaxSoftDeleteDays + 30) * 24 * time.Hour

// RetainVault holds the vault's own objects until now plus
// vaultObjectsHold (or the latest date a point asked for, if later): the
// config (the wrapped key every chunk needs) and the settings (the
// immutability state, a locked flag included). Without them the data
// would be unreadable or the vault seen as unlocked. Every version of
// them sqlvault wrote is held, so a settings change stays possible (a new
// version) while the one before it cannot be removed either. Without an
// object lock it does nothing.
func (v *Vault) RetainVault(ctx context.Context, now time.Time) error {
	l := v.locker()
	if l == nil {
		return nil
	}
	until := now.Add(vaultObjectsHold)
	if own := time.Unix(v.ownUntil.Load(), 0); own.After(until) {
		until = own
	}
	return v.retainOwn(ctx, l, until)
}

// retainOwn holds every version of config, settings and deleted/since
// (which dates the delete marks, marks.go) sqlvault wrote: a version
// someone else put there (it is not the config Open used, or not sealed
// with the vault key) is left to expire.
func (v *Vault) retainOwn(ctx context.Context, l Locker, until time.Time) error {
	for _, name := range []string{configName, settingsName, marksSinceName} {
		vs, err := storedVersions(ctx, v.b, name)
		if err != nil {
			return fmt.Errorf("retain the vault's %s: %w", name, err)
		}
		for _, ver := range vs {
			if !v.ownVersion(name, ver.body) {
				continue
			}
			if err := retainVersion(ctx, l, v.b, name, ver, until); err != nil {
				return fmt.Errorf("retain the vault's %s: %w", name, err)
			}
		}
	}
	for {
		cur := v.ownUntil.Load()
		if until.Unix() <= cur || v.ownUntil.CompareAndSwap(cur, until.Unix()) {
			return nil
		}
	}
}

// ownVersion reports whether sqlvault wrote this version of name.
func (v *Vault) ownVersion(name string, body []byte) bool {
	if name == configName {
		return bytes.Equal(body, v.config)
	}
	_, err := open(v.k.aead, body)
	return err == nil
}

// retainAll retains names with a few requests in flight: a point of many
// packs should not cost one round trip after another.
func retainAll(ctx context.Context, l Locker, names []string, until time.Time) error {
	const inFlight = 8
	sem := make(chan struct{}, inFlight)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = l.Retain(ctx, n, until)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// heldDates remembers the date each blob was retained until, so a
// maintenance pass asks the storage only about points whose date moved.
type heldDates struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (h *heldDates) covers(blob string, until time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.m[blob].Before(until)
}

func (h *heldDates) note(blob string, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]time.Time{}
	}
	if until.After(h.m[blob]) {
		h.m[blob] = until
	}
}
