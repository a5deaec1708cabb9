package vdi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// BenchOptions size a device benchmark.
type BenchOptions struct {
	Size      int    // bytes uploaded per run, split over the streams
	BlockSize int    // bytes per Put Block; default 4 MiB (SQL Server's MAXTRANSFERSIZE)
	Dir       string // the disk under test; default os.TempDir()
	Streams   []int  // default 1 and 4
	Codec     string // the vault's chunk compression; default zstd
	Vault     string // a bucket URL (s3://...) holding the vault instead of Dir
	// IngestCodec compresses blocks as they arrive (serve's default s2);
	// the bench then times the recompression to Codec.
	IngestCodec string
	// Compare, if set, runs the same client against another endpoint
	// too, interleaved with the device's runs (see benchCompare).
	Compare *CompareTarget
	Rounds  int // runs of each side per stream count with Compare; default 3
}

// benchResult is one run's figures.
type benchResult struct {
	ingest, reads float64 // MB/s
	stored        int64   // bytes held after ingest (after recompression, if any)
}

// Bench measures the device end to end over HTTPS on loopback: SQL
// Server's upload sequence (Put Blob, Lease, Put Block..., Put Block List,
// release) with 1 and 4 concurrent streams into a fresh vault, then
// ranged 4 MiB reads as RESTORE does. The client runs on the same
// machine, so it takes a share of the CPU (its TLS and the test data).
func Bench(ctx context.Context, w io.Writer, o BenchOptions) error {
	if o.BlockSize <= 0 {
		o.BlockSize = 4 << 20
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if len(o.Streams) == 0 {
		o.Streams = []int{1, 4}
	}
	if o.Compare != nil {
		return benchCompare(ctx, w, o)
	}
	fmt.Fprintf(w, "device over HTTPS (TLS 1.3, HTTP/1.1, loopback), vault codec %s (ingest %s), %d MiB blocks, %d MiB per run, vault in %s\n",
		cmpOr(o.Codec, vault.CodecZstd), cmpOr(o.IngestCodec, cmpOr(o.Codec, vault.CodecZstd)), o.BlockSize>>20, o.Size>>20, cmpOr(redactURL(o.Vault), "a directory under "+o.Dir))
	for _, streams := range o.Streams {
		data := newBenchData(streams, benchShare(o, streams), 100)
		_, err := benchRun(ctx, w, o, data)
		data.free()
		if err != nil {
			return err
		}
	}
	return nil
}

// benchRun uploads a blob per stream of data into a new vault through a
// new device, then reads them back in ranges.
func benchRun(ctx context.Context, w io.Writer, o BenchOptions, data benchData) (benchResult, error) {
	var res benchResult
	streams, share := len(data.streams), len(data.streams[0])
	dir, err := os.MkdirTemp(o.Dir, "sqlvault-devbench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	b, cleanup, err := benchBackend(ctx, o, dir)
	if err != nil {
		return res, err
	}
	defer cleanup()
	v, err := vault.Create(ctx, b, []byte("benchmark passphrase"), vault.Options{Codec: o.Codec, IngestCodec: o.IngestCodec})
	if err != nil {
		return res, err
	}
	defer v.Close()
	key := make([]byte, 32)
	rand.Read(key)
	const name = "bench.sqlvault.test"
	d, err := New(Config{Name: name, CertDir: filepath.Join(dir, "certs"), Store: VaultStore{V: v}, Key: key})
	if err != nil {
		return res, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	go d.Serve(l)
	defer d.Shutdown(context.Background())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CACertPEM())
	client := benchClient(pool, name, l.Addr().String())
	sas := d.IssueSAS("sqlvault", "rwd", time.Hour)
	blobURL := func(s int) string { return fmt.Sprintf("https://%s/sqlvault/bench/stripe%d.bak?%s", name, s, sas) }

	elapsed, err := benchStreams(streams, func(s int) error {
		return benchUpload(ctx, client, blobURL(s), data.blocks(s), share, o.BlockSize)
	})
	if err != nil {
		return res, err
	}
	res.ingest = vault.BenchRate(w, fmt.Sprintf("device ingest, %d stream(s)", streams), int64(share*streams), elapsed)
	if st, err := v.Stats(ctx); err == nil && st.StoredBytes > 0 {
		res.stored = st.StoredBytes
		fmt.Fprintf(w, "%-40s %9.1f MB (%.2fx smaller)\n", "  stored", float64(st.StoredBytes)/1e6, float64(share*streams)/float64(st.StoredBytes))
	}
	if err := benchRecompress(ctx, w, v); err != nil {
		return res, err
	}
	if st, err := v.Stats(ctx); err == nil && st.StoredBytes > 0 {
		res.stored = st.StoredBytes
	}
	elapsed, err = benchStreams(streams, func(s int) error { return benchRead(ctx, client, blobURL(s), share, o.BlockSize) })
	if err != nil {
		return res, err
	}
	res.reads = vault.BenchRate(w, fmt.Sprintf("device range reads (restore), %d stream(s)", streams), int64(share*streams), elapsed)
	return res, nil
}

// benchClient is the bench's HTTPS client, as SQL Server connects: HTTP/1.1
// over TLS, a connection per stream; addr, if set, replaces the URL's host
// when dialling (the device's name does not resolve).
func benchClient(roots *x509.CertPool, serverName, addr string) *http.Client {
	t := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: serverName},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 8,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	if addr != "" {
		t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: t}
}

// benchShare is the bytes each stream uploads: o.Size split over the
// streams, in whole blocks of whole pages.
func benchShare(o BenchOptions, streams int) int {
	share := (o.Size/streams + o.BlockSize - 1) / o.BlockSize * o.BlockSize
	return (share + 8191) &^ 8191
}

// benchStreams runs one(s) for each stream at once and times them all.
func benchStreams(streams int, one func(s int) error) (time.Duration, error) {
	errs := make([]error, streams)
	var wg sync.WaitGroup
	start := time.Now()
	for s := range streams {
		wg.Go(func() { errs[s] = one(s) })
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

func benchDo(ctx context.Context, c *http.Client, method, url string, body []byte, want int, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.Header.Set("x-ms-version", "2020-10-02")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		path, _, _ := strings.Cut(url, "?") // not the SAS
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	return resp, nil
}

// benchUpload sends a blob of size bytes as SQL Server does; block(off, n)
// gives the n bytes at off.
func benchUpload(ctx context.Context, c *http.Client, url string, block func(off, n int) []byte, size, blockSize int) error {
	resp, err := benchDo(ctx, c, "PUT", url, nil, 201, "x-ms-blob-type", "BlockBlob")
	if err != nil {
		return err
	}
	resp.Body.Close()
	// SQL Server capitalises the lease actions (sqlsim/blob's client; WAL-G's
	// proxy, internal/databases/sqlserver/blob/server.go, matches them exactly).
	resp, err = benchDo(ctx, c, "PUT", url+"&comp=lease", nil, 201, "x-ms-lease-action", "Acquire", "x-ms-lease-duration", "-1")
	if err != nil {
		return err
	}
	resp.Body.Close()
	lease := resp.Header.Get("x-ms-lease-id")
	var list strings.Builder
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for off := 0; off < size; off += blockSize {
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%036d", off/blockSize))
		resp, err := benchDo(ctx, c, "PUT", url+"&comp=block&blockid="+id, block(off, min(blockSize, size-off)), 201, "x-ms-lease-id", lease)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&list, "<Latest>%s</Latest>", id)
	}
	list.WriteString("</BlockList>")
	resp, err = benchDo(ctx, c, "PUT", url+"&comp=blocklist", []byte(list.String()), 201, "x-ms-lease-id", lease)
	if err != nil {
		return err
	}
	resp.Body.Close()
	resp, err = benchDo(ctx, c, "PUT", url+"&comp=lease", nil, 200, "x-ms-lease-action", "Release", "x-ms-lease-id", lease)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func benchRead(ctx context.Context, c *http.Client, url string, size, blockSize int) error {
	for off := 0; off < size; off += blockSize {
		resp, err := benchDo(ctx, c, "GET", url, nil, 206, "x-ms-range", fmt.Sprintf("bytes=%d-%d", off, min(off+blockSize, size)-1))
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if n != int64(min(blockSize, size-off)) {
			return fmt.Errorf("range at %d: %d bytes", off, n)
		}
	}
	return nil
}
