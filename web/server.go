// Package web assembles the HTTP server: echo, the middleware (request
// logs, recovery, metrics, authentication, roles, CSRF, body limits), the
// route table, embedded static files and graceful shutdown.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/handlers"
	"github.com/sqlvault/sqlvault/static"
)

// Config is what the server needs.
type Config struct {
	Handlers *handlers.Handlers
	DB       *db.DB
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// TLS, when set, serves the portal and API over HTTPS with it.
	TLS *tls.Config
	// TrustedProxies are the addresses whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; everyone else's are ignored.
	TrustedProxies []*net.IPNet
	// Metrics says where /metrics is served: MetricsPublic (default),
	// MetricsToken (an API token or session of any role) or MetricsElsewhere
	// (not on this server: see MetricsHandler).
	Metrics MetricsMode
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slow-loris); default 10 s. Tests shorten it.
	ReadHeaderTimeout time.Duration
}

// Server is the portal and API server.
type Server struct {
	echo     *echo.Echo
	http     *http.Server
	log      *slog.Logger
	handlers *handlers.Handlers
	tls      *tls.Config
	metrics  http.Handler
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor, e.SchemeExtractor = clientExtractors(cfg.TrustedProxies)
	h := cfg.Handlers
	if h.Hashing == nil {
		h.Hashing = auth.DefaultGate()
	}
	s := &Server{echo: e, log: cfg.Logger, handlers: h, tls: cfg.TLS}
	e.HTTPErrorHandler = s.errorHandler(h)

	m := newMetrics(cfg.Registry)
	e.Use(middleware.Recover())
	e.Use(s.requestLog())
	e.Use(m.middleware)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ReferrerPolicy: "same-origin",
		// Sent only on https requests (direct TLS or a trusted proxy's
		// X-Forwarded-Proto), never to a plain-HTTP client it would strand.
		HSTSMaxAge: 365 * 24 * 3600, HSTSExcludeSubdomains: true,
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
			"script-src 'self'; frame-ancestors 'none'",
	}))
	e.Use(middleware.BodyLimit("1M"))

	e.GET("/healthz", s.healthz(cfg.DB))
	e.GET("/static/*", staticHandler())

	a := &authenticator{db: cfg.DB, log: cfg.Logger}
	s.metrics = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	switch cfg.Metrics {
	case MetricsPublic:
		e.GET("/metrics", echo.WrapHandler(s.metrics))
	case MetricsToken:
		e.GET("/metrics", echo.WrapHandler(s.metrics), a.api, require(db.RoleReader))
	}

	routes(e, h, a, s.loginCSRF)

	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // .bak downloads stream for long
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         cfg.TLS,
	}
	return s
}

// MetricsMode is where /metrics is served.
type MetricsMode int

const (
	MetricsPublic    MetricsMode = iota // on the main address, no sign-in (the default)
	MetricsToken                        // on the main address, with an API token
	MetricsElsewhere                    // not on the main address
)

// MetricsHandler serves the Prometheus metrics, for a listener of its own.
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// clientExtractors decide a request's client address and scheme. The
// socket's are used unless the socket's peer is a trusted proxy; then
// X-Forwarded-For's nearest untrusted hop and X-Forwarded-Proto count.
// Loopback and private networks are trusted only if listed.
func clientExtractors(proxies []*net.IPNet) (echo.IPExtractor, echo.SchemeExtractor) {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect(), echo.ExtractSchemeDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range proxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), echo.ExtractSchemeFromHeaders(opts...)
}

// Handler is the server's http.Handler, for tests.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve serves on l (over TLS if configured) until ctx ends, then shuts down gracefully, letting
// requests in flight finish for up to 15 seconds.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- s.http.ServeTLS(l, "", "") // the certificate is in TLSConfig
		} else {
			errc <- s.http.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.http.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) healthz(d *db.DB) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := d.Ping(ctx); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "catalog": err.Error()})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}

func staticHandler() echo.HandlerFunc {
	fs := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	return func(c echo.Context) error {
		// Files are embedded and versioned by ?v=, so they may be cached.
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		fs.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

func (s *Server) requestLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRemoteIP: true, LogError: true,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/healthz" || p == "/metrics" || strings.HasPrefix(p, "/static/")
		},
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method), slog.String("uri", v.URI), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("remote", v.RemoteIP))
			return nil
		},
	})
}

// errorHandler answers API paths with the JSON error shape and pages with
// the portal's error page.
func (s *Server) errorHandler(h *handlers.Handlers) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status, msg = he.Code, http.StatusText(he.Code)
			if m, ok := he.Message.(string); ok {
				msg = m
			}
		} else {
			s.log.Error("request failed", "path", c.Request().URL.Path, "err", err)
		}
		if strings.HasPrefix(c.Request().URL.Path, "/api/") {
			handlers.APIErrorJSON(c, status, codeForStatus(status), msg)
			return
		}
		if status == http.StatusNotFound {
			h.NotFound(c)
			return
		}
		h.ErrorPage(c, status, http.StatusText(status), msg)
	}
}

func codeForStatus(status int) engine.Code {
	switch status {
	case http.StatusUnauthorized:
		return engine.CodeUnauthorized
	case http.StatusForbidden:
		return engine.CodeForbidden
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return engine.CodeNotFound
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return engine.CodeInvalidRequest
	case http.StatusTooManyRequests:
		return engine.CodeTooManyLogins
	}
	return engine.CodeInternal
}
