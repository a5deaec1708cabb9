package vault

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// markOver puts a delete marker over key, as anyone with the bucket's
// delete permission can on a bucket with Object Lock.
func (sw *seaweed) markOver(t *testing.T, bucket, key string) {
	t.Helper()
	if _, err := sw.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatalf("delete marker over %s: %v", key, err)
	}
}

// reopen opens the vault in b afresh, as a restarted server does.
func reopen(t *testing.T, b Backend) *Vault {
	t.Helper()
	v, err := Open(context.Background(), b, pass, Options{PackSize: 64 << 10})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// packsOf answers the packs a point's chunks sit in, sorted.
func packsOf(v *Vault, m Manifest) []string {
	var out []string
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range m.Chunks {
		if p := v.index[c.ID].Pack; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func indexOf(pack string) string { return "index/" + strings.TrimPrefix(pack, "packs/") }

func blobsOf(t *testing.T, v *Vault) []string {
	t.Helper()
	ms, err := v.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Blob)
	}
	slices.Sort(out)
	return out
}

// hiddenBeforeOpenOnS3: while no server has the vault open, someone with
// the bucket's delete permission puts delete markers over the manifest of
// a retained point and over the index of one of its packs. A server
// opened afterwards still lists the point and restores its bytes (the
// index and manifest read from their retained versions), and reports
// both objects hidden: HiddenObjects, TakeHidden (the coordinator's
// alert) and Verify (sqlvault vault verify).
func hiddenBeforeOpenOnS3(t *testing.T, sw *seaweed) {
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, sw.bucket(t, "closed", true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{PackSize: 64 << 10})
	data := pages(93, 1<<20)
	m := upload(t, v, "SQL01/Sales/full.bak", data, 256<<10)
	if err := v.Retain(ctx, m.Blob, time.Now().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	packs := packsOf(v, m)
	v.Close()

	want := []string{indexOf(packs[len(packs)/2]), manifestName(m.Blob)}
	slices.Sort(want)
	for _, key := range want {
		sw.markOver(t, "closed", key)
	}

	r := reopen(t, b)
	if got := blobsOf(t, r); !slices.Equal(got, []string{m.Blob}) {
		t.Fatalf("blobs listed after delete markers over its manifest and an index = %v, want %s", got, m.Blob)
	}
	if got := readAll(t, r, m.Blob); !bytes.Equal(got, data) {
		t.Fatalf("restore read %d bytes that differ from the %d backed up", len(got), len(data))
	}
	if got := r.HiddenObjects(); !slices.Equal(got, want) {
		t.Fatalf("HiddenObjects = %v, want %v", got, want)
	}
	if got := r.TakeHidden(); !slices.Equal(got, want) {
		t.Fatalf("TakeHidden (the alert) = %v, want %v", got, want)
	}
	rep, err := r.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Tampered() || !slices.Equal(rep.HiddenObjects, want) || len(rep.AffectedBlobs) != 0 {
		t.Fatalf("verify: %+v, want nothing damaged or missing and hidden %v", rep, want)
	}
}

// gcMarksOnS3: on a bucket with Object Lock, sqlvault's own deletes (a
// point deleted, GC dropping its packs and indexes) are delete markers
// too, and a server opened afterwards reports none of them and lists
// nothing they removed, even with someone's second marker over one of
// them. A marker someone puts over the index and manifest of the point
// that stays is still found and recovered. Then sqlvault deleting that
// recovered point itself, and collecting it, leaves nothing reported at
// the next open either.
func gcMarksOnS3(t *testing.T, sw *seaweed) {
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, sw.bucket(t, "gcmarks", true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{PackSize: 64 << 10})
	gone := upload(t, v, "SQL01/Sales/old.bak", pages(94, 512<<10), 256<<10)
	keptData := pages(95, 512<<10)
	kept := upload(t, v, "SQL01/Sales/new.bak", keptData, 256<<10)
	for _, m := range []Manifest{gone, kept} {
		if err := v.Retain(ctx, m.Blob, time.Now().Add(30*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	gonePacks, keptPacks := packsOf(v, gone), packsOf(v, kept)
	if err := v.DeleteBlob(ctx, gone.Blob); err != nil {
		t.Fatal(err)
	}
	rep, err := v.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeleted != len(gonePacks) {
		t.Fatalf("GC deleted %d packs, want the %d of the deleted point: %+v", rep.PacksDeleted, len(gonePacks), rep)
	}
	if _, err := b.Get(ctx, indexOf(gonePacks[0])); err == nil {
		t.Fatal("an index GC deleted is still readable")
	}
	// Each delete was marked first (the deleted point's indexes and its
	// manifest), and each mark (and deleted/since, which dates them) is
	// held in compliance mode past 210 days.
	vs, err := sw.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("gcmarks"), Prefix: aws.String(marksPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	marks := slices.DeleteFunc(slices.Clone(vs.Versions), func(ov types.ObjectVersion) bool { return aws.ToString(ov.Key) == marksSinceName })
	if len(marks) != len(gonePacks)+1 || len(vs.Versions) != len(marks)+1 {
		t.Fatalf("delete marks after GC: %d, want %d, and deleted/since", len(marks), len(gonePacks)+1)
	}
	for _, ov := range vs.Versions {
		out, err := sw.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("gcmarks"), Key: ov.Key, VersionId: ov.VersionId})
		if err != nil || out.Retention == nil || out.Retention.Mode != "COMPLIANCE" || out.Retention.RetainUntilDate.Before(time.Now().Add(vaultObjectsHold-time.Hour)) {
			t.Fatalf("retention of the delete mark %s: %+v %v", aws.ToString(ov.Key), out, err)
		}
		if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("gcmarks"), Key: ov.Key, VersionId: ov.VersionId}); err == nil {
			t.Fatalf("the storage removed the delete mark %s", aws.ToString(ov.Key))
		}
	}
	v.Close()

	clean := func(r *Vault) {
		t.Helper()
		if got := r.HiddenObjects(); len(got) != 0 {
			t.Fatalf("after sqlvault's own deletes, HiddenObjects = %v, want none", got)
		}
		if rep, err := r.Verify(ctx); err != nil || !rep.OK() || rep.Tampered() {
			t.Fatalf("verify after sqlvault's own deletes: %+v %v", rep, err)
		}
	}
	r := reopen(t, b)
	clean(r)
	if got := blobsOf(t, r); !slices.Equal(got, []string{kept.Blob}) {
		t.Fatalf("blobs after GC = %v, want %s alone", got, kept.Blob)
	}
	r.Close()

	// A second marker over a key sqlvault deleted changes nothing; markers
	// over the live point's manifest and an index are someone's.
	sw.markOver(t, "gcmarks", indexOf(gonePacks[0]))
	want := []string{indexOf(keptPacks[0]), manifestName(kept.Blob)}
	slices.Sort(want)
	for _, key := range want {
		sw.markOver(t, "gcmarks", key)
	}
	r = reopen(t, b)
	if got := r.HiddenObjects(); !slices.Equal(got, want) {
		t.Fatalf("HiddenObjects = %v, want %v (someone's markers only, not sqlvault's)", got, want)
	}
	if got := blobsOf(t, r); !slices.Equal(got, []string{kept.Blob}) {
		t.Fatalf("blobs = %v, want %s alone", got, kept.Blob)
	}
	if got := readAll(t, r, kept.Blob); !bytes.Equal(got, keptData) {
		t.Fatal("the point under markers does not restore its bytes")
	}

	// sqlvault deletes the recovered point and collects it: its own
	// markers go over someone's, and are its own again at the next open.
	if err := r.DeleteBlob(ctx, kept.Blob); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.GC(ctx); err != nil || rep.PacksDeleted != len(keptPacks) {
		t.Fatalf("GC of the recovered point: %+v %v, want its %d packs deleted", rep, err, len(keptPacks))
	}
	r.Close()
	r = reopen(t, b)
	clean(r)
	if got := blobsOf(t, r); len(got) != 0 {
		t.Fatalf("blobs after every point was deleted = %v", got)
	}
}

// unlocked hides the bucket's lock from a vault: an earlier sqlvault's
// view, which deleted without marks.
type unlocked struct{ Backend }

// marksUpgradeOnS3: a vault on a locked bucket whose GC ran before there
// were delete marks (here: through a backend that hides the lock) has
// markers of sqlvault's with no mark over the deleted point's objects.
// The first open that looks dates the marks from then on, so those
// markers raise nothing and bring nothing back; a marker someone places
// afterwards is found.
func marksUpgradeOnS3(t *testing.T, sw *seaweed) {
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, sw.bucket(t, "upgrade", true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	old := newVault(t, unlocked{b}, Options{PackSize: 64 << 10})
	gone := upload(t, old, "SQL01/Sales/old.bak", pages(96, 256<<10), 256<<10)
	kept := upload(t, old, "SQL01/Sales/new.bak", pages(97, 256<<10), 256<<10)
	if err := old.DeleteBlob(ctx, gone.Blob); err != nil {
		t.Fatal(err)
	}
	if rep, err := old.GC(ctx); err != nil || rep.PacksDeleted == 0 {
		t.Fatalf("GC before marks: %+v %v", rep, err)
	}
	old.Close()
	// The storage dates objects to the second, and a marker of the same
	// second as deleted/since counts as after it; an upgrade is a restart.
	time.Sleep(1100 * time.Millisecond)

	r := reopen(t, b)
	if got := r.HiddenObjects(); len(got) != 0 {
		t.Fatalf("after an earlier sqlvault's deletes, HiddenObjects = %v, want none", got)
	}
	if got := blobsOf(t, r); !slices.Equal(got, []string{kept.Blob}) {
		t.Fatalf("blobs = %v, want %s alone", got, kept.Blob)
	}
	r.Close()

	sw.markOver(t, "upgrade", manifestName(kept.Blob))
	r = reopen(t, b)
	if got := r.HiddenObjects(); !slices.Equal(got, []string{manifestName(kept.Blob)}) {
		t.Fatalf("HiddenObjects after a marker over the manifest = %v, want it", got)
	}
	if got := blobsOf(t, r); !slices.Equal(got, []string{kept.Blob}) {
		t.Fatalf("blobs = %v, want %s alone", got, kept.Blob)
	}
}
