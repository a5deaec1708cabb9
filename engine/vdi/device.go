// Package vdi is the virtual backup device: an HTTPS endpoint that speaks
// the part of the Azure Blob REST API that SQL Server's BACKUP ... TO URL
// and RESTORE ... FROM URL use (Put Blob, Lease Blob, Put Block, Put Block
// List, Get Blob Properties, ranged Get Blob, Delete Blob). Blocks stream
// straight into a Store (the vault) with no staging file; a blob exists for
// readers only once its block list is committed.
package vdi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Store is where blocks go; the vault implements it through VaultStore.
// PutBlock must not keep data after it returns: the device reuses it.
type Store interface {
	PutBlock(ctx context.Context, blob, blockID string, data []byte) error
	CommitBlob(ctx context.Context, blob string, blockIDs []string) error
	OpenBlob(ctx context.Context, blob string) (BlobReader, error)
	DeleteBlob(ctx context.Context, blob string) error
	AbortBlob(blob string)
}

// BlobReader reads a committed blob.
type BlobReader interface {
	io.ReaderAt
	Size() int64
	ModTime() time.Time
	ETag() string // one per committed blob, the same on every read
	Close() error
}

// ErrBlobNotFound is what a Store returns for a blob that is not committed.
var ErrBlobNotFound = errors.New("blob not found")

// Config sets up a device.
type Config struct {
	Name     string   // DNS name SQL Server uses; the certificate is issued for it
	AltNames []string // more names or IPs for the certificate
	CertDir  string   // where the device CA lives (created on first start)
	// CertFile and KeyFile, when both set, name a PEM certificate (chain)
	// and its private key to serve instead of the device's own; the
	// certificate must be valid for Name. CACertPEM is then the last
	// certificate of the chain (the issuer SQL Server hosts must trust).
	CertFile, KeyFile string
	Store             Store
	Key               []byte // HMAC key for SAS tokens, at least 32 bytes
	MaxBlockSize      int64  // default 100 MiB, Azure's limit for one Put Block
	// PublicPort is the port SQL Server is told in every URL and
	// credential name; it may differ from the listening port (a port
	// forward, a container mapping, a load balancer). 0 means the port
	// the device listens on (tests and demo mode); 443 is left out of
	// URLs, as SQL Server requires.
	PublicPort int
	Logger     *slog.Logger
	Now        func() time.Time
}

// Device is the HTTPS server.
type Device struct {
	cfg   Config
	certs *certs
	srv   *http.Server
	port  string

	mu        sync.Mutex
	leases    map[string]*lease           // blob -> its lease (Azure's state machine)
	created   map[string]time.Time        // blobs made by Put Blob, not yet committed
	sealed    map[string]bool             // blob -> committed (write-once); false: not in the store
	blobLocks map[string]*blobLock        // serialise commits, Put Blob and Delete per blob
	grants    map[string]*grant           // live grants by si
	blocks    map[string]map[string]int64 // blob -> staged block id -> size
	committed map[string][]listedBlock    // block lists committed since start
	progress  func(blob string, bytes int64)
	received  map[string]int64
	storeErrs map[string]error // blob -> the store's last write failure
	etags     etagCache        // of blobs read
}

