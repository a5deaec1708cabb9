package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/fileblob"  // file://
	_ "gocloud.dev/blob/memblob"   // mem://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"
)

// Backend stores the vault's objects: config, packs, index files and
// manifests. Objects are written whole and never changed in place.
type Backend interface {
	Put(ctx context.Context, name string, data []byte) error // atomic: all or nothing
	Get(ctx context.Context, name string) ([]byte, error)
	GetRange(ctx context.Context, name string, off, n int64) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, name string) error
}

// ErrNotExist is returned for a missing object.
var ErrNotExist = errors.New("object does not exist")

// DirBackend keeps objects as files under a directory.
type DirBackend struct{ dir string }

// NewDirBackend opens (creating) a directory backend.
func NewDirBackend(dir string) (*DirBackend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault directory: %w", err)
	}
	return &DirBackend{dir: dir}, nil
}

func (d *DirBackend) path(name string) string { return filepath.Join(d.dir, filepath.FromSlash(name)) }

// Put writes to a temporary file, syncs it, and renames it into place, so
// a crash leaves either the old state or the whole object.
func (d *DirBackend) Put(_ context.Context, name string, data []byte) error {
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *DirBackend) Get(_ context.Context, name string) ([]byte, error) {
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return b, err
}

func (d *DirBackend) GetRange(_ context.Context, name string, off, n int64) ([]byte, error) {
	f, err := os.Open(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", name, off, err)
	}
	return buf, nil
}

func (d *DirBackend) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	root := d.path(prefix)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".tmp-") {
			return nil
		}
		rel, _ := filepath.Rel(d.dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return out, err
}

func (d *DirBackend) Delete(_ context.Context, name string) error {
	err := os.Remove(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// BucketBackend stores objects in any gocloud.dev bucket: s3://, azblob://,
// gs:// (with its driver imported), file:// or mem://.
type BucketBackend struct {
	b    *blob.Bucket
	lock *s3Lock // S3 Object Lock, when the bucket has it
	put  *s3Put  // on S3: objects up to singlePutMax in one request
}

// singlePutMax is the largest object Put sends to S3 as one PutObject
// (S3 takes up to 5 GiB so): a pack (16 MiB) then costs one request made
// from its buffer, where the transfer manager's multipart upload copied
// it into part buffers (a new pool for each object) and took four
// requests. Bigger objects still go multipart.
const singlePutMax = 64 << 20

// s3Put writes objects to an S3 bucket with the SDK's client directly.
type s3Put struct {
	client         *s3.Client
	bucket, prefix string
}

// NewBucketBackend opens a bucket by URL.
func NewBucketBackend(ctx context.Context, url string) (*BucketBackend, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	lock, err := openS3Lock(ctx, b, url)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	return &BucketBackend{b: b, lock: lock, put: openS3Put(b, url)}, nil
}

// openS3Put answers the S3 client of an s3:// bucket, nil for others.
func openS3Put(b *blob.Bucket, rawURL string) *s3Put {
	u, err := neturl.Parse(rawURL)
	var client *s3.Client
	if err != nil || u.Scheme != "s3" || !b.As(&client) {
		return nil
	}
	return &s3Put{client: client, bucket: u.Host, prefix: u.Query().Get("prefix")}
}

// unsignedPayload signs a PutObject without its body's SHA-256 (AWS
// /AmazonS3/latest/API/sig-v4-header-based-auth, "unsigned payload
// option"): over plain HTTP the SDK hashes every pack for the signature,
// which over HTTPS it does not. A pack needs no signature of its own: it is
// sealed chunk by chunk, and the CRC32 the SDK still sends lets the store
// refuse a body damaged on the way.
func unsignedPayload(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("sqlvaultUnsignedPayload",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			return next.HandleBuild(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
		}), middleware.After)
}

// Put uploads data as it is: WriteAll would hash it with MD5 for a check
// of its own copy against itself, and pipe it through a goroutine.
func (b *BucketBackend) Put(ctx context.Context, name string, data []byte) error {
	if b.put != nil && len(data) <= singlePutMax {
		_, err := b.put.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.put.bucket),
			Key: aws.String(b.put.prefix + name), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ContentType: aws.String("application/octet-stream")}, s3.WithAPIOptions(unsignedPayload))
		return err
	}
	return b.b.Upload(ctx, name, bytes.NewReader(data), &blob.WriterOptions{ContentType: "application/octet-stream"})
}

// Get reads an object into a buffer of its size: ReadAll would grow one
// step by step, copying a pack several times over.
func (b *BucketBackend) Get(ctx context.Context, name string) ([]byte, error) {
	r, err := b.b.NewReader(ctx, name, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, r.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

func (b *BucketBackend) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	r, err := b.b.NewRangeReader(ctx, name, off, n, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, n)
	_, err = io.ReadFull(r, buf)
	return buf, err
}

func (b *BucketBackend) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if !o.IsDir {
			out = append(out, o.Key)
		}
	}
}

func (b *BucketBackend) Delete(ctx context.Context, name string) error {
	err := b.b.Delete(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}

// Close releases the bucket.
func (b *BucketBackend) Close() error { return b.b.Close() }
