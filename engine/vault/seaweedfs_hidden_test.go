package vault

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// hiddenOnS3: in a locked vault on a bucket with Object Lock, someone with
// the bucket's delete permission puts a delete marker over every pack and
// the manifest of a retained point (and, over one pack, first a forged
// version of their own). A server opened afresh still restores the
// point's bytes from the retained versions, names every hidden object, and
// Verify reports them (the packs and the manifest) as tampering with
// nothing damaged; a retention pass still extends the hidden versions'
// dates.
func hiddenOnS3(t *testing.T, sw *seaweed) {
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, sw.bucket(t, "hidden", true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{PackSize: 64 << 10}) // a megabyte of pages compresses to some 250 KiB: several packs
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 14}); err != nil {
		t.Fatal(err)
	}
	data := pages(91, 1<<20)
	m := upload(t, v, "SQL01/Sales/full.bak", data, 256<<10)
	if err := v.Retain(ctx, m.Blob, time.Now().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var packs []string
	for _, c := range m.Chunks {
		if p := v.index[c.ID].Pack; !slices.Contains(packs, p) {
			packs = append(packs, p)
		}
	}
	slices.Sort(packs)
	if len(packs) < 2 {
		t.Fatalf("the point sits in %d pack(s); the test needs several", len(packs))
	}

	bucket := aws.String("hidden")
	genuine := map[string]*string{} // the version sqlvault wrote of each object about to be hidden
	for _, key := range append(slices.Clone(packs), manifestName(m.Blob)) {
		head, err := sw.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		genuine[key] = head.VersionId
	}
	forged := bytes.Repeat([]byte{0x5a}, 64<<10)
	if _, err := sw.client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(packs[0]), Body: bytes.NewReader(forged)}); err != nil {
		t.Fatal(err)
	}
	for _, key := range append(slices.Clone(packs), manifestName(m.Blob)) {
		if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)}); err != nil {
			t.Fatalf("delete marker over %s: %v", key, err)
		}
		if _, err := b.Get(ctx, key); err == nil {
			t.Fatalf("%s is still readable by a plain GET after its delete marker", key)
		}
	}

	// A retention pass that holds the point longer reaches the versions
	// under the markers (a retention without a version id cannot).
	later := time.Now().Add(90 * 24 * time.Hour)
	if _, err := v.ExtendRetention(ctx, map[string]time.Time{m.Blob: later}); err != nil {
		t.Fatalf("extending the retention of a point under delete markers: %v", err)
	}
	for key, id := range genuine {
		out, err := sw.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: bucket, Key: aws.String(key), VersionId: id})
		if err != nil || out.Retention == nil || out.Retention.RetainUntilDate == nil || out.Retention.RetainUntilDate.Before(later.Add(-time.Second)) {
			t.Fatalf("the hidden version of %s after ExtendRetention: %+v %v, want held until %v", key, out, err, later)
		}
	}

	restorer, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restorer.Close()
	if got := readAll(t, restorer, m.Blob); !bytes.Equal(got, data) {
		t.Fatalf("restore under delete markers read %d bytes that differ from the %d backed up", len(got), len(data))
	}
	want := append(slices.Clone(packs), manifestName(m.Blob))
	slices.Sort(want)
	if got := restorer.HiddenObjects(); !slices.Equal(got, want) {
		t.Fatalf("HiddenObjects after the restore = %v, want %v", got, want)
	}

	verifier, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer verifier.Close()
	rep, err := verifier.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The manifest is found at Open (marks.go), the packs as Verify reads them.
	if !rep.OK() || !rep.Tampered() || !slices.Equal(rep.HiddenObjects, want) {
		t.Fatalf("verify under delete markers: %+v, want nothing damaged and hidden %v", rep, want)
	}
}
