package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenAndKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	b, err := LoadOrCreate(path, "")
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal("P@ssw0rd")
	if bytes.Contains(sealed, []byte("P@ssw0rd")) {
		t.Fatal("sealed secret contains the plaintext")
	}
	if bytes.Equal(sealed, b.Seal("P@ssw0rd")) {
		t.Fatal("two seals are equal: nonce reused")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreate(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed); err != nil || got != "P@ssw0rd" {
		t.Fatalf("reopened key: %q %v", got, err)
	}
	other, _ := LoadOrCreate(filepath.Join(t.TempDir(), "k"), "")
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("another key opened the secret")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed); err == nil {
		t.Fatal("tampered secret opened")
	}
}
