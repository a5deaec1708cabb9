package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// startWith starts the app with serve's flags as a user would give them.
func startWith(t *testing.T, args ...string) (*app, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:0")
	base := []string{"--data", t.TempDir(), "--device-addr", "127.0.0.1:0", "--device-name", "vault.example.test"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	a, err := startApp(context.Background(), o, slog.New(slog.DiscardHandler), io.Discard)
	if a != nil {
		t.Cleanup(a.close)
	}
	return a, err
}

// SQL Server's BACKUP TO URL reaches port 443 only: the device may listen
// anywhere, but every URL it hands out names 443 (left out).
func TestDeviceURLsCarryPort443WhereverItListens(t *testing.T) {
	a, err := startWith(t)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.eng.device.BlobURL("job-1", "db.bak"), "https://vault.example.test/job-1/db.bak"; got != want {
		t.Errorf("device listening on %s hands out %s, want %s", a.device.Addr(), got, want)
	}
}

func TestServeRefusesAPublicPortSQLServerWouldRefuse(t *testing.T) {
	_, err := startWith(t, "--device-public-port", "8443")
	if err == nil {
		t.Fatal("serve accepted --device-public-port 8443")
	}
	for _, want := range []string{"8443", "443 only", "forward"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}

func TestLabAllowsAnotherPublicPort(t *testing.T) {
	a, err := startWith(t, "--device-public-port", "8443", "--lab-any-device-port")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.eng.device.ContainerURL("job-2"), "https://vault.example.test:8443/job-2"; got != want {
		t.Errorf("URL %s, want %s", got, want)
	}
}
