package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/zeebo/blake3"
)

// Delete marks: telling sqlvault's own delete markers from an attacker's.
//
// On a bucket with Object Lock every delete is a delete marker, whoever
// makes it, and nothing S3 stores about a marker says who placed it. An
// index or a manifest under a marker is missing from ListObjectsV2, so
// unless Open looks for it, its pack's chunks read as missing and its
// point is not listed. So, before sqlvault deletes an index or a manifest
// there, it writes a mark: an object under deleted/ whose name is a MAC,
// under a key derived from the vault's master key, of the object's name
// and of the version the delete hides. The mark is retained in compliance
// mode for at least as long as that version, so it can be neither forged
// (the name needs the key), nor removed (the lock), nor hidden (a marker
// over a mark leaves its version in ListObjectVersions, which is what Open
// reads). At Open, a key under index/ or manifests/ whose latest entry is
// a delete marker is sqlvault's own delete when a mark names it and its
// newest version; otherwise it is read from its newest version that
// authenticates (unless a mark names that one: sqlvault deleted it and
// someone put a version and a marker of their own on top), loaded like
// any other, and reported hidden (HiddenObjects, TakeHidden's alert,
// Verify). Packs need no mark: Open reads one only when an index names it.
//
// A vault whose GC ran before there were marks has markers of sqlvault's
// with no mark. So the first Open that looks writes deleted/since (sealed,
// retained and moved forward with config and settings): a marker the
// storage dates before its first version predates marks and is passed
// over, as every marker was before.

// marksPrefix holds the delete marks.
const marksPrefix = "deleted/"

// marksSinceName is the object whose first version dates the marks.
const marksSinceName = marksPrefix + "since"

// markName is the mark of version id of name.
func (v *Vault) markName(name, id string) string {
	v.markOnce.Do(func() {
		v.markKey = make([]byte, 32)
		blake3.DeriveKey("sqlvault 2026 delete mark", v.k.idKey, v.markKey)
	})
	h, _ := blake3.NewKeyed(v.markKey)
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return marksPrefix + hex.EncodeToString(h.Sum(nil)[:24])
}

// deleteMark is a mark's body, sealed: for a person reading the bucket.
type deleteMark struct {
	Object  string    `json:"object"`
	Version string    `json:"version"`
	Deleted time.Time `json:"deleted"`
}

// objectLock is the vault's bucket lock, nil on storage without one.
func (v *Vault) objectLock() *s3Lock {
	if bb, ok := v.b.(*BucketBackend); ok {
		return bb.lock
	}
	return nil
}

// markDeleted writes the marks of name's versions that a delete is about
// to hide: its current version, or, when a marker hides it already,
// every version under that marker. It does nothing without a lock. A
// caller deletes name only once this succeeded, so no delete of sqlvault's
// goes unmarked; a crash between the two leaves a mark over an object
// sqlvault had decided to delete, which only makes a later marker over it
// count as sqlvault's.
func (v *Vault) markDeleted(ctx context.Context, name string) error {
	l := v.objectLock()
	if l == nil {
		return nil
	}
	ids, err := l.deletable(ctx, name)
	if err != nil {
		return fmt.Errorf("mark the delete of %s: %w", name, err)
	}
	floor := time.Now().Add(vaultObjectsHold)
	for _, ver := range ids {
		until := ver.until
		if until.Before(floor) {
			until = floor
		}
		body, _ := json.Marshal(deleteMark{Object: name, Version: ver.id, Deleted: time.Now().UTC()})
		if err := l.putRetained(ctx, v.markName(name, ver.id), seal(v.k.aead, body), until); err != nil {
			return fmt.Errorf("mark the delete of %s: %w", name, err)
		}
	}
	return nil
}

// heldVersion is a version id and the date its retention holds it until
// (zero when it has none).
type heldVersion struct {
	id    string
	until time.Time
}

