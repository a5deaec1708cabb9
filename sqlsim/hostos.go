package sqlsim

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/blob"
	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// The operating system SQL Server runs on (Config.HostOS). It decides the
// byte form of Put Block List bodies, which CAs BACKUP/RESTORE URLs are
// checked against, @@VERSION's last line and sys.dm_os_host_info.
// docs/compatibility.md, "The host", lists the sources.

const (
	HostWindows = "windows"
	HostLinux   = "linux"
)

// ParseHostOS checks a --host-os value.
func ParseHostOS(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", HostWindows:
		return HostWindows, nil
	case HostLinux:
		return HostLinux, nil
	}
	return "", fmt.Errorf("host OS %q: want windows or linux", s)
}

func isLinux(cfg Config) bool { return strings.EqualFold(cfg.HostOS, HostLinux) }

// CAStoreDir is where SQL Server on Linux reads the CAs it trusts for URLs
// at startup: /var/opt/mssql/security/ca-certificates on a real host,
// DATA/security/ca-certificates here. "" when the state is in memory.
func (in *Instance) CAStoreDir() string { return caStoreDir(in.cfg) }

func caStoreDir(cfg Config) string {
	if cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "security", "ca-certificates")
}

// maxStoreFiles: "Up to 50 files can be stored in this location" (the S3
// backup troubleshooting page, "SQL Server on Linux support").
const maxStoreFiles = 50

// trustRoots is the pool URLs are verified against. Windows: the OS store
// (Config.TrustCA, the system's when nil) plus TrustCAPEM. Linux: SQLPAL
// ignores the OS store and trusts only the files of its store directory,
// read once here at start; TrustCAPEM is written there first, as an
// administrator places a file before starting SQL Server.
func trustRoots(cfg Config) *x509.CertPool {
	if !isLinux(cfg) {
		if len(cfg.TrustCAPEM) == 0 {
			return cfg.TrustCA
		}
		pool := cfg.TrustCA
		if pool == nil {
			pool, _ = x509.SystemCertPool()
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		pool = pool.Clone()
		pool.AppendCertsFromPEM(cfg.TrustCAPEM)
		return pool
	}
	pool := x509.NewCertPool()
	dir := caStoreDir(cfg)
	if dir == "" {
		pool.AppendCertsFromPEM(cfg.TrustCAPEM)
		return pool
	}
	if len(cfg.TrustCAPEM) > 0 {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "sqlsim-trust-ca.crt"), cfg.TrustCAPEM, 0o644)
		}
		if err != nil {
			cfg.Logger.Error("writing the trusted CA into the store", "dir", dir, "err", err)
		}
	}
	readStore(dir, pool, cfg.Logger)
	return pool
}

// readStore adds the certificates of the store's files to pool, logging
// as SQL Server's error log does at startup.
func readStore(dir string, pool *x509.CertPool, log *slog.Logger) {
	log.Info("Installing Client TLS certificates to the store.")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn(fmt.Sprintf("Error searching first file in %s: 3(The system cannot find the path specified.)", dir))
		return
	}
	if err != nil {
		log.Error("reading the CA store", "dir", dir, "err", err)
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if n == maxStoreFiles {
			log.Warn("more files than the store holds; the rest are ignored", "dir", dir, "max", maxStoreFiles)
			return
		}
		n++
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !pool.AppendCertsFromPEM(b) {
			log.Warn("Skipping file: not a PEM certificate", "file", e.Name(), "err", err)
		}
	}
}

// osError is a failure SQL Server reports as "Operating system error N(text)".
type osError struct {
	code int
	text string
	err  error
}

func (e *osError) Error() string { return fmt.Sprintf("%d(%s): %v", e.code, e.text, e.err) }
func (e *osError) Unwrap() error { return e.err }

// linuxCertError is what SQL Server on Linux reports when SQLPAL does not
// trust the endpoint's certificate (the S3 backup troubleshooting page,
// "SQL Server on Linux support": error 3201 with OS error 12175).
func linuxCertError(err error) error {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		return &osError{code: 12175, text: "failed to retrieve text for this error. Reason: 15105", err: err}
	}
	return err
}

// hostBanner ends @@VERSION: "Developer Edition (64-bit)" is followed by
// the host, in the form of the @@VERSION page's examples
// (learn.microsoft.com/sql/t-sql/functions/version-transact-sql-configuration-functions).
func (in *Instance) hostBanner() string {
	if isLinux(in.cfg) {
		return " on Linux (Ubuntu 22.04.4 LTS) <X64>"
	}
	return " on Windows Server 2022 Standard 10.0 <X64> (Build 20348: ) (Hypervisor)"
}

// dmOSHostInfo is sys.dm_os_host_info, one row as the page's samples show
// (learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-os-host-info-transact-sql).
func (x *execCtx) dmOSHostInfo() *rowset {
	rs := &rowset{cols: []tds.Column{col("host_platform", tds.TypeNVarChar), col("host_distribution", tds.TypeNVarChar),
		col("host_release", tds.TypeNVarChar), col("host_service_pack_level", tds.TypeNVarChar), col("host_sku", tds.TypeInt),
		col("os_language_version", tds.TypeInt)}}
	if isLinux(x.s.in.cfg) {
		rs.rows = [][]any{{"Linux", "Ubuntu", "22.04", "", nil, int64(1033)}}
	} else {
		// SKU 7 is Standard Server (GetProductInfo).
		rs.rows = [][]any{{"Windows", "Windows Server 2022 Standard", "10.0", "", int64(7), int64(1033)}}
	}
	return rs
}

// blockListForm is how this host's SQL Server encodes Put Block List.
func blockListForm(cfg Config) blob.BlockListForm {
	switch {
	case isLinux(cfg):
		return blob.UTF8DeclaredUTF16
	case cfg.BlockListBOM:
		return blob.UTF16LEWithBOM
	}
	return blob.UTF16LE
}
