package vault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// seaweed is a SeaweedFS server (master, volume, filer and S3 gateway in
// one process) for the vault's S3 backend tests.
type seaweed struct {
	endpoint string // http://127.0.0.1:port of the S3 gateway
	client   *s3.Client
}

// weedBinary finds SeaweedFS's weed: $SQLVAULT_WEED, then PATH, then the
// cache .ci/run builds it into.
func weedBinary() (string, error) {
	if p := os.Getenv("SQLVAULT_WEED"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "sqlvault", "weed")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// freePorts answers n ports free now (each listened on and closed).
func freePorts(t *testing.T, n int) []int {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// startSeaweed runs `weed server -s3` on free loopback ports with its
// data in a temporary directory, telemetry off, and no identities (the
// gateway then takes any signature).
func startSeaweed(t *testing.T) *seaweed {
	t.Helper()
	bin, err := weedBinary()
	if err != nil {
		t.Skip("SeaweedFS's weed is not installed (SQLVAULT_WEED, PATH or ~/.cache/sqlvault/weed), so the S3 backend is not tested against a real object store here; .ci/run builds it from the Go module proxy")
	}
	p := freePorts(t, 8)
	args := []string{"server", "-s3", "-filer", "-ip=127.0.0.1", "-dir=" + t.TempDir(),
		fmt.Sprintf("-master.port=%d", p[0]), fmt.Sprintf("-master.port.grpc=%d", p[1]),
		fmt.Sprintf("-volume.port=%d", p[2]), fmt.Sprintf("-volume.port.grpc=%d", p[3]),
		fmt.Sprintf("-filer.port=%d", p[4]), fmt.Sprintf("-filer.port.grpc=%d", p[5]),
		fmt.Sprintf("-s3.port=%d", p[6]), fmt.Sprintf("-s3.port.grpc=%d", p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
		"-master.volumeSizeLimitMB=64", "-volume.max=32"}
	cmd := exec.Command(bin, args...)
	logf, _ := os.Create(filepath.Join(t.TempDir(), "weed.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	sw := &seaweed{endpoint: fmt.Sprintf("http://127.0.0.1:%d", p[6])}
	sw.client = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(sw.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("sqlvault", "sqlvault-test-secret", "")})
	t.Setenv("AWS_ACCESS_KEY_ID", "sqlvault")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sqlvault-test-secret")
	// The gateway answers once the master, volume server and filer it
	// needs are up: a bucket can be created and written to.
	ctx := context.Background()
	for deadline := time.Now().Add(90 * time.Second); ; {
		_, err := sw.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			logf.Sync()
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("SeaweedFS's S3 gateway did not answer within 90s: %v\n%s", err, tail(log, 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return sw
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

// bucket creates a bucket, with S3 Object Lock if asked (it can only be
// chosen at creation), and answers the vault's URL for it.
func (sw *seaweed) bucket(t *testing.T, name string, objectLock bool) string {
	t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	ctx := context.Background()
	var err error
	for range 50 { // right after start the filer may not take writes yet
		if _, err = sw.client.CreateBucket(ctx, in); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	host := strings.TrimPrefix(sw.endpoint, "http://")
	return "s3://" + name + "?region=us-east-1&endpoint=http://" + host + "&use_path_style=true&disable_https=true"
}

// TestS3BackendAgainstSeaweedFS runs the vault on the gocloud S3 driver
// against SeaweedFS's S3 gateway: striped uploads, then a second vault
// opened from the bucket alone lists every backup with its labels, reads
// ranges, verifies, and collects a deleted backup.
func TestS3BackendAgainstSeaweedFS(t *testing.T) {
	sw := startSeaweed(t)
	bucketRoundTrip(t, sw.bucket(t, "vault", false), "S3", func(b *BucketBackend) {
		if b.Locks() {
			t.Fatal("a bucket made without Object Lock is taken for a locked one")
		}
	})
	t.Run("verify", func(t *testing.T) { verifyOnS3(t, sw) }) // the same server: each start costs seconds
}

// TestS3ObjectLockAgainstSeaweedFS: on a bucket created with Object
// Lock, a retained point's packs, indexes and manifest carry compliance
// retention until its expiry (a pack shared with a later point until the
// later one's); the storage, not sqlvault, then refuses to remove a
// retained version or shorten its date, to the same credentials sqlvault
// holds; deleting and collecting in sqlvault leaves the data in place.
func TestS3ObjectLockAgainstSeaweedFS(t *testing.T) {
	sw := startSeaweed(t)
	t.Run("hidden", func(t *testing.T) { hiddenOnS3(t, sw) })                       // delete markers over a point: seaweedfs_hidden_test.go
	t.Run("hidden-before-open", func(t *testing.T) { hiddenBeforeOpenOnS3(t, sw) }) // seaweedfs_marks_test.go
	t.Run("gc-marks", func(t *testing.T) { gcMarksOnS3(t, sw) })
	t.Run("marks-upgrade", func(t *testing.T) { marksUpgradeOnS3(t, sw) })
	url := sw.bucket(t, "locked", true)
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Locks() {
		t.Fatal("a bucket created with Object Lock is not seen as locked")
	}
	v := newVault(t, b, Options{PackSize: 256 << 10})
	if _, worm := v.Storage(); !worm {
		t.Fatal("Storage() does not say the locked bucket enforces write-once")
	}
	base := pages(82, 1<<20)
	first := upload(t, v, "SQL01/Sales/full1.bak", base, 1<<20)
	second := upload(t, v, "SQL01/Sales/full2.bak", append(bytes.Clone(base), pages(83, 512<<10)...), 1<<20)
	t1 := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second)
	t2 := t1.Add(60 * 24 * time.Hour)
	if err := v.Retain(ctx, first.Blob, t1); err != nil {
		t.Fatal(err)
	}
	if err := v.Retain(ctx, second.Blob, t2); err != nil {
		t.Fatal(err)
	}
	retention := func(name string) (types.ObjectLockRetentionMode, time.Time) {
		out, err := sw.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("locked"), Key: aws.String(name)})
		if err != nil || out.Retention == nil || out.Retention.RetainUntilDate == nil {
			t.Fatalf("retention of %s: %v", name, err)
		}
		return out.Retention.Mode, *out.Retention.RetainUntilDate
	}
	shared := v.index[first.Chunks[0].ID].Pack
	for _, name := range []string{shared, "index/" + strings.TrimPrefix(shared, "packs/"), manifestName(second.Blob)} {
		if mode, until := retention(name); mode != types.ObjectLockRetentionModeCompliance || until.Before(t2) {
			t.Fatalf("%s: %s until %v, want COMPLIANCE until at least %v", name, mode, until, t2)
		}
	}
	if mode, until := retention(manifestName(first.Blob)); mode != types.ObjectLockRetentionModeCompliance || until.Before(t1) || !until.Before(t2) {
		t.Fatalf("first manifest: %s until %v, want COMPLIANCE from %v", mode, until, t1)
	}

	// The storage refuses what sqlvault's own credentials could try.
	head, err := sw.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String(shared)})
	if err != nil || head.VersionId == nil {
		t.Fatalf("head %s: %v (a locked bucket keeps versions)", shared, err)
	}
	if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked"), Key: aws.String(shared), VersionId: head.VersionId}); err == nil {
		t.Fatal("the storage deleted a retained pack version")
	}
	_, err = sw.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String("locked"), Key: aws.String(shared), VersionId: head.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(t1)}})
	if err == nil {
		t.Fatal("the storage shortened a compliance retention")
	}

	// sqlvault deleting both points and collecting leaves the retained
	// versions readable in the bucket.
	// The vault's own immutability is off here: only the storage holds.
	for _, m := range []Manifest{first, second} {
		if err := v.DeleteBlob(ctx, m.Blob); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.GC(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := sw.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("locked"), Key: aws.String(shared), VersionId: head.VersionId})
	if err != nil {
		t.Fatalf("the retained version of %s is gone after sqlvault deleted it: %v", shared, err)
	}
	got.Body.Close()
}