// deletable answers the versions of name a delete now hides: the current
// one (HEAD), or all those under the marker that hides it already.
func (l *s3Lock) deletable(ctx context.Context, name string) ([]heldVersion, error) {
	key := l.prefix + name
	head, err := l.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key)})
	var ids []string
	if err == nil {
		if head.VersionId == nil {
			return nil, fmt.Errorf("%s has no version id on a bucket with Object Lock", key)
		}
		ids = []string{*head.VersionId}
		if head.ObjectLockRetainUntilDate != nil {
			return []heldVersion{{id: ids[0], until: *head.ObjectLockRetainUntilDate}}, nil
		}
	} else if ids, err = l.hiddenVersions(ctx, name); err != nil {
		return nil, err
	}
	out := make([]heldVersion, 0, len(ids))
	for _, id := range ids {
		ver := heldVersion{id: id}
		got, err := l.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(l.bucket), Key: aws.String(key), VersionId: aws.String(id)})
		if err == nil && got.Retention != nil && got.Retention.RetainUntilDate != nil {
			ver.until = *got.Retention.RetainUntilDate
		}
		out = append(out, ver)
	}
	return out, nil
}

// putRetained writes name with a compliance retention until until, in
// one request: the version written is the one held.
func (l *s3Lock) putRetained(ctx context.Context, name string, data []byte, until time.Time) error {
	_, err := l.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.prefix + name),
		Body: strings.NewReader(string(data)), ContentLength: aws.Int64(int64(len(data))),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(wholeSecond(until))})
	if err != nil {
		return fmt.Errorf("write %s retained until %s: %w", name, wholeSecond(until).Format(time.RFC3339), err)
	}
	return nil
}

// keyHistory is what ListObjectVersions says of one key.
type keyHistory struct {
	versions []string    // ids of the stored versions, newest first (delete markers apart)
	modified []time.Time // when the storage wrote each of them
	marked   bool        // a delete marker is the key's latest entry
	markedAt time.Time   // when the storage placed that marker
}

// histories lists every key under prefix with its versions, names
// without the URL's prefix parameter.
func (l *s3Lock) histories(ctx context.Context, prefix string) (map[string]*keyHistory, error) {
	out := map[string]*keyHistory{}
	at := func(key string) *keyHistory {
		name := strings.TrimPrefix(key, l.prefix)
		if out[name] == nil {
			out[name] = &keyHistory{}
		}
		return out[name]
	}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(l.bucket), Prefix: aws.String(l.prefix + prefix)}
	for {
		page, err := l.client.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions under %s: %w", l.prefix+prefix, err)
		}
		for _, dm := range page.DeleteMarkers {
			if aws.ToBool(dm.IsLatest) {
				h := at(aws.ToString(dm.Key))
				h.marked, h.markedAt = true, aws.ToTime(dm.LastModified)
			}
		}
		for _, ov := range page.Versions { // S3 lists a key's versions newest first
			h := at(aws.ToString(ov.Key))
			h.versions = append(h.versions, aws.ToString(ov.VersionId))
			h.modified = append(h.modified, aws.ToTime(ov.LastModified))
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// recoveredSet is the indexes and manifests Open read from under a
// marker it did not place: name -> the version read.
type recoveredSet struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *recoveredSet) add(name, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]string{}
	}
	r.m[name] = id
}

func (r *recoveredSet) version(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[name]
}

func (r *recoveredSet) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, name)
}

