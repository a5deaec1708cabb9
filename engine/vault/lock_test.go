package vault

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// lockingDir is a directory backend that keeps retention dates as S3
// Object Lock does: set per object, never shortened.
type lockingDir struct {
	*DirBackend
	mu    sync.Mutex
	until map[string]time.Time
}

func (l *lockingDir) Locks() bool { return true }

func (l *lockingDir) Retain(_ context.Context, name string, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.until[name]) {
		l.until[name] = until
	}
	return nil
}

func (l *lockingDir) held(name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until[name]
}

// TestRetainCoversEveryPackAPointUses: retaining a point holds its
// manifest, every pack its chunks live in and those packs' indexes until
// its expiry; a pack shared with a later point (dedup) is held until the
// later point's expiry, and retaining the first point again never
// shortens it. GC keeps partly dead packs whole under a lock.
func TestRetainCoversEveryPackAPointUses(t *testing.T) {
	ctx := context.Background()
	dir, _ := NewDirBackend(t.TempDir())
	b := &lockingDir{DirBackend: dir, until: map[string]time.Time{}}
	v := newVault(t, b, Options{PackSize: 256 << 10})
	base := pages(70, 2<<20)
	first := upload(t, v, "SQL01/Sales/full1.bak", base, 1<<20)
	second := upload(t, v, "SQL01/Sales/full2.bak", append(bytes.Clone(base), pages(71, 1<<20)...), 1<<20)

	t1 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.AddDate(0, 6, 0)
	if err := v.Retain(ctx, first.Blob, t1); err != nil {
		t.Fatal(err)
	}
	if err := v.Retain(ctx, second.Blob, t2); err != nil {
		t.Fatal(err)
	}
	if err := v.Retain(ctx, first.Blob, t1); err != nil { // again, as after a restart
		t.Fatal(err)
	}
	packsOf := func(m Manifest) map[string]bool {
		out := map[string]bool{}
		for _, c := range m.Chunks {
			out[v.index[c.ID].Pack] = true
		}
		return out
	}
	p1, p2 := packsOf(first), packsOf(second)
	if len(p1) < 2 {
		t.Fatalf("the first point lives in %d packs; the test needs several", len(p1))
	}
	for p := range p2 {
		idx := "index/" + strings.TrimPrefix(p, "packs/")
		if !b.held(p).Equal(t2) || !b.held(idx).Equal(t2) {
			t.Fatalf("%s (shared: %v) held until %v, its index until %v; want the later point's %v", p, p1[p], b.held(p), b.held(idx), t2)
		}
	}
	for p := range p1 {
		if !p2[p] && !b.held(p).Equal(t1) {
			t.Fatalf("%s held until %v, want %v", p, b.held(p), t1)
		}
	}
	if !b.held(manifestName(first.Blob)).Equal(t1) || !b.held(manifestName(second.Blob)).Equal(t2) {
		t.Fatal("manifests are not held until their points' expiry")
	}
	if !b.held(configName).Equal(t2) {
		t.Fatalf("the config (the wrapped key) is held until %v, want the latest point's %v", b.held(configName), t2)
	}

	// Deleting the second point leaves its own chunks dead in packs that
	// also hold live ones of the first: GC must not move those.
	if err := v.DeleteBlob(ctx, second.Blob); err != nil {
		t.Fatal(err)
	}
	rep, err := v.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRepacked != 0 {
		t.Fatalf("GC repacked %d packs under an object lock", rep.PacksRepacked)
	}
	for p := range p1 {
		if _, err := b.Get(ctx, p); err != nil {
			t.Fatalf("pack %s of the kept point is gone: %v", p, err)
		}
	}
	if !bytes.Equal(readAll(t, v, first.Blob), base) {
		t.Fatal("the kept point reads back wrong")
	}
}

