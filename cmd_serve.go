package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/web"
)

// serveOptions are the flags of serve, shared by demo.
type serveOptions struct {
	data       string
	addr       string
	deviceAddr string
	deviceName string
	// devicePublicPort is the port SQL Server is told (443 unless the
	// device sits behind a forward); 0 follows the listener, which only
	// demo mode allows (anyDevicePort).
	devicePublicPort int
	anyDevicePort    bool
	logFormat        string
	vaultURL         string // directory or gocloud.dev bucket URL; default DATA/vault
	keyFile          string // vault passphrase file; default DATA/vault.key
	deviceCert       string
	deviceKey        string
	perServer        int
	jobs             int // jobs run at once in all
	logsPerServer    int // log backups run at once on one instance, beside perServer
	logs             int // log backups run at once in all, beside jobs
	webhook          string
	codec            string        // chunk compression of a new vault
	ingestCodec      string        // chunk compression as backups arrive; recompressed to codec when idle
	limits           policy.Limits // policy bounds; demo relaxes them
	web              webOptions    // TLS, trusted proxies, metrics (cmd_serve_web.go)
	newCatalog       bool          // start on an empty catalog beside a vault with points
}

func (o *serveOptions) register(fs *flag.FlagSet, defAddr string) {
	fs.StringVar(&o.data, "data", envOr("SQLVAULT_DATA", "sqlvault-data"), "data directory: catalog, vault and device certificates (env SQLVAULT_DATA)")
	fs.StringVar(&o.addr, "addr", envOr("SQLVAULT_ADDR", defAddr), "portal and API address (env SQLVAULT_ADDR)")
	fs.StringVar(&o.deviceAddr, "device-addr", envOr("SQLVAULT_DEVICE_ADDR", ":443"), "virtual device address; SQL Server reaches it on port 443 only (env SQLVAULT_DEVICE_ADDR)")
	fs.IntVar(&o.devicePublicPort, "device-public-port", 443, "port SQL Server is told in every URL and credential; the device may listen elsewhere behind a port forward, a container mapping or a load balancer. SQL Server's BACKUP TO URL uses 443 only")
	fs.BoolVar(&o.anyDevicePort, "lab-any-device-port", false, "labs and tests only: allow a --device-public-port other than 443 (real SQL Server refuses such URLs; sqlsim can be told to accept them)")
	fs.StringVar(&o.deviceName, "device-name", envOr("SQLVAULT_DEVICE_NAME", hostname()), "DNS name SQL Server uses for the device; its certificate is made for it (env SQLVAULT_DEVICE_NAME)")
	fs.StringVar(&o.logFormat, "log-format", envOr("SQLVAULT_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&o.vaultURL, "vault", envOr("SQLVAULT_VAULT", ""), "vault location: a directory, or s3://, azblob://, gs:// bucket URL (default DATA/vault; env SQLVAULT_VAULT)")
	fs.StringVar(&o.keyFile, "vault-key-file", envOr("SQLVAULT_VAULT_KEY_FILE", ""), "file holding the vault passphrase (default DATA/vault.key, created on first start; env SQLVAULT_VAULT_KEY_FILE; SQLVAULT_VAULT_PASSPHRASE overrides)")
	fs.StringVar(&o.ingestCodec, "vault-ingest-compression", envOr("SQLVAULT_VAULT_INGEST_COMPRESSION", "s2"), "chunk compression as backups arrive: s2 (fast; the vault rewrites those packs in its own compression after a quiet minute) or zstd (in line, slower backups, no rewrite) (env SQLVAULT_VAULT_INGEST_COMPRESSION)")
	fs.StringVar(&o.codec, "vault-compression", envOr("SQLVAULT_VAULT_COMPRESSION", "zstd"), "chunk compression of a NEW vault: zstd (smaller) or s2 (about twice the ingest speed); an existing vault keeps its own (env SQLVAULT_VAULT_COMPRESSION)")
	fs.StringVar(&o.deviceCert, "device-cert", envOr("SQLVAULT_DEVICE_CERT", ""), "PEM certificate for the device instead of its own CA's (env SQLVAULT_DEVICE_CERT)")
	fs.StringVar(&o.deviceKey, "device-key", envOr("SQLVAULT_DEVICE_KEY", ""), "PEM private key of --device-cert (env SQLVAULT_DEVICE_KEY)")
	fs.IntVar(&o.perServer, "jobs-per-server", 4, "jobs run at once on one SQL Server instance")
	fs.IntVar(&o.jobs, "jobs", 8, "jobs run at once in all, over every instance")
	fs.IntVar(&o.logsPerServer, "log-jobs-per-server", 4, "log backups run at once on one instance, in slots of their own beside --jobs-per-server so fulls cannot delay them")
	fs.IntVar(&o.logs, "log-jobs", 8, "log backups run at once in all, in slots of their own beside --jobs")
	fs.StringVar(&o.webhook, "alert-webhook", envOr("SQLVAULT_ALERT_WEBHOOK", ""), "URL that receives every new alert as a JSON POST (env SQLVAULT_ALERT_WEBHOOK)")
	fs.BoolVar(&o.newCatalog, "new-catalog", false, "start even though the catalog is empty and the vault holds recovery points (otherwise refused: run sqlvault vault rebuild-catalog)")
	o.web.register(fs)
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

// app is a started server: catalog, engine, coordinator and listeners.
type app struct {
	catalog *db.DB
	eng     *engineParts
	coord   *coordinator.Coordinator
	device  net.Listener
	portal  net.Listener
	metrics net.Listener // --metrics-addr, if given
	srv     *web.Server
	log     *slog.Logger
	closers []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// startApp opens the catalog, the vault and the device, makes sure an
// admin exists, starts the coordinator and binds both listeners.
func startApp(ctx context.Context, o serveOptions, log *slog.Logger, stdout io.Writer) (_ *app, err error) {
	a := &app{log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := o.checkDevicePort(); err != nil {
		return nil, err
	}
	if a.catalog, err = db.Open(ctx, o.data); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { a.catalog.Close() })
	if err := ensureAdmin(ctx, a.catalog, stdout); err != nil {
		return nil, err
	}
	portalTLS, err := o.portalTLS()
	if err != nil {
		return nil, err
	}
	if a.eng, err = openEngine(ctx, o, a.catalog, log); err != nil {
		return nil, err
	}
	warnCAExpiry(log, a.eng.device.CACertPEM(), time.Now())
	a.closers = append(a.closers, a.eng.close)
	if err := refuseEmptyCatalog(ctx, a.catalog, a.eng.vault, o.newCatalog); err != nil {
		return nil, err
	}
	if a.device, err = net.Listen("tcp", o.deviceAddr); err != nil {
		return nil, fmt.Errorf("device address %s: %w (port 443 needs CAP_NET_BIND_SERVICE; see docs/device.md)", o.deviceAddr, err)
	}
	a.eng.device.Listening(a.device)
	go a.eng.device.Serve(a.device)
	a.closers = append(a.closers, func() { a.eng.device.Shutdown(context.Background()) })

	reg := newRegistry()
	a.coord = coordinator.New(coordinator.Config{DB: a.catalog, Vault: a.eng.vault, Device: a.eng.device, DeviceName: o.deviceName,
		Secrets: a.eng.secrets, Logger: log, PerInstance: o.perServer, Global: o.jobs, LogsPerInstance: o.logsPerServer, Logs: o.logs, Registry: reg, Limits: o.limits, Hook: crashHook(), Webhook: o.webhook})
	if err := a.coord.Start(ctx); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.coord.Stop)

	h := &handlers.Handlers{DB: a.catalog, Coord: a.coord, Logger: log, Version: version, Throttle: auth.DefaultThrottle}
	wcfg := web.Config{Handlers: h, DB: a.catalog, Logger: log, Registry: reg}
	o.web.apply(&wcfg, portalTLS)
	a.srv = web.New(wcfg)
	if a.portal, err = net.Listen("tcp", o.addr); err != nil {
		return nil, fmt.Errorf("portal address: %w", err)
	}
	if err := a.startMetrics(o.web.metricsAddr); err != nil {
		a.portal.Close()
		return nil, err
	}
	scheme := "http://"
	if portalTLS != nil {
		scheme = "https://"
	}
	log.Info("sqlvault serving", "portal", scheme+a.portal.Addr().String(), "metrics", o.web.metricsAddr,
		"device", a.eng.device.ContainerURL(""), "device_listens", a.device.Addr().String(), "data", o.data, "version", version)
	return a, nil
}

// serve runs the server until ctx ends. ready, if set, is called with the
// portal's address once listening.
func serve(ctx context.Context, o serveOptions, log *slog.Logger, stdout io.Writer, ready func(addr string)) error {
	a, err := startApp(ctx, o, log, stdout)
	if err != nil {
		return err
	}
	defer a.close()
	if ready != nil {
		ready(a.portal.Addr().String())
	}
	return a.srv.Serve(ctx, a.portal)
}

// checkDevicePort refuses a device whose URLs SQL Server would refuse:
// BACKUP TO URL accepts the default HTTPS port only, so any other public
// port fails every backup with an error far from its cause.
func (o serveOptions) checkDevicePort() error {
	if o.anyDevicePort || o.devicePublicPort == 443 {
		return nil
	}
	if o.devicePublicPort < 0 || o.devicePublicPort > 65535 {
		return fmt.Errorf("--device-public-port %d is not a port", o.devicePublicPort)
	}
	return fmt.Errorf("--device-public-port %d: SQL Server's BACKUP TO URL reaches a device on port 443 only, so every backup URL carrying :%d would be refused; "+
		"leave it at 443 and forward 443 to --device-addr (see docs/device.md)", o.devicePublicPort, o.devicePublicPort)
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
