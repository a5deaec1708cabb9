// Package blob is the simulated SQL Server's side of BACKUP ... TO URL: an
// HTTPS client that writes and reads Azure block blobs with a Shared Access
// Signature the way SQL Server 2016+ does. Writing a blob: Put Blob (empty,
// to create it), Lease Blob "Acquire" (infinite), Put Block for each
// MAXTRANSFERSIZE of the stream carrying the lease id, Put Block List in the
// byte form of the host's operating system, and Lease Blob "Release"; a
// failed backup deletes its blob (or, refused, releases the lease).
// Reading (RESTORE and its HEADERONLY, FILELISTONLY and VERIFYONLY forms):
// Lease Blob "Acquire" (infinite, with SQL Server's restore lease id), Get
// Blob Properties, ranged Get Blob, and Lease Blob "Release" when the reader
// is closed. docs/compatibility.md gives the source of each step.
package blob

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/unicode"
)

// apiVersion is the x-ms-version sent. What SQL Server sends is not
// documented (docs/compatibility.md, "Unknowns"); this is a version that
// has block blobs, leases and SAS.
const apiVersion = "2019-02-02"

// RestoreLeaseID is the lease id SQL Server proposes when it reads a blob
// for RESTORE ("Delete backup blob files with active leases",
// learn.microsoft.com/sql/relational-databases/backup-restore/deleting-backup-blob-files-with-active-leases).
const RestoreLeaseID = "BAC2BAC2BAC2BAC2BAC2BAC2BAC2BAC2"

// BlockListForm is the byte form of a Put Block List body.
type BlockListForm int

const (
	// UTF16LE is SQL Server on Windows: the XML in UTF-16LE without a BOM
	// (WAL-G 4fdf8a51 decoded every body from UTF-16LE; whether a BOM
	// leads is not known, see docs/compatibility.md "Unknowns").
	UTF16LE BlockListForm = iota
	// UTF16LEWithBOM is UTF16LE preceded by the byte order mark FF FE.
	UTF16LEWithBOM
	// UTF8DeclaredUTF16 is SQL Server on Linux: UTF-8 bytes whose
	// declaration still says encoding="utf-16" (WAL-G 504ddb8c, PR
	// wal-g/wal-g#1705, SQL Server 2022 CU12 on Ubuntu 22.04).
	UTF8DeclaredUTF16
)

// Config sets up a client.
type Config struct {
	RootCAs     *x509.CertPool    // the host's trusted roots; nil uses the system's
	Hosts       map[string]string // name -> IP, as the hosts file
	AllowedPort int               // 0: port 443 only, SQL Server's rule
	BlockList   BlockListForm     // byte form of Put Block List bodies
	Logger      *slog.Logger
	Delay       func() time.Duration // pause before each block (fault injection)
}

// Client talks HTTPS to blob endpoints.
type Client struct {
	cfg  Config
	http *http.Client
}

// NewClient makes a client.
func NewClient(cfg Config) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: 15 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 15 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip, ok := cfg.Hosts[strings.ToLower(host)]; ok {
				addr = net.JoinHostPort(ip, port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 8,
	}
	return &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

// CheckURL applies SQL Server's rules to a backup URL: https, a DNS name
// rather than an IP address, and the default port.
func CheckURL(raw string, allowedPort int) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the URL %q is not valid", raw)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("the URL must use https, not %q", u.Scheme)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return fmt.Errorf("the URL names an IP address (%s); BACKUP TO URL needs a DNS name", u.Hostname())
	}
	if p := u.Port(); p != "" && p != "443" && p != strconv.Itoa(allowedPort) {
		return fmt.Errorf("the URL uses port %s; BACKUP TO URL uses the default HTTPS port 443 only", p)
	}
	if strings.Count(strings.Trim(u.Path, "/"), "/") < 1 {
		return errors.New("the URL must name a container and a blob")
	}
	return nil
}

// StatusError is an HTTP failure with Azure's error code.
type StatusError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}

