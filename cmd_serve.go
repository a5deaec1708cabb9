package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
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
}

func (o *serveOptions) register(fs *flag.FlagSet, defAddr string) {
	fs.StringVar(&o.data, "data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory: catalog, vault and device certificates (env SQLVAULT_DATA)")
	fs.StringVar(&o.addr, "addr", envOr("SQLVAULT_ADDR", defAddr), "portal and API address (env SQLVAULT_ADDR)")
	fs.StringVar(&o.deviceAddr, "device-addr", envOr("SQLVAULT_DEVICE_ADDR", ":443"), "virtual device address; SQL Server reaches it on port 443 only (env SQLVAULT_DEVICE_ADDR)")
	fs.StringVar(&o.deviceName, "device-name", envOr("SQLVAULT_DEVICE_NAME", hostname()), "DNS name SQL Server uses for the device; its certificate is made for it (env SQLVAULT_DEVICE_NAME)")
	fs.StringVar(&o.logFormat, "log-format", envOr("SQLVAULT_LOG_FORMAT", "text"), "log format: text or json")
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

// serve opens the catalog, makes sure an admin exists and serves until ctx
// ends. ready, if set, is called with the portal's address once listening.
func serve(ctx context.Context, o serveOptions, log *slog.Logger, stdout io.Writer, ready func(addr string)) error {
	catalog, err := db.Open(ctx, o.data)
	if err != nil {
		return err
	}
	defer catalog.Close()
	if err := ensureAdmin(ctx, catalog, stdout); err != nil {
		return err
	}

	h := &handlers.Handlers{DB: catalog, Logger: log, Version: version, Throttle: auth.DefaultThrottle}
	srv := web.New(web.Config{Handlers: h, DB: catalog, Logger: log})
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("portal address: %w", err)
	}
	log.Info("sqlvault serving", "portal", "http://"+l.Addr().String(), "data", o.data, "version", version)
	if ready != nil {
		ready(l.Addr().String())
	}
	return srv.Serve(ctx, l)
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
