package vdi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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
	fmt.Fprintf(w, "device over HTTPS (TLS 1.3, HTTP/1.1, loopback), vault codec %s, %d MiB blocks, %d MiB per run\n", cmpOr(o.Codec, vault.CodecZstd), o.BlockSize>>20, o.Size>>20)
	for _, streams := range o.Streams {
		if err := benchRun(ctx, w, o, streams); err != nil {
			return err
		}
	}
	return nil
}

func benchRun(ctx context.Context, w io.Writer, o BenchOptions, streams int) error {
	dir, err := os.MkdirTemp(o.Dir, "sqlvault-devbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := vault.NewDirBackend(filepath.Join(dir, "vault"))
	if err != nil {
		return err
	}
	v, err := vault.Create(ctx, b, []byte("benchmark passphrase"), vault.Options{Codec: o.Codec})
	if err != nil {
		return err
	}
	defer v.Close()
	key := make([]byte, 32)
	rand.Read(key)
	const name = "bench.sqlvault.test"
	d, err := New(Config{Name: name, CertDir: filepath.Join(dir, "certs"), Store: VaultStore{V: v}, Key: key})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go d.Serve(l)
	defer d.Shutdown(context.Background())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CACertPEM())
	addr := l.Addr().String()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 8,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}}
	sas := d.IssueSAS("sqlvault", "rwd", time.Hour)
	blobURL := func(s int) string { return fmt.Sprintf("https://%s/sqlvault/bench/stripe%d.bak?%s", name, s, sas) }

	share := (o.Size/streams + o.BlockSize - 1) / o.BlockSize * o.BlockSize
	share = (share + 8191) &^ 8191
	errs := make([]error, streams)
	var wg sync.WaitGroup
	start := time.Now()
	for s := range streams {
		wg.Go(func() {
			errs[s] = benchUpload(ctx, client, blobURL(s), vault.NewPageGen(uint64(100+s)), share, o.BlockSize)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	vault.BenchRate(w, fmt.Sprintf("device ingest, %d stream(s)", streams), int64(share*streams), elapsed)

	start = time.Now()
	for s := range streams {
		wg.Go(func() { errs[s] = benchRead(ctx, client, blobURL(s), share, o.BlockSize) })
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	vault.BenchRate(w, fmt.Sprintf("device range reads (restore), %d stream(s)", streams), int64(share*streams), elapsed)
	return nil
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
		return nil, fmt.Errorf("%s %s: %d %s", method, url[:strings.IndexByte(url, '?')], resp.StatusCode, msg)
	}
	return resp, nil
}

func benchUpload(ctx context.Context, c *http.Client, url string, gen *vault.PageGen, size, blockSize int) error {
	resp, err := benchDo(ctx, c, "PUT", url, nil, 201, "x-ms-blob-type", "BlockBlob")
	if err != nil {
		return err
	}
	resp.Body.Close()
	resp, err = benchDo(ctx, c, "PUT", url+"&comp=lease", nil, 201, "x-ms-lease-action", "acquire", "x-ms-lease-duration", "-1")
	if err != nil {
		return err
	}
	resp.Body.Close()
	lease := resp.Header.Get("x-ms-lease-id")
	buf := make([]byte, blockSize)
	var list strings.Builder
	list.WriteString(`<?xml version="1.0" encoding="utf-8"?><BlockList>`)
	for off := 0; off < size; off += blockSize {
		gen.Fill(buf, int64(off))
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%036d", off/blockSize))
		resp, err := benchDo(ctx, c, "PUT", url+"&comp=block&blockid="+id, buf, 201, "x-ms-lease-id", lease)
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
	resp, err = benchDo(ctx, c, "PUT", url+"&comp=lease", nil, 200, "x-ms-lease-action", "release", "x-ms-lease-id", lease)
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