// TestRetainWithoutLockDoesNothing: on storage without an object lock
// Retain writes nothing and says the storage does not enforce it.
func TestRetainWithoutLockDoesNothing(t *testing.T) {
	b := mustDir(t)
	v := newVault(t, b, Options{})
	m := upload(t, v, "a.bak", pages(72, 300<<10), 1<<20)
	if err := v.Retain(context.Background(), m.Blob, time.Now().AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, worm := v.Storage(); worm {
		t.Fatal("a directory vault claims its storage enforces write-once")
	}
}

// TestMaintenanceRetainsVaultObjects: a maintenance pass (GC) holds the
// config and the settings until the longest soft delete period and a
// month from now; a settings change is still possible and its new
// version is held at once.
func TestMaintenanceRetainsVaultObjects(t *testing.T) {
	ctx := context.Background()
	dir, _ := NewDirBackend(t.TempDir())
	b := &lockingDir{DirBackend: dir, until: map[string]time.Time{}}
	v := newVault(t, b, Options{})
	floor := time.Now().Add(vaultObjectsHold) // taken before: the vault's clock reads later
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{configName, settingsName} {
		if b.held(name).Before(floor) {
			t.Fatalf("after a settings save %s is held until %v, want at least %v", name, b.held(name), floor)
		}
	}
	b.mu.Lock()
	clear(b.until)
	b.mu.Unlock()
	if _, err := v.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{configName, settingsName} {
		if b.held(name).Before(floor) {
			t.Fatalf("after a maintenance pass %s is held until %v, want at least %v", name, b.held(name), floor)
		}
	}
}

// TestVaultObjectsSurviveABucketDeleterOnSeaweedFS: on a bucket with
// Object Lock every version of config and settings sqlvault wrote is
// held in compliance mode past the longest soft delete period; someone
// with the bucket's credentials can neither delete those versions nor,
// with a delete marker, an older settings version put back on top, or a
// forged one, make a reopened vault (a new catalog) start afresh or see
// its locked immutability as anything but locked. A settings change
// stays possible (a new version).
func TestVaultObjectsSurviveABucketDeleterOnSeaweedFS(t *testing.T) {
	sw := startSeaweed(t)
	url := sw.bucket(t, "owned", true)
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{})
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityEnabled, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GC(ctx); err != nil {
		t.Fatal(err)
	}
	bucket := aws.String("owned")
	versions := func(key string) []types.ObjectVersion {
		out, err := sw.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: bucket, Prefix: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Versions
	}
	floor := time.Now().Add(vaultObjectsHold - time.Hour)
	var enabledBody []byte
	for _, key := range []string{configName, settingsName} {
		vs := versions(key)
		if want := map[string]int{configName: 1, settingsName: 2}[key]; len(vs) != want {
			t.Fatalf("%s has %d versions, want %d", key, len(vs), want)
		}
		for _, ov := range vs {
			r, err := sw.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: bucket, Key: ov.Key, VersionId: ov.VersionId})
			if err != nil || r.Retention == nil || r.Retention.Mode != types.ObjectLockRetentionModeCompliance || r.Retention.RetainUntilDate.Before(floor) {
				t.Fatalf("%s version %s: retention %+v (%v), want COMPLIANCE until at least %v", key, aws.ToString(ov.VersionId), r, err, floor)
			}
			if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: ov.Key, VersionId: ov.VersionId}); err == nil {
				t.Fatalf("the storage deleted retained version %s of %s", aws.ToString(ov.VersionId), key)
			}
			if key == settingsName && !aws.ToBool(ov.IsLatest) {
				got, err := sw.client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: ov.Key, VersionId: ov.VersionId})
				if err != nil {
					t.Fatal(err)
				}
				enabledBody, _ = io.ReadAll(got.Body)
				got.Body.Close()
			}
		}
	}

	// The attacker hides config and settings behind delete markers, then
	// puts the older, weaker settings back on top, and a forged one.
	for _, key := range []string{configName, settingsName} {
		if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)}); err != nil {
			t.Fatalf("delete marker over %s: %v", key, err)
		}
	}
	if exists, err := Exists(ctx, b); err != nil || !exists {
		t.Fatalf("Exists after a delete marker over config = %v, %v; a new vault would be made over the old one", exists, err)
	}
	for _, body := range [][]byte{enabledBody, []byte("forged settings")} {
		if _, err := sw.client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(settingsName), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatalf("reopening after the attack: %v", err)
	}
	defer again.Close()
	if s := again.Settings(); s.Immutability != ImmutabilityLocked || s.SoftDeleteDays != 30 {
		t.Fatalf("reopened settings after the attack = %+v, want locked, 30 days", s)
	}
	if err := again.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 60}); err != nil {
		t.Fatalf("a settings change under the lock: %v", err)
	}
	third, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if s := third.Settings(); s.Immutability != ImmutabilityLocked || s.SoftDeleteDays != 60 {
		t.Fatalf("settings after a change under the lock = %+v, want locked, 60 days", s)
	}
}

// TestRetentionExtendedNeverShortenedOnSeaweedFS: a point whose expiry
// moved later gets its manifest, packs, indexes and the config held
// until the new date by ExtendRetention; an earlier date afterwards
// leaves the storage's date as it is; a blob gone from the vault is
// passed over.
func TestRetentionExtendedNeverShortenedOnSeaweedFS(t *testing.T) {
	sw := startSeaweed(t)
	url := sw.bucket(t, "extend", true)
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{PackSize: 256 << 10})
	m := upload(t, v, "SQL01/Sales/full.bak", pages(84, 1<<20), 1<<20)
	t1 := time.Now().UTC().Add(20 * 24 * time.Hour).Truncate(time.Second)
	t2 := t1.Add(400 * 24 * time.Hour) // past the vault's own hold, so the config follows it
	if err := v.Retain(ctx, m.Blob, t1); err != nil {
		t.Fatal(err)
	}
	held := func(key string) time.Time {
		out, err := sw.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("extend"), Key: aws.String(key)})
		if err != nil || out.Retention == nil || out.Retention.RetainUntilDate == nil || out.Retention.Mode != types.ObjectLockRetentionModeCompliance {
			t.Fatalf("retention of %s: %+v, %v", key, out, err)
		}
		return out.Retention.RetainUntilDate.UTC()
	}
	pack := v.index[m.Chunks[0].ID].Pack
	keys := []string{manifestName(m.Blob), pack, "index/" + strings.TrimPrefix(pack, "packs/"), configName}
	n, err := v.ExtendRetention(ctx, map[string]time.Time{m.Blob: t2, "SQL01/Sales/gone.bak": t2})
	if err != nil || n != 1 {
		t.Fatalf("ExtendRetention = %d, %v; want 1 blob extended", n, err)
	}
	for _, k := range keys {
		if got := held(k); !got.Equal(t2) {
			t.Fatalf("%s held until %v after the extension, want %v", k, got, t2)
		}
	}
	if n, err := v.ExtendRetention(ctx, map[string]time.Time{m.Blob: t1}); err != nil || n != 0 {
		t.Fatalf("ExtendRetention to an earlier date = %d, %v; want nothing done", n, err)
	}
	// A new process (no remembered dates) asks the storage again, and the
	// storage still holds the later date.
	again, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.ExtendRetention(ctx, map[string]time.Time{m.Blob: t1}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got := held(k); !got.Equal(t2) {
			t.Fatalf("%s held until %v after an earlier date was asked, want %v kept", k, got, t2)
		}
	}
}
