package vdi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// VaultStore adapts the vault to the device's Store.
type VaultStore struct{ V *vault.Vault }

func (s VaultStore) PutBlock(ctx context.Context, blob, id string, data []byte) error {
	return s.V.PutBlock(ctx, blob, id, data)
}

func (s VaultStore) CommitBlob(ctx context.Context, blob string, ids []string) error {
	_, err := s.V.CommitBlob(ctx, blob, ids, nil)
	return err
}

func (s VaultStore) OpenBlob(ctx context.Context, blob string) (BlobReader, error) {
	r, err := s.V.OpenBlob(ctx, blob)
	if errors.Is(err, vault.ErrNotExist) {
		return nil, ErrBlobNotFound
	}
	if err != nil {
		return nil, err
	}
	return vaultReader{r}, nil
}

func (s VaultStore) DeleteBlob(ctx context.Context, blob string) error {
	return s.V.DeleteBlob(ctx, blob)
}

func (s VaultStore) AbortBlob(blob string) { s.V.AbortBlob(blob) }

type vaultReader struct{ *vault.Reader }

func (r vaultReader) ModTime() time.Time { return r.Manifest().Created }

// ETag is derived from what the commit wrote (name, size, chunk list,
// commit time), not from the labels the coordinator adds afterwards, so
// it is the same on every read of the blob.
func (r vaultReader) ETag() string {
	m := r.Manifest()
	chunks, _ := json.Marshal(m.Chunks)
	return etagOf(m.Blob, strconv.FormatInt(m.Size, 10), string(chunks), m.Created.UTC().Format(time.RFC3339Nano))
}
