package sqlsim

import (
	"context"

	"github.com/sqlvault/sqlvault/sqlsim/blob"
)

// Blobs is how the instance reaches BACKUP and RESTORE URLs.
type Blobs interface {
	Create(ctx context.Context, url, sas string, blockSize int) (BlobWriter, error)
	Open(ctx context.Context, url, sas string) (BlobReader, error)
}

// BlobWriter uploads one blob; Close commits it.
type BlobWriter interface {
	Write(p []byte) (int, error)
	Close() error
	Abort() error
}

// BlobReader reads a committed blob.
type BlobReader interface {
	ReadAt(p []byte, off int64) (int, error)
	Size() int64
	Close() error
}

type httpBlobClient struct {
	c     *blob.Client
	linux bool
}

// httpBlobs reaches URLs over HTTPS as SQL Server on the configured host
// does; on Linux it reads the CA store now, as SQLPAL does at startup.
func httpBlobs(cfg Config) Blobs {
	return httpBlobClient{c: blob.NewClient(blob.Config{RootCAs: trustRoots(cfg), Hosts: cfg.Hosts, AllowedPort: cfg.AllowedDevicePort,
		BlockList: blockListForm(cfg), Logger: cfg.Logger}), linux: isLinux(cfg)}
}

func (h httpBlobClient) Create(ctx context.Context, url, sas string, blockSize int) (BlobWriter, error) {
	w, err := h.c.Create(ctx, url, sas, blockSize)
	if err != nil {
		return nil, h.hostError(err)
	}
	return w, nil
}

func (h httpBlobClient) Open(ctx context.Context, url, sas string) (BlobReader, error) {
	r, err := h.c.Open(ctx, url, sas)
	if err != nil {
		return nil, h.hostError(err)
	}
	return r, nil
}

func (h httpBlobClient) hostError(err error) error {
	if h.linux {
		return linuxCertError(err)
	}
	return err
}
