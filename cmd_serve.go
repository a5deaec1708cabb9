package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/web"
)

// serveOptions are the flags of serve, shared by demo.
type serveOptions struct {
	data       string
	addr       string
	deviceAddr string
	deviceName string
	logFormat  string
	vaultURL   string // directory or gocloud.dev bucket URL; default DATA/vault
	keyFile    string // vault passphrase file; default DATA/vault.key
	deviceCert string
	deviceKey  string
	perServer  int
}

func (o *serveOptions) register(fs *flag.FlagSet, defAddr string) {
	fs.StringVar(&o.data, "data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory: catalog, vault and device certificates (env SQLVAULT_DATA)")
	fs.StringVar(&o.addr, "addr", envOr("SQLVAULT_ADDR", defAddr), "portal and API address (env SQLVAULT_ADDR)")
	fs.StringVar(&o.deviceAddr, "device-addr", envOr("SQLVAULT_DEVICE_ADDR", ":443"), "virtual device address; SQL Server reaches it on port 443 only (env SQLVAULT_DEVICE_ADDR)")
	fs.StringVar(&o.deviceName, "device-name", envOr("SQLVAULT_DEVICE_NAME", hostname()), "DNS name SQL Server uses for the device; its certificate is made for it (env SQLVAULT_DEVICE_NAME)")
	fs.StringVar(&o.logFormat, "log-format", envOr("SQLVAULT_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&o.vaultURL, "vault", envOr("SQLVAULT_VAULT", ""), "vault location: a directory, or s3://, azblob://, gs:// bucket URL (default DATA/vault; env SQLVAULT_VAULT)")
	fs.StringVar(&o.keyFile, "vault-key-file", envOr("SQLVAULT_VAULT_KEY_FILE", ""), "file holding the vault passphrase (default DATA/vault.key, created on first start; env SQLVAULT_VAULT_KEY_FILE; SQLVAULT_VAULT_PASSPHRASE overrides)")
	fs.StringVar(&o.deviceCert, "device-cert", envOr("SQLVAULT_DEVICE_CERT", ""), "PEM certificate for the device instead of its own CA's (env SQLVAULT_DEVICE_CERT)")
	fs.StringVar(&o.deviceKey, "device-key", envOr("SQLVAULT_DEVICE_KEY", ""), "PEM private key of --device-cert (env SQLVAULT_DEVICE_KEY)")
	fs.IntVar(&o.perServer, "jobs-per-server", 4, "jobs run at once on one SQL Server instance")
}

func runServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:8080")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(o.logFormat)
	return serve(ctx, o, log, stdout, nil)
}

// serve opens the catalog, the vault and the device, makes sure an admin
// exists, starts the coordinator and serves until ctx ends. ready, if set,
// is called with the portal's address once listening.
func serve(ctx context.Context, o serveOptions, log *slog.Logger, stdout io.Writer, ready func(addr string)) error {
	catalog, err := db.Open(ctx, o.data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	if err := ensureAdmin(ctx, catalog, stdout); err != nil {
		return err
	}
	eng, err := openEngine(ctx, o, catalog, log)
	if err != nil {
		return err
	}
	defer eng.close()

	reg := newRegistry()
	coord := coordinator.New(coordinator.Config{DB: catalog, Vault: eng.vault, Device: eng.device, DeviceName: o.deviceName,
		Secrets: eng.secrets, Logger: log, PerInstance: o.perServer, Registry: reg})
	if err := coord.Start(ctx); err != nil {
		return err
	}
	defer coord.Stop()

	deviceL, err := net.Listen("tcp", o.deviceAddr)
	if err != nil {
		return fmt.Errorf("device address %s: %w (port 443 needs CAP_NET_BIND_SERVICE; see docs/device.md)", o.deviceAddr, err)
	}
	go eng.device.Serve(deviceL)
	defer eng.device.Shutdown(context.Background())

	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: version, Throttle: auth.DefaultThrottle}
	srv := web.New(web.Config{Handlers: h, DB: catalog, Logger: log, Registry: reg})
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("portal address: %w", err)
	}
	log.Info("sqlvault serving", "portal", "http://"+l.Addr().String(), "device", "https://"+o.deviceName+portSuffix(deviceL),
		"data", o.data, "version", version)
	if ready != nil {
		ready(l.Addr().String())
	}
	return srv.Serve(ctx, l)
}

func portSuffix(l net.Listener) string {
	if p := l.Addr().(*net.TCPAddr).Port; p != 443 {
		return ":" + strconv.Itoa(p)
	}
	return ""
}

// ensureAdmin creates the admin user on first start. Its password comes
// from SQLVAULT_ADMIN_PASSWORD, or is generated and printed once.
func ensureAdmin(ctx context.Context, catalog *db.DB, stdout io.Writer) error {
	n, err := catalog.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw, given := os.LookupEnv("SQLVAULT_ADMIN_PASSWORD")
	if !given || pw == "" {
		pw = auth.RandomPassword()
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if _, err := catalog.CreateUser(ctx, "admin", hash, db.RoleAdmin); err != nil {
		return err
	}
	if given {
		fmt.Fprintln(stdout, "Created user admin with the password from SQLVAULT_ADMIN_PASSWORD.")
	} else {
		fmt.Fprintf(stdout, "Created user admin with password %s (shown once; keep it).\n", pw)
	}
	return nil
}

func newLogger(format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
