package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// engineParts are the data path's long-lived pieces.
type engineParts struct {
	vault          *vault.Vault
	device         *vdi.Device
	secrets        *secret.Box
	stopRecompress func() // ends background recompression and waits
}

func (e *engineParts) close() {
	e.stopRecompress()
	e.vault.Close()
}

// recompressIdle is how long the vault must be quiet (no block stored,
// no chunk read) before packs ingested with the fast codec are rewritten.
const recompressIdle = time.Minute

// openEngine opens (or on first start creates) the vault, the key that
// seals SQL passwords, and the device with its certificates.
func openEngine(ctx context.Context, o serveOptions, catalog *db.DB, log *slog.Logger) (*engineParts, error) {
	secrets, err := openEngineSecrets(o)
	if err != nil {
		return nil, err
	}
	pass, err := vaultPassphrase(ctx, o)
	if err != nil {
		return nil, err
	}
	v, err := openVault(ctx, o, pass, log)
	if err != nil {
		return nil, err
	}
	sasKey, err := loadOrCreateKey(filepath.Join(o.data, "device", "sas.key"))
	if err != nil {
		v.Close()
		return nil, err
	}
	d, err := vdi.New(vdi.Config{Name: o.deviceName, CertDir: filepath.Join(o.data, "device"), Store: vdi.VaultStore{V: v},
		Key: sasKey, Logger: log, CertFile: o.deviceCert, KeyFile: o.deviceKey, PublicPort: o.devicePublicPort})
	if err != nil {
		v.Close()
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); v.RecompressWhenIdle(rctx, recompressIdle) }()
	return &engineParts{vault: v, device: d, secrets: secrets, stopRecompress: func() { stop(); <-done }}, nil
}

// openEngineSecrets is the key that seals SQL login passwords in the
// catalog; it lives beside the catalog, or comes from SQLVAULT_SERVER_KEY.
func openEngineSecrets(o serveOptions) (*secret.Box, error) {
	return secret.LoadOrCreate(filepath.Join(o.data, "server.key"), os.Getenv("SQLVAULT_SERVER_KEY"))
}

// vaultPassphrase comes from SQLVAULT_VAULT_PASSPHRASE, the key file, or
// a key file generated on first start (kept apart from the catalog, whose
// contents alone never decrypt the vault). A key file is generated only
// when there is no vault yet: beside an existing vault a missing key is
// lost or misplaced, and a new one would never open the vault.
func vaultPassphrase(ctx context.Context, o serveOptions) ([]byte, error) {
	if p := os.Getenv("SQLVAULT_VAULT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	path := o.keyFile
	if path == "" {
		path = filepath.Join(o.data, "vault.key")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := refuseKeylessVault(ctx, o, path); err != nil {
			return nil, err
		}
	}
	return loadOrCreateKey(path)
}

// refuseKeylessVault fails when the vault exists although its key file
// at path does not, naming both and the ways out.
func refuseKeylessVault(ctx context.Context, o serveOptions, path string) error {
	b, loc, err := vaultBackend(ctx, o)
	if err != nil {
		return err
	}
	if c, ok := b.(io.Closer); ok {
		defer c.Close()
	}
	exists, err := vault.Exists(ctx, b)
	if err != nil || !exists {
		return err
	}
	return fmt.Errorf("the vault at %s exists but its key file %s is missing: copy the vault key back from where you keep it "+
		"to %s (or point --vault-key-file at it, or set SQLVAULT_VAULT_PASSPHRASE); no new key is made, since it could not open this vault "+
		"(docs/security.md, \"The vault key\")", loc, path, path)
}

// vaultBackend opens the vault's storage: a directory, or a bucket URL.
func vaultBackend(ctx context.Context, o serveOptions) (vault.Backend, string, error) {
	loc := o.vaultURL
	if loc == "" {
		loc = filepath.Join(o.data, "vault")
	}
	if strings.Contains(loc, "://") && !strings.HasPrefix(loc, "file://") {
		b, err := vault.NewBucketBackend(ctx, loc)
		if err != nil {
			return nil, loc, fmt.Errorf("vault %s: %w", loc, err)
		}
		return b, loc, nil
	}
	b, err := vault.NewDirBackend(strings.TrimPrefix(loc, "file://"))
	return b, loc, err
}

func openVault(ctx context.Context, o serveOptions, pass []byte, log *slog.Logger) (*vault.Vault, error) {
	b, loc, err := vaultBackend(ctx, o)
	if err != nil {
		return nil, err
	}
	opts := vault.Options{Logger: log, Hook: crashHook(), Codec: o.codec, IngestCodec: o.ingestCodec}
	v, err := vault.Open(ctx, b, pass, opts)
	if errors.Is(err, vault.ErrNoVault) {
		log.Info("creating a new vault", "location", loc, "compression", o.codec)
		return vault.Create(ctx, b, pass, opts)
	}
	return v, err
}

// loadOrCreateKey reads a key file, creating a random one (0600).
func loadOrCreateKey(path string) ([]byte, error) {
	k, err := secret.LoadOrCreateKeyFile(path)
	return []byte(k), err
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// crashHook is for crash-consistency tests only: with SQLVAULT_CRASH_AT set
// to a hook point name, the process kills itself with SIGKILL the first
// time it reaches that point, as a power cut would.
func crashHook() func(point string) {
	at := os.Getenv("SQLVAULT_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(point string) {
		if point == at {
			fmt.Fprintf(os.Stderr, "sqlvault: SQLVAULT_CRASH_AT=%s reached; killing the process\n", point)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}
