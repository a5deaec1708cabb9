package vdi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"time"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// benchBackend is where one benchmark run keeps its vault: a directory
// under dir, or, with o.Vault set, a fresh prefix of that bucket, whose
// objects the returned cleanup deletes.
func benchBackend(ctx context.Context, o BenchOptions, dir string) (vault.Backend, func(), error) {
	if o.Vault == "" {
		b, err := vault.NewDirBackend(filepath.Join(dir, "vault"))
		return b, func() {}, err
	}
	u, err := url.Parse(o.Vault)
	if err != nil {
		return nil, nil, err
	}
	tag := make([]byte, 6)
	rand.Read(tag)
	q := u.Query()
	q.Set("prefix", q.Get("prefix")+"sqlvault-bench-"+hex.EncodeToString(tag)+"/")
	u.RawQuery = q.Encode()
	b, err := vault.NewBucketBackend(ctx, u.String())
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		names, _ := b.List(context.Background(), "")
		for _, n := range names {
			b.Delete(context.Background(), n)
		}
		b.Close()
	}
	return b, cleanup, nil
}

// redactURL drops a bucket URL's query (it may name keys or endpoints
// with credentials) for printing.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		u.RawQuery = ""
		return u.String()
	}
	return s
}

// benchRecompress times the rewrite of what was ingested with the fast
// codec into the vault's own, as serve does when the vault is idle.
func benchRecompress(ctx context.Context, w io.Writer, v *vault.Vault) error {
	if v.IngestCodec() == v.Codec() {
		return nil
	}
	start := time.Now()
	rep, err := v.Recompress(ctx, nil)
	if err != nil {
		return err
	}
	vault.BenchRate(w, fmt.Sprintf("  background recompression %s -> %s", v.IngestCodec(), v.Codec()), rep.Bytes, time.Since(start))
	if st, err := v.Stats(ctx); err == nil && st.StoredBytes > 0 {
		fmt.Fprintf(w, "%-40s %9.1f MB (%.2fx smaller)\n", "  stored after recompression", float64(st.StoredBytes)/1e6, float64(st.LogicalBytes)/float64(st.StoredBytes))
	}
	return nil
}