// under answers the recovered names under prefix.
func (r *recoveredSet) under(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.m {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// listWithRecovered is the backend's listing under prefix with the
// objects Open recovered from under a marker, sorted.
func (v *Vault) listWithRecovered(ctx context.Context, prefix string) ([]string, error) {
	names, err := v.b.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	extra := v.recovered.under(prefix)
	if len(extra) == 0 {
		return names, nil
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range extra {
		if !seen[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// getRecovered is Get for an object Open recovered: a plain GET first
// (someone may have removed the marker since), then the version read.
func (v *Vault) getRecovered(ctx context.Context, name string) ([]byte, error) {
	data, err := v.b.Get(ctx, name)
	if !errors.Is(err, ErrNotExist) {
		return data, err
	}
	id, l := v.recovered.version(name), v.objectLock()
	if id == "" || l == nil {
		return nil, err
	}
	return l.readVersion(ctx, name, id, 0, -1)
}

// recoverHidden is Open's search, on a bucket with Object Lock, for the
// indexes and manifests someone else hid with a delete marker (the
// comment at the top of this file): each is loaded from its newest
// version that authenticates and reported hidden.
func (v *Vault) recoverHidden(ctx context.Context) error {
	l := v.objectLock()
	if l == nil {
		return nil
	}
	marks, err := l.histories(ctx, marksPrefix)
	if err != nil {
		return err
	}
	ours := func(name, id string) bool {
		h := marks[v.markName(name, id)]
		return h != nil && len(h.versions) > 0
	}
	since, err := v.marksSince(ctx, l, marks[marksSinceName])
	if err != nil || since.IsZero() { // just written: every marker there is predates marks
		return err
	}
	for name, h := range marks { // sqlvault never deletes a mark: a marker over one is someone else's
		if h.marked && len(h.versions) > 0 {
			v.hidden.note(name)
			v.log.Warn("a delete mark of sqlvault's is hidden by a delete marker; someone with the bucket's delete permission placed it", "object", name)
		}
	}
	for _, prefix := range []string{"index/", "manifests/"} {
		hs, err := l.histories(ctx, prefix)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(hs))
		for name, h := range hs {
			if h.marked && len(h.versions) > 0 && !h.markedAt.Before(since) && !ours(name, h.versions[0]) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			if err := v.recoverOne(ctx, l, name, hs[name].versions, ours); err != nil {
				return err
			}
		}
	}
	return nil
}

// marksSince answers when the storage wrote the first version of
// deleted/since that authenticates; when there is none it writes one and
// answers zero.
func (v *Vault) marksSince(ctx context.Context, l *s3Lock, h *keyHistory) (time.Time, error) {
	if h != nil {
		for i := len(h.versions) - 1; i >= 0; i-- { // oldest first
			data, err := l.readVersion(ctx, marksSinceName, h.versions[i], 0, -1)
			if err != nil {
				return time.Time{}, err
			}
			if _, err := open(v.k.aead, data); err == nil {
				return h.modified[i], nil
			}
		}
	}
	body, _ := json.Marshal(struct {
		Since time.Time `json:"since"`
	}{time.Now().UTC()})
	if err := l.putRetained(ctx, marksSinceName, seal(v.k.aead, body), time.Now().Add(vaultObjectsHold)); err != nil {
		return time.Time{}, fmt.Errorf("date the vault's delete marks: %w", err)
	}
	return time.Time{}, nil
}

// recoverOne loads the newest version of a hidden index or manifest that
// authenticates, unless sqlvault deleted that version itself.
func (v *Vault) recoverOne(ctx context.Context, l *s3Lock, name string, ids []string, ours func(name, id string) bool) error {
	var errs []error
	for _, id := range ids {
		data, err := l.readVersion(ctx, name, id, 0, -1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := open(v.k.aead, data); err != nil {
			continue // not sealed with the vault key: not sqlvault's
		}
		if ours(name, id) { // deleted by sqlvault, with someone's version and marker on top
			v.hidden.note(name)
			v.log.Warn("a deleted vault object has a version and a delete marker of someone else's over sqlvault's own delete", "object", name)
			return nil
		}
		if strings.HasPrefix(name, "index/") {
			if err := v.addIndex(name, data); err != nil {
				return err
			}
		}
		v.recovered.add(name, id)
		v.hidden.note(name)
		v.log.Warn("vault object hidden by a delete marker sqlvault did not place: loaded from its retained version; someone with the bucket's delete permission tried to remove it",
			"object", name, "version", id)
		return nil
	}
	if len(errs) > 0 { // maybe the genuine one: Open fails rather than lose it
		return fmt.Errorf("%s is hidden by a delete marker and its versions could not be read: %w", name, errors.Join(errs...))
	}
	// Someone else's objects, under a marker of their own: nothing lost.
	v.log.Warn("an object of someone else's under the vault's prefix is hidden by a delete marker", "object", name, slog.Int("versions", len(ids)))
	return nil
}