// verifyOnS3 is verify on the S3 backend: clean after striped
// uploads, then, with one byte of a pack changed in the bucket by someone
// holding the bucket's credentials (the hostile SQL Server host's kind of
// change), it names that pack and the one backup that reads it, and a
// pack deleted in the bucket shows as damaged with its backup affected.
func verifyOnS3(t *testing.T, sw *seaweed) {
	ctx := context.Background()
	b, err := NewBucketBackend(ctx, sw.bucket(t, "verify", false))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := newVault(t, b, Options{PackSize: 256 << 10})
	one := upload(t, v, "SQL01/Sales/one.bak", pages(71, 1<<20), 256<<10)
	two := upload(t, v, "SQL01/Sales/two.bak", pages(72, 1<<20), 256<<10)
	if rep, err := v.Verify(ctx); err != nil || !rep.OK() || rep.Chunks == 0 {
		t.Fatalf("verify on S3 after uploads: %+v %v", rep, err)
	}

	damaged := v.index[two.Chunks[0].ID]
	raw, err := b.Get(ctx, damaged.Pack)
	if err != nil {
		t.Fatal(err)
	}
	raw[damaged.Offset+damaged.Length/2] ^= 0xff
	if _, err := sw.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("verify"), Key: aws.String(damaged.Pack), Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.DamagedPacks) != 1 || rep.DamagedPacks[0] != damaged.Pack || len(rep.AffectedBlobs) != 1 || rep.AffectedBlobs[0] != two.Blob {
		t.Fatalf("verify after a byte changed in %s: %+v, want that pack and %s alone", damaged.Pack, rep, two.Blob)
	}

	gone := v.index[one.Chunks[len(one.Chunks)-1].ID].Pack
	if _, err := sw.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("verify"), Key: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	rep, _ = v.Verify(ctx)
	if !slices.Contains(rep.DamagedPacks, gone) || !slices.Contains(rep.AffectedBlobs, one.Blob) {
		t.Fatalf("verify after %s was deleted: %+v, want it damaged and %s affected", gone, rep, one.Blob)
	}
}