func (c *Client) do(ctx context.Context, method, rawURL, sas string, query url.Values, hdr map[string]string, body []byte) (*http.Response, error) {
	u := rawURL + "?" + strings.TrimPrefix(sas, "?")
	if len(query) > 0 {
		u += "&" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("x-ms-version", apiVersion)
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("User-Agent", "SQLBACKUPTOURL/16.0 sqlsim")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Never let the SAS (the credential's secret) reach a message.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = rawURL
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		xml.Unmarshal(b, &e)
		if e.Code == "" {
			e.Code = resp.Header.Get("x-ms-error-code")
		}
		return nil, &StatusError{StatusCode: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	return resp, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Writer uploads one blob as a sequence of blocks.
type Writer struct {
	c         *Client
	ctx       context.Context
	url, sas  string
	lease     string
	blockSize int
	buf       []byte
	ids       []string
	done      bool
}

// Create starts a blob: Put Blob, then an infinite lease.
func (c *Client) Create(ctx context.Context, rawURL, sas string, blockSize int) (*Writer, error) {
	if err := CheckURL(rawURL, c.cfg.AllowedPort); err != nil {
		return nil, err
	}
	if blockSize <= 0 {
		blockSize = 1 << 20
	}
	resp, err := c.do(ctx, http.MethodPut, rawURL, sas, nil, map[string]string{"x-ms-blob-type": "BlockBlob"}, nil)
	if err != nil {
		return nil, fmt.Errorf("Put Blob: %w", err)
	}
	drain(resp)
	// A backup lets the service choose the lease id (the restore id is the
	// only one Microsoft documents).
	lease, err := c.acquire(ctx, rawURL, sas, "")
	if err != nil {
		return nil, err
	}
	return &Writer{c: c, ctx: ctx, url: rawURL, sas: sas, lease: lease, blockSize: blockSize}, nil
}

// Write buffers the stream and sends a Put Block for each full block.
func (w *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := w.blockSize - len(w.buf)
		take := min(room, len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == w.blockSize {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if d := w.c.cfg.Delay; d != nil {
		select {
		case <-time.After(d()):
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
	// Block ids of one blob must have equal length; SQL Server uses a
	// fixed-width counter.
	id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("sqlsim-block-%010d", len(w.ids))))
	resp, err := w.c.do(w.ctx, http.MethodPut, w.url, w.sas, url.Values{"comp": {"block"}, "blockid": {id}},
		map[string]string{"x-ms-lease-id": w.lease}, w.buf)
	if err != nil {
		return fmt.Errorf("Put Block %d: %w", len(w.ids), err)
	}
	drain(resp)
	w.ids = append(w.ids, id)
	w.buf = w.buf[:0]
	return nil
}

// Close sends the last block, commits the block list and releases the lease.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.flush(); err != nil {
		w.discard()
		return err
	}
	body, err := BlockListBody(w.ids, w.c.cfg.BlockList)
	if err != nil {
		w.discard()
		return err
	}
	// No Content-Type: no source says which one SQL Server sends.
	resp, err := w.c.do(w.ctx, http.MethodPut, w.url, w.sas, url.Values{"comp": {"blocklist"}},
		map[string]string{"x-ms-lease-id": w.lease}, body)
	if err != nil {
		w.discard()
		return fmt.Errorf("Put Block List: %w", err)
	}
	drain(resp)
	return w.release()
}

// BlockListBody is the Put Block List body naming ids as Latest, in the
// given byte form. The text declares encoding="utf-16" in every form: the
// Linux form keeps the declaration of the UTF-16 text it was converted from.
func BlockListBody(ids []string, form BlockListForm) ([]byte, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-16"?><BlockList>`)
	for _, id := range ids {
		b.WriteString("<Latest>" + id + "</Latest>")
	}
	b.WriteString("</BlockList>")
	switch form {
	case UTF8DeclaredUTF16:
		return []byte(b.String()), nil
	case UTF16LE, UTF16LEWithBOM:
		bom := unicode.IgnoreBOM
		if form == UTF16LEWithBOM {
			bom = unicode.UseBOM
		}
		return unicode.UTF16(unicode.LittleEndian, bom).NewEncoder().Bytes([]byte(b.String()))
	}
	return nil, fmt.Errorf("unknown block list form %d", form)
}

// Abort gives up the blob: it is deleted, or, when the delete is refused,
// left uncommitted with its lease released.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.discard()
}

// discard deletes the failed blob with the lease id, as SQL Server "attempts
// to clean up any invalid blobs" when a backup fails ("Delete backup blob
// files with active leases"); a refused delete falls back to releasing.
func (w *Writer) discard() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := w.c.do(ctx, http.MethodDelete, w.url, w.sas, nil, map[string]string{"x-ms-lease-id": w.lease}, nil)
	if err == nil {
		drain(resp)
		return nil
	}
	w.c.cfg.Logger.Debug("Delete Blob of a failed backup refused; releasing the lease", "err", err)
	return w.release()
}

func (w *Writer) release() error { return w.c.release(w.url, w.sas, w.lease) }

// acquire takes an infinite lease on the blob, proposing id if not "".
func (c *Client) acquire(ctx context.Context, rawURL, sas, id string) (string, error) {
	hdr := map[string]string{"x-ms-lease-action": "Acquire", "x-ms-lease-duration": "-1"}
	if id != "" {
		hdr["x-ms-proposed-lease-id"] = id
	}
	resp, err := c.do(ctx, http.MethodPut, rawURL, sas, url.Values{"comp": {"lease"}}, hdr, nil)
	if err != nil {
		return "", fmt.Errorf("Lease Blob (Acquire): %w", err)
	}
	drain(resp)
	got := resp.Header.Get("x-ms-lease-id")
	if got == "" {
		return "", errors.New("Lease Blob (Acquire): no lease id in the answer")
	}
	return got, nil
}

// release gives the lease back. It runs on its own context: a statement
// that failed or was cancelled still releases, as SQL Server does.
func (c *Client) release(rawURL, sas, lease string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodPut, rawURL, sas, url.Values{"comp": {"lease"}},
		map[string]string{"x-ms-lease-action": "Release", "x-ms-lease-id": lease}, nil)
	if err != nil {
		return fmt.Errorf("Lease Blob (Release): %w", err)
	}
	drain(resp)
	return nil
}

// Reader reads a committed blob with ranged requests, holding the restore
// lease until Close.
type Reader struct {
	c        *Client
	ctx      context.Context
	url, sas string
	size     int64
	lease    string
}

// Open takes the restore lease on the blob and reads its properties.
func (c *Client) Open(ctx context.Context, rawURL, sas string) (*Reader, error) {
	if err := CheckURL(rawURL, c.cfg.AllowedPort); err != nil {
		return nil, err
	}
	lease, err := c.acquire(ctx, rawURL, sas, RestoreLeaseID)
	if err != nil {
		return nil, err
	}
	r := &Reader{c: c, ctx: ctx, url: rawURL, sas: sas, lease: lease}
	resp, err := c.do(ctx, http.MethodHead, rawURL, sas, nil, nil, nil)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("Get Blob Properties: %w", err)
	}
	drain(resp)
	r.size = resp.ContentLength
	return r, nil
}

// Size is the blob's length.
func (r *Reader) Size() int64 { return r.size }

// ReadAt reads with one ranged Get Blob. Reads do not carry the lease id:
// Azure serves reads of a leased blob without it, and no source says
// SQL Server sends it.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size) - 1
	resp, err := r.c.do(r.ctx, http.MethodGet, r.url, r.sas, nil,
		map[string]string{"x-ms-range": fmt.Sprintf("bytes=%d-%d", off, end)}, nil)
	if err != nil {
		return 0, fmt.Errorf("Get Blob: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.ReadFull(resp.Body, p[:end-off+1])
	if err == nil && int64(n) < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}

// Close releases the restore lease; later calls do nothing.
func (r *Reader) Close() error {
	if r.lease == "" {
		return nil
	}
	lease := r.lease
	r.lease = ""
	return r.c.release(r.url, r.sas, lease)
}
