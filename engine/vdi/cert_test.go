package vdi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// writeUserCert makes a CA of "the organisation" and a server certificate
// it signed for names, written as PEM files the operator would supply.
func writeUserCert(t *testing.T, names ...string) (certFile, keyFile string, caPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caPEM, err := loadOrCreateCA(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := issue(ca, caKey, names)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range leaf.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kder, _ := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(certFile, chain, 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, caPEM
}

// TestUserSuppliedCertificate: with CertFile and KeyFile the device serves
// the operator's certificate, makes no CA of its own, and a client that
// trusts only the operator's CA connects.
func TestUserSuppliedCertificate(t *testing.T) {
	certFile, keyFile, caPEM := writeUserCert(t, "backup.corp.example")
	certDir := t.TempDir()
	d, err := New(Config{Name: "backup.corp.example", CertDir: certDir, CertFile: certFile, KeyFile: keyFile,
		Store: nil, Key: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.CACertPEM(), caPEM) {
		t.Fatal("CACertPEM is not the issuer of the supplied certificate")
	}
	if _, err := os.Stat(filepath.Join(certDir, "device-ca.pem")); err == nil {
		t.Fatal("the device made its own CA although a certificate was supplied")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve(l)
	defer d.Shutdown(context.Background())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "backup.corp.example"})
	if err != nil {
		t.Fatalf("TLS with the operator's CA: %v", err)
	}
	defer conn.Close()
	want, _ := tls.LoadX509KeyPair(certFile, keyFile)
	if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, want.Certificate[0]) {
		t.Fatal("the device served another certificate than the supplied one")
	}
}

func TestUserCertificateRefused(t *testing.T) {
	certFile, keyFile, _ := writeUserCert(t, "other.corp.example")
	otherCert, _, _ := writeUserCert(t, "backup.corp.example")
	key := bytes.Repeat([]byte{1}, 32)
	cases := map[string]Config{
		"certificate for another name": {Name: "backup.corp.example", CertFile: certFile, KeyFile: keyFile},
		"key of another certificate":   {Name: "backup.corp.example", CertFile: otherCert, KeyFile: keyFile},
		"certificate without key":      {Name: "backup.corp.example", CertFile: certFile},
		"missing file":                 {Name: "backup.corp.example", CertFile: certFile + ".nope", KeyFile: keyFile},
	}
	for name, cfg := range cases {
		cfg.Key, cfg.CertDir = key, t.TempDir()
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
