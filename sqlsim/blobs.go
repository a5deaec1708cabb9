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

type httpBlobClient struct{ c *blob.Client }

// httpBlobs reaches URLs over HTTPS as SQL Server does.
func httpBlobs(cfg Config) Blobs {
	return httpBlobClient{blob.NewClient(blob.Config{RootCAs: cfg.TrustCA, Hosts: cfg.Hosts, AllowedPort: cfg.AllowedDevicePort,
		Logger: cfg.Logger})}
}

func (h httpBlobClient) Create(ctx context.Context, url, sas string, blockSize int) (BlobWriter, error) {
	return h.c.Create(ctx, url, sas, blockSize)
}

func (h httpBlobClient) Open(ctx context.Context, url, sas string) (BlobReader, error) {
	return h.c.Open(ctx, url, sas)
}
