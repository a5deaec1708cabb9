package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/web"
)

// webOptions are serve's flags for how the portal and API are reached:
// TLS, the proxies in front of them, and where /metrics is served.
type webOptions struct {
	tlsCert, tlsKey string
	tlsSelfSigned   bool
	tlsNames        string // comma-separated; default the device name
	proxies         []*net.IPNet
	metricsAddr     string
	metricsToken    bool
}

func (w *webOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&w.tlsCert, "tls-cert", envOr("SQLVAULT_TLS_CERT", ""), "PEM certificate (chain) for the portal and API: serve them over HTTPS (env SQLVAULT_TLS_CERT)")
	fs.StringVar(&w.tlsKey, "tls-key", envOr("SQLVAULT_TLS_KEY", ""), "PEM private key of --tls-cert (env SQLVAULT_TLS_KEY)")
	fs.BoolVar(&w.tlsSelfSigned, "tls-self-signed", false, "serve the portal over HTTPS with a certificate from the device CA (browsers must trust that CA: GET /api/v1/device/ca.crt)")
	fs.StringVar(&w.tlsNames, "tls-names", "", "comma-separated DNS names or IPs of the portal for --tls-self-signed (default the --device-name); a new device CA is constrained to these and the device name")
	fs.Func("trusted-proxy", "CIDR or IP of a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto are believed (repeatable); without it the socket's address counts", func(s string) error {
		n, err := parseCIDR(s)
		w.proxies = append(w.proxies, n)
		return err
	})
	fs.StringVar(&w.metricsAddr, "metrics-addr", envOr("SQLVAULT_METRICS_ADDR", ""), "serve /metrics on this HOST:PORT only, not on the portal's address (env SQLVAULT_METRICS_ADDR)")
	fs.BoolVar(&w.metricsToken, "metrics-require-token", false, "/metrics on the portal's address needs an API token (Authorization: Bearer, any role)")
}

func parseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP or CIDR", s)
		}
		bits := 8 * len(ip)
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}

// portalTLS is the portal's TLS configuration, nil for plain HTTP. A
// self-signed certificate comes from the device CA, so it runs before the
// device is made: a CA made now covers the portal's names and the device's.
func (o serveOptions) portalTLS() (*tls.Config, error) {
	w := o.web
	var cert tls.Certificate
	switch {
	case w.tlsSelfSigned && (w.tlsCert != "" || w.tlsKey != ""):
		return nil, errors.New("--tls-self-signed and --tls-cert/--tls-key exclude each other")
	case (w.tlsCert == "") != (w.tlsKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case w.tlsCert != "":
		c, err := tls.LoadX509KeyPair(w.tlsCert, w.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("portal certificate: %w", err)
		}
		cert = c
	case w.tlsSelfSigned:
		names := o.portalNames()
		c, err := vdi.IssueFromCA(filepath.Join(o.data, "device"), append([]string{o.deviceName}, names...), names)
		if err != nil {
			return nil, fmt.Errorf("portal certificate: %w", err)
		}
		cert = *c
	default:
		return nil, nil
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func (o serveOptions) portalNames() []string {
	var names []string
	for _, n := range strings.Split(o.web.tlsNames, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		names = []string{o.deviceName}
	}
	return names
}

// apply sets the web server's transport settings from the flags.
func (w webOptions) apply(cfg *web.Config, tlsCfg *tls.Config) {
	cfg.TLS, cfg.TrustedProxies = tlsCfg, w.proxies
	switch {
	case w.metricsAddr != "":
		cfg.Metrics = web.MetricsElsewhere
	case w.metricsToken:
		cfg.Metrics = web.MetricsToken
	}
}

// startMetrics serves /metrics on --metrics-addr, if given.
func (a *app) startMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.srv.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	go srv.Serve(l)
	a.metrics = l
	a.closers = append(a.closers, func() { srv.Close() })
	return nil
}

// warnCAExpiry logs, at every start, a device CA that ends within 90 days:
// SQL Server hosts must import its successor before then
// (docs/security.md, "Rotating the device CA").
func warnCAExpiry(log *slog.Logger, caPEM []byte, now time.Time) bool {
	b, _ := pem.Decode(caPEM)
	if b == nil {
		return false
	}
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil || ca.NotAfter.Sub(now) > 90*24*time.Hour {
		return false
	}
	log.Warn("the device CA expires soon: rotate it (docs/security.md, \"Rotating the device CA\")",
		"expires", ca.NotAfter.Format(time.DateOnly))
	return true
}
