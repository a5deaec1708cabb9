package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// engineParts are the data path's long-lived pieces.
type engineParts struct {
	vault   *vault.Vault
	device  *vdi.Device
	secrets *secret.Box
}

func (e *engineParts) close() { e.vault.Close() }

// openEngine opens (or on first start creates) the vault, the key that
// seals SQL passwords, and the device with its certificates.
func openEngine(ctx context.Context, o serveOptions, catalog *db.DB, log *slog.Logger) (*engineParts, error) {
	secrets, err := openEngineSecrets(o)
	if err != nil {
		return nil, err
	}
	pass, err := vaultPassphrase(o)
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
	return &engineParts{vault: v, device: d, secrets: secrets}, nil
}

// openEngineSecrets is the key that seals SQL login passwords in the
// catalog; it lives beside the catalog, or comes from SQLVAULT_SERVER_KEY.
func openEngineSecrets(o serveOptions) (*secret.Box, error) {
	return secret.LoadOrCreate(filepath.Join(o.data, "server.key"), os.Getenv("SQLVAULT_SERVER_KEY"))
}

// vaultPassphrase comes from SQLVAULT_VAULT_PASSPHRASE, the key file, or
// a key file generated on first start (kept apart from the catalog, whose
// contents alone never decrypt the vault).
func vaultPassphrase(o serveOptions) ([]byte, error) {
	if p := os.Getenv("SQLVAULT_VAULT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	path := o.keyFile
	if path == "" {
		path = filepath.Join(o.data, "vault.key")
	}
	return loadOrCreateKey(path)
}

func openVault(ctx context.Context, o serveOptions, pass []byte, log *slog.Logger) (*vault.Vault, error) {
	var b vault.Backend
	loc := o.vaultURL
	if loc == "" {
		loc = filepath.Join(o.data, "vault")
	}
	if strings.Contains(loc, "://") && !strings.HasPrefix(loc, "file://") {
		bb, err := vault.NewBucketBackend(ctx, loc)
		if err != nil {
			return nil, fmt.Errorf("vault %s: %w", loc, err)
		}
		b = bb
	} else {
		db, err := vault.NewDirBackend(strings.TrimPrefix(loc, "file://"))
		if err != nil {
			return nil, err
		}
		b = db
	}
	opts := vault.Options{Logger: log, Hook: crashHook(), Codec: o.codec}
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
