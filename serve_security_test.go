package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startIn starts the app on data dir with serve's flags.
func startIn(t *testing.T, data string, args ...string) (*app, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:0")
	base := []string{"--data", data, "--device-addr", "127.0.0.1:0", "--device-name", "vault.example.test"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	a, err := startApp(context.Background(), o, slog.New(slog.DiscardHandler), io.Discard)
	if a != nil && err == nil {
		t.Cleanup(a.close)
	}
	return a, err
}

// TestMissingVaultKeyStopsTheServer: with the vault there but vault.key
// gone, serve refuses to start, naming the key's path and the fix, and
// writes no new key (which could never open the vault).
func TestMissingVaultKeyStopsTheServer(t *testing.T) {
	t.Setenv("SQLVAULT_VAULT_PASSPHRASE", "")
	data := t.TempDir()
	a, err := startIn(t, data)
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	key := filepath.Join(data, "vault.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	_, err = startIn(t, data)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "copy the vault key back") {
		t.Fatalf("start without vault.key: %v, want a refusal naming %s and the fix", err, key)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("a new vault.key was written beside the existing vault (stat: %v)", err)
	}
}

// TestServeOverTLSWithMetricsApart: --tls-self-signed serves the portal
// over HTTPS with a certificate from the device CA (HSTS sent), and
// --metrics-addr moves /metrics off the portal onto its own address.
func TestServeOverTLSWithMetricsApart(t *testing.T) {
	t.Setenv("SQLVAULT_VAULT_PASSPHRASE", "")
	a, err := startIn(t, t.TempDir(), "--tls-self-signed", "--tls-names", "127.0.0.1", "--metrics-addr", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Serve(ctx, a.portal) }()
	defer func() { cancel(); <-done }()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.eng.device.CACertPEM())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	r, err := c.Get("https://" + a.portal.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("portal over TLS, trusting the device CA: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over TLS = %d, HSTS %q", r.StatusCode, r.Header.Get("Strict-Transport-Security"))
	}
	if r, err := c.Get("https://" + a.portal.Addr().String() + "/metrics"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics on the portal with --metrics-addr: %v %v, want 404", err, r)
	}
	r, err = http.Get("http://" + a.metrics.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), "sqlvault_http_requests_total") {
		t.Fatalf("metrics on --metrics-addr = %d", r.StatusCode)
	}
}

// TestCAExpiryWarned: a device CA ending within 90 days is logged at start
// with the way out; one further off is not.
func TestCAExpiryWarned(t *testing.T) {
	t.Setenv("SQLVAULT_VAULT_PASSPHRASE", "")
	a, err := startIn(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	caPEM := a.eng.device.CACertPEM()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if warnCAExpiry(log, caPEM, time.Now()) {
		t.Fatal("a new CA was warned about")
	}
	if !warnCAExpiry(log, caPEM, time.Now().AddDate(4, 11, 0)) || !strings.Contains(logs.String(), "Rotating the device CA") {
		t.Fatalf("a CA a month from its end was not warned about: %q", logs.String())
	}
}
