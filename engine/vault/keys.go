package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/argon2"
)

// configName is the object that holds the wrapped master key.
const configName = "config"

// config is stored in clear: it holds only the KDF parameters, the salt and
// the master key sealed under the passphrase's key.
type config struct {
	Version    int    `json:"version"`
	KDF        string `json:"kdf"`
	Time       uint32 `json:"time"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Threads    uint8  `json:"threads"`
	Salt       []byte `json:"salt"`
	WrappedKey []byte `json:"wrapped_key"`     // nonce || AES-GCM(master key)
	Codec      string `json:"codec,omitempty"` // chunk compression: zstd (also when empty) or s2
}

// ErrWrongKey is returned when the passphrase does not open the vault.
var ErrWrongKey = errors.New("the passphrase does not open this vault")

// ErrNoVault is returned when the backend holds no vault yet.
var ErrNoVault = errors.New("no vault here: run with a new passphrase to create one")

// Exists reports whether the backend holds a vault (its config object).
// On a bucket with Object Lock a retained version counts even when a
// delete marker hides it, so hiding it cannot make sqlvault start afresh.
func Exists(ctx context.Context, b Backend) (bool, error) {
	vs, err := storedVersions(ctx, b, configName)
	return len(vs) > 0, err
}

// Init creates a vault in the backend: a random master key, wrapped by a key
// derived from the passphrase with argon2id, compressing with zstd.
func Init(ctx context.Context, b Backend, passphrase []byte) error {
	return InitCodec(ctx, b, passphrase, CodecZstd)
}

// Chunk compression codecs; a vault keeps the one it was created with.
const (
	CodecZstd = "zstd" // the better ratio (about 3.7x on page-like data)
	CodecS2   = "s2"   // about 4x faster, ratio about 2.1x
)

// InitCodec is Init with a chosen codec.
func InitCodec(ctx context.Context, b Backend, passphrase []byte, codec string) error {
	if codec != CodecZstd && codec != CodecS2 {
		return fmt.Errorf("unknown vault codec %q: zstd or s2", codec)
	}
	if len(passphrase) < 8 {
		return errors.New("vault passphrase must be at least 8 bytes")
	}
	if exists, err := Exists(ctx, b); err != nil {
		return err
	} else if exists {
		return errors.New("a vault already exists here")
	}
	master := make([]byte, 32)
	rand.Read(master)
	c := config{Version: 1, KDF: "argon2id", Time: 3, MemoryKiB: 64 * 1024, Threads: 2, Salt: make([]byte, 16), Codec: codec}
	rand.Read(c.Salt)
	kek := argon2.IDKey(passphrase, c.Salt, c.Time, c.MemoryKiB, c.Threads, 32)
	aead, _ := newAEAD(kek)
	c.WrappedKey = seal(aead, master)
	data, _ := json.MarshalIndent(c, "", "  ")
	return b.Put(ctx, configName, data)
}

// openKeys unwraps the master key and derives the working keys from it; it
// also answers the vault's codec and the config it opened. Of several
// stored versions (a bucket with Object Lock) the newest the passphrase
// opens is the vault's: a version someone else put on top cannot replace
// the key. Each try costs an argon2id derivation, so only the newest few
// are tried; past them the newest one's error stops the server.
func openKeys(ctx context.Context, b Backend, passphrase []byte) (*keys, string, []byte, error) {
	vs, err := storedVersions(ctx, b, configName)
	if err != nil {
		return nil, "", nil, err
	}
	if len(vs) == 0 {
		return nil, "", nil, ErrNoVault
	}
	const tries = 8
	var first error
	for _, ver := range vs[:min(len(vs), tries)] {
		k, codec, err := openConfig(ver.body, passphrase)
		if err == nil {
			return k, codec, ver.body, nil
		}
		first = cmp(first, err)
	}
	return nil, "", nil, first
}

// openConfig unwraps the master key of one config object.
func openConfig(data, passphrase []byte) (*keys, string, error) {
	var c config
	if err := json.Unmarshal(data, &c); err != nil || c.Version != 1 || c.KDF != "argon2id" {
		return nil, "", fmt.Errorf("vault config is not readable (version %d, kdf %q)", c.Version, c.KDF)
	}
	if c.Codec == "" {
		c.Codec = CodecZstd
	}
	if c.Codec != CodecZstd && c.Codec != CodecS2 {
		return nil, "", fmt.Errorf("vault config names an unknown codec %q", c.Codec)
	}
	kek := argon2.IDKey(passphrase, c.Salt, c.Time, c.MemoryKiB, c.Threads, 32)
	aead, _ := newAEAD(kek)
	master, err := open(aead, c.WrappedKey)
	if err != nil {
		return nil, "", ErrWrongKey
	}
	k, err := deriveKeys(master)
	return k, c.Codec, err
}

// keys are derived from the master key with BLAKE3's key derivation, one
// per purpose, so chunk ids reveal nothing about content without the key.
type keys struct {
	idKey   []byte
	gearKey []byte // seeds the chunker's gear table
	aead    cipher.AEAD
}

func deriveKeys(master []byte) (*keys, error) {
	idKey := make([]byte, 32)
	encKey := make([]byte, 32)
	gearKey := make([]byte, 32)
	blake3.DeriveKey("sqlvault 2026 chunk id", master, idKey)
	blake3.DeriveKey("sqlvault 2026 chunker", master, gearKey)
	blake3.DeriveKey("sqlvault 2026 encryption", master, encKey)
	aead, err := newAEAD(encKey)
	if err != nil {
		return nil, err
	}
	return &keys{idKey: idKey, gearKey: gearKey, aead: aead}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts with a fresh random nonce stored in front.
func seal(aead cipher.AEAD, plain []byte) []byte {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(out)
	return aead.Seal(out, out, plain, nil)
}

var errAuth = errors.New("authentication failed: data damaged or wrong key")

func open(aead cipher.AEAD, sealed []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, errAuth
	}
	p, err := aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, errAuth
	}
	return p, nil
}
