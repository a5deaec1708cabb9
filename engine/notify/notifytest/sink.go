// Package notifytest holds local receivers for notification tests: an
// SMTP server (github.com/emersion/go-smtp) that keeps what it is sent,
// and a webhook that records its bodies.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the sink accepted.
type Mail struct {
	From string
	To   []string
	Data string
	TLS  bool // it came over an encrypted connection
	User string
}

// Sink is a local SMTP server.
type Sink struct {
	Port  int
	Roots *tls.Config // trusts the sink's certificate, when it has one
	Mails chan Mail
}

// SinkOptions choose the sink's security.
type SinkOptions struct {
	StartTLS           bool   // offer STARTTLS with a certificate for 127.0.0.1
	Username, Password string // require AUTH PLAIN with these
}

// StartSink listens on 127.0.0.1 until the test ends.
func StartSink(t testing.TB, o SinkOptions) *Sink {
	t.Helper()
	s := &Sink{Mails: make(chan Mail, 16)}
	srv := smtp.NewServer(backend{s, o})
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout = "127.0.0.1", 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = !o.StartTLS
	if o.StartTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.Roots = &tls.Config{RootCAs: pool}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

type backend struct {
	s *Sink
	o SinkOptions
}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, tlsOn := c.TLSConnectionState()
	return &session{b: b, conn: c, tls: tlsOn}, nil
}

type session struct {
	b    backend
	conn *smtp.Conn
	tls  bool
	user string
	m    Mail
}

func (s *session) AuthMechanisms() []string {
	if s.b.o.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.o.Username || pass != s.b.o.Password {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.o.Username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.m = Mail{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.m.Data, s.m.TLS, s.m.User = string(b), tlsOn, s.user
	s.b.s.Mails <- s.m
	return nil
}

func (s *session) Reset()        { s.m = Mail{} }
func (s *session) Logout() error { return nil }

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// Hook is a local webhook receiver.
type Hook struct {
	URL    string
	Bodies chan []byte
	calls  atomic.Int32
	fail   int // the first fail calls answer 503
}

// StartHook serves until the test ends; its first fail calls answer 503.
func StartHook(t testing.TB, fail int) *Hook {
	h := &Hook{Bodies: make(chan []byte, 16), fail: fail}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(h.calls.Add(1)) <= h.fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h.Bodies <- b
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// Calls is how many requests the hook received.
func (h *Hook) Calls() int { return int(h.calls.Load()) }
