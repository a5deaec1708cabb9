package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
type BucketBackend struct{ b *blob.Bucket }

// NewBucketBackend opens a bucket by URL.
func NewBucketBackend(ctx context.Context, url string) (*BucketBackend, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", url, err)
	}
	return &BucketBackend{b: b}, nil
}

func (b *BucketBackend) Put(ctx context.Context, name string, data []byte) error {
	return b.b.WriteAll(ctx, name, data, nil)
}

func (b *BucketBackend) Get(ctx context.Context, name string) ([]byte, error) {
	data, err := b.b.ReadAll(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return data, err
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
