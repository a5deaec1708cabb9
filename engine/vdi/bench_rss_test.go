package vdi

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine/vault"
)

// serveRSSChild is the environment variable that makes the test binary
// the device process of TestServeMemoryUnderConcurrentBackups.
const serveRSSChild = "SQLVAULT_DEVICE_RSS_DIR"

// deviceReady is what the child tells the parent, in a file.
type deviceReady struct {
	Addr, SAS, CA string
}

// TestServeMemoryUnderConcurrentBackups: the device and vault as serve
// wires them (S2 ingest into a zstd vault on a directory) run in a child
// process and take 20 backups of 1 GiB at once over HTTPS from this one
// (SQL Server's request shape, 4 MiB blocks, fresh page-like data); the
// child's peak RSS (VmHWM) is reported and must stay under 1 GiB (453 MiB
// measured, docs/performance.md).
// SQLVAULT_BIG=1 only (20 GiB of data); SQLVAULT_RSS_BACKUPS and
// SQLVAULT_RSS_MIB change the count and the size of each.
func TestServeMemoryUnderConcurrentBackups(t *testing.T) {
	if dir := os.Getenv(serveRSSChild); dir != "" {
		if err := rssDevice(dir); err != nil {
			fmt.Println("error", err)
		}
		return
	}
	if os.Getenv("SQLVAULT_BIG") != "1" {
		t.Skip("20 GiB of backups: SQLVAULT_BIG=1")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read the peak RSS from")
	}
	backups, sizeMiB := envInt("SQLVAULT_RSS_BACKUPS", 20), envInt("SQLVAULT_RSS_MIB", 1024)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeMemoryUnderConcurrentBackups$")
	cmd.Env = append(os.Environ(), serveRSSChild+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready, err := waitReady(filepath.Join(dir, "ready.json"), cmd)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ready.CA))
	client := benchClient(pool, rssDeviceName, ready.Addr)
	size := sizeMiB << 20
	start := time.Now()
	_, err = benchStreams(backups, func(s int) error {
		url := fmt.Sprintf("https://%s/rss/b%02d.bak?%s", rssDeviceName, s, ready.SAS)
		return benchUpload(context.Background(), client, url, generated(vault.NewPageGen(uint64(5000+s)), 4<<20), size, 4<<20)
	})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	stdin.Close() // the child prints its peak RSS and exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	kib := int64(-1)
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
	}
	if kib < 0 {
		t.Fatalf("child output: %s", out.String())
	}
	t.Logf("%d concurrent backups of %d MiB over HTTPS in %s (%.1f MB/s): the device process's peak RSS %d MiB",
		backups, sizeMiB, elapsed.Round(time.Second), float64(backups*size)/1e6/elapsed.Seconds(), kib>>10)
	if kib > 1<<20 {
		t.Errorf("peak RSS %d MiB over the 1 GiB bound", kib>>10)
	}
}

const rssDeviceName = "rss.sqlvault.test"

// rssDevice serves a device over a new vault in dir until stdin closes,
// then prints its peak RSS.
func rssDevice(dir string) error {
	ctx := context.Background()
	b, err := vault.NewDirBackend(filepath.Join(dir, "vault"))
	if err != nil {
		return err
	}
	v, err := vault.Create(ctx, b, []byte("rss passphrase"), vault.Options{Codec: vault.CodecZstd, IngestCodec: vault.CodecS2})
	if err != nil {
		return err
	}
	defer v.Close()
	key := make([]byte, 32)
	rand.Read(key)
	d, err := New(Config{Name: rssDeviceName, CertDir: filepath.Join(dir, "certs"), Store: VaultStore{V: v}, Key: key})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go d.Serve(l)
	defer d.Shutdown(ctx)
	ready, _ := json.Marshal(deviceReady{Addr: l.Addr().String(), SAS: d.IssueSAS("rss", "rwd", 24*time.Hour), CA: string(d.CACertPEM())})
	if err := os.WriteFile(filepath.Join(dir, "ready.tmp"), ready, 0o600); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "ready.tmp"), filepath.Join(dir, "ready.json")); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			fmt.Println(sc.Text())
		}
	}
	return nil
}

// waitReady polls for the child's ready file (it appears whole, by rename).
func waitReady(path string, cmd *exec.Cmd) (deviceReady, error) {
	var r deviceReady
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err == nil {
			return r, json.Unmarshal(b, &r)
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	return r, fmt.Errorf("the device process did not start")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