// New makes a device and its certificate.
func New(cfg Config) (*Device, error) {
	if cfg.Name == "" {
		return nil, errors.New("device needs a DNS name")
	}
	if len(cfg.Key) < 32 {
		return nil, errors.New("device SAS key must be at least 32 bytes")
	}
	if cfg.MaxBlockSize == 0 {
		cfg.MaxBlockSize = 100 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var c *certs
	var err error
	switch {
	case cfg.CertFile != "" && cfg.KeyFile != "":
		c, err = loadUserCert(cfg.CertFile, cfg.KeyFile, cfg.Name)
	case cfg.CertFile != "" || cfg.KeyFile != "":
		err = errors.New("give both a certificate file and a key file, or neither")
	default:
		c, err = loadOrCreateCerts(cfg.CertDir, append([]string{cfg.Name}, cfg.AltNames...))
	}
	if err != nil {
		return nil, fmt.Errorf("device certificate: %w", err)
	}
	d := &Device{cfg: cfg, certs: c, leases: map[string]*lease{}, created: map[string]time.Time{}, sealed: map[string]bool{}, received: map[string]int64{},
		blocks: map[string]map[string]int64{}, committed: map[string][]listedBlock{}}
	if cfg.PublicPort != 0 && cfg.PublicPort != 443 {
		d.port = strconv.Itoa(cfg.PublicPort)
	}
	d.srv = &http.Server{
		Handler:           d,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{*c.tls}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 15 * time.Second,
		ReadTimeout:       10 * time.Minute, // one block of up to 100 MiB on a slow link
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return d, nil
}

// CACertPEM is the device's CA certificate, for SQL Server hosts to trust.
func (d *Device) CACertPEM() []byte { return d.certs.caPEM }

// TLSCertificate is the device's server certificate.
func (d *Device) TLSCertificate() tls.Certificate { return *d.certs.tls }

// Listening records the port of the listener the device will serve on,
// for the URLs it hands out, unless Config.PublicPort names the port SQL
// Server is told (443 is left out, as SQL Server requires). Serve calls it
// too; call it first when URLs may be asked for before Serve's goroutine
// has started.
func (d *Device) Listening(l net.Listener) {
	if d.cfg.PublicPort != 0 {
		return
	}
	if _, port, err := net.SplitHostPort(l.Addr().String()); err == nil && port != "443" {
		d.mu.Lock()
		d.port = port
		d.mu.Unlock()
	}
}

// Serve serves HTTPS on l until Shutdown.
func (d *Device) Serve(l net.Listener) error {
	d.Listening(l)
	err := d.srv.ServeTLS(l, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the device, letting requests in flight finish.
func (d *Device) Shutdown(ctx context.Context) error { return d.srv.Shutdown(ctx) }

// ContainerURL is the URL of a container, the name of its SQL credential.
func (d *Device) ContainerURL(container string) string {
	d.mu.Lock()
	host := d.cfg.Name
	if d.port != "" {
		host += ":" + d.port
	}
	d.mu.Unlock()
	return "https://" + host + "/" + container
}

// BlobURL is the URL SQL Server writes a blob to.
func (d *Device) BlobURL(container, name string) string {
	return d.ContainerURL(container) + "/" + name
}

// OnProgress registers a callback told the bytes received per blob.
func (d *Device) OnProgress(fn func(blob string, bytes int64)) {
	d.mu.Lock()
	d.progress = fn
	d.mu.Unlock()
}

func (d *Device) addReceived(blob string, n int64) {
	d.mu.Lock()
	d.received[blob] += n
	total, fn := d.received[blob], d.progress
	d.mu.Unlock()
	if fn != nil {
		fn(blob, total)
	}
}

// noteStoreError remembers why the store refused a write of blob.
func (d *Device) noteStoreError(blob string, err error) {
	d.mu.Lock()
	if d.storeErrs == nil {
		d.storeErrs = map[string]error{}
	}
	d.storeErrs[blob] = err
	d.mu.Unlock()
}

// StoreError is the store's last failure to write blob (a block or its
// commit), or nil: SQL Server only sees an HTTP error, the caller may want
// the cause (a full disk).
func (d *Device) StoreError(blob string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.storeErrs[blob]
}

// Received is how many bytes of blocks arrived for a blob so far.
func (d *Device) Received(blob string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received[blob]
}

// ServeHTTP routes a request by method and comp, as Azure Blob does.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("x-ms-request-id", newGUID())
	if id := r.Header.Get("x-ms-client-request-id"); id != "" && len(id) <= 1024 {
		h.Set("x-ms-client-request-id", id)
	}
	h.Set("x-ms-version", cmpOr(r.Header.Get("x-ms-version"), "2020-10-02"))
	h.Set("Server", "sqlvault-device")
	container, name, ok := splitPath(r.URL.Path)
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidUri", "the URL must name a container and a blob")
		return
	}
	blob := container + "/" + name
	q := r.URL.Query()
	comp := q.Get("comp")
	action := strings.ToLower(r.Header.Get("x-ms-lease-action"))
	if err := d.checkSAS(q, container, accessOf(r.Method, comp, action)); err != nil {
		writeError(w, http.StatusForbidden, err.code, err.msg)
		return
	}
	log := d.cfg.Logger.With("method", r.Method, "blob", blob, "comp", comp)
	log.Debug("device request")
	if refuseUnsupported(w, r, comp) {
		return
	}
	switch {
	case r.Method == http.MethodPut && comp == "block":
		d.putBlock(w, r, blob, q.Get("blockid"))
	case r.Method == http.MethodPut && comp == "blocklist":
		d.putBlockList(w, r, blob)
	case r.Method == http.MethodGet && comp == "blocklist":
		d.getBlockList(w, r, blob)
	case r.Method == http.MethodPut && comp == "lease":
		d.lease(w, r, blob, action)
	case r.Method == http.MethodPut && comp == "":
		d.putBlob(w, r, blob)
	case r.Method == http.MethodHead && comp == "":
		d.getBlob(w, r, blob, true)
	case r.Method == http.MethodGet && comp == "":
		d.getBlob(w, r, blob, false)
	case r.Method == http.MethodDelete && comp == "":
		d.deleteBlob(w, r, blob)
	default:
		writeError(w, http.StatusBadRequest, "InvalidQueryParameterValue", fmt.Sprintf("%s with comp=%q is not supported by this device", r.Method, comp))
	}
}

// accessOf is what a request does, for the grant check.
func accessOf(method, comp, leaseAction string) access {
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return accessRead
	case method == http.MethodDelete:
		return accessDelete
	case method == http.MethodPut && comp == "lease" && leaseAction == "break":
		return accessLeaseBreak
	case method == http.MethodPut && comp == "lease":
		return accessLease
	}
	return accessWrite
}

// splitPath splits /container/blob, refusing empty, "." and ".." segments
// and NUL so no name can climb out of its container.
func splitPath(p string) (container, name string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	i := strings.IndexByte(p, '/')
	if i <= 0 || i == len(p)-1 || len(p) > 1024+64 || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return "", "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "", false
		}
	}
	return p[:i], p[i+1:], true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
