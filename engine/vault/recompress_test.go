package vault

import (
	"bytes"
	"context"
	"testing"
)

// TestRecompressReachesTheVaultCodecsRatio: a zstd vault that ingests
// with S2 stores more at first; after Recompress it stores what
// ingesting with zstd would have (within 1 %), every
// backup reads back byte for byte, in this vault and in one opened from
// the storage alone, verify is clean, and new backups still dedup
// against the recompressed chunks.
func TestRecompressReachesTheVaultCodecsRatio(t *testing.T) {
	ctx := context.Background()
	one, two := pages(90, 3<<20), pages(91, 1<<20)
	both := append(bytes.Clone(one), two...)

	ref := newVault(t, mustDir(t), Options{PackSize: 256 << 10})
	upload(t, ref, "a.bak", one, 1<<20)
	upload(t, ref, "b.bak", both, 1<<20)
	want, _ := ref.Stats(ctx)

	b := mustDir(t)
	v := newVault(t, b, Options{PackSize: 256 << 10, IngestCodec: CodecS2})
	upload(t, v, "a.bak", one, 1<<20)
	upload(t, v, "b.bak", both, 1<<20)
	fast, _ := v.Stats(ctx)
	if fast.StoredBytes <= want.StoredBytes {
		t.Fatalf("S2 ingest stored %d bytes, zstd %d: the test data does not tell them apart", fast.StoredBytes, want.StoredBytes)
	}

	if rep, err := v.Recompress(ctx, func() bool { return true }); err != nil || rep.Packs != 0 || rep.Left == 0 {
		t.Fatalf("a busy vault was recompressed: %+v %v", rep, err)
	}
	rep, err := v.Recompress(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Packs == 0 || rep.Left != 0 || rep.After >= rep.Before {
		t.Fatalf("recompress: %+v", rep)
	}
	got, _ := v.Stats(ctx)
	// The same chunks through the same encoder; zstd's pooled encoders
	// may differ by a few bytes a chunk, so within 1 %.
	if d := got.StoredBytes - want.StoredBytes; d < -want.StoredBytes/100 || d > want.StoredBytes/100 {
		t.Fatalf("after recompression the vault stores %d bytes; ingesting with zstd stored %d", got.StoredBytes, want.StoredBytes)
	}
	if !bytes.Equal(readAll(t, v, "a.bak"), one) || !bytes.Equal(readAll(t, v, "b.bak"), both) {
		t.Fatal("a recompressed backup reads back wrong")
	}
	if vr, err := v.Verify(ctx); err != nil || !vr.OK() {
		t.Fatalf("verify after recompression: %+v %v", vr, err)
	}
	if m := upload(t, v, "c.bak", one, 1<<20); m.StoredBytes != 0 {
		t.Fatalf("a backup of known data stored %d new bytes after recompression", m.StoredBytes)
	}

	v2, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if !bytes.Equal(readAll(t, v2, "b.bak"), both) {
		t.Fatal("a vault opened from the storage reads the recompressed backup wrong")
	}
	if left := v2.fastPacks(); len(left) != 0 {
		t.Fatalf("%d packs still in S2 after reopening", len(left))
	}
}
