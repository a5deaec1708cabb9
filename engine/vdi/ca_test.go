package vdi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCA(t *testing.T, dir string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	certPEM, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, caKeyFile))
	cert, key, _, err := parseCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestDeviceCAIsConstrained: a new device CA lives at most 5 years and
// carries critical Name Constraints for the device's names, so that even
// its key, stolen, cannot make a certificate a client accepts for another
// site; a device name outside them is refused at start with the fix.
func TestDeviceCAIsConstrained(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{1}, 32)
	if _, err := New(Config{Name: "backup.corp.example", AltNames: []string{"10.1.2.3"}, CertDir: dir, Key: key}); err != nil {
		t.Fatal(err)
	}
	ca, caKey := readCA(t, dir)
	if life := ca.NotAfter.Sub(ca.NotBefore); life > caLife+2*time.Hour {
		t.Errorf("CA life %v, want at most 5 years", life)
	}
	if !ca.PermittedDNSDomainsCritical || len(ca.PermittedDNSDomains) != 1 || ca.PermittedDNSDomains[0] != "backup.corp.example" {
		t.Errorf("DNS constraints %v (critical %v), want only backup.corp.example, critical", ca.PermittedDNSDomains, ca.PermittedDNSDomainsCritical)
	}
	if len(ca.PermittedIPRanges) != 1 || ca.PermittedIPRanges[0].String() != "10.1.2.3/32" {
		t.Errorf("IP constraints %v, want 10.1.2.3/32", ca.PermittedIPRanges)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"backup.corp.example", "10.1.2.3", "www.bank.example", "10.9.9.9"} {
		leaf, err := issue(ca, caKey, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(leaf.Certificate[0])
		_, err = cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots})
		allowed := name == "backup.corp.example" || name == "10.1.2.3"
		if allowed != (err == nil) {
			t.Errorf("a certificate the CA key signed for %s: verify error %v, want allowed=%v", name, err, allowed)
		}
	}
	_, err := New(Config{Name: "renamed.corp.example", CertDir: dir, Key: key})
	if err == nil || !strings.Contains(err.Error(), "Rotating the device CA") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a device name outside the CA's constraints: %v, want a refusal naming the CA and the rotation", err)
	}
}

// TestUnconstrainedCAKeepsWorking: a CA made before constraints existed
// still issues for any device name.
func TestUnconstrainedCAKeepsWorking(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "sqlvault device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	kder, _ := x509.MarshalECPrivateKey(k)
	os.WriteFile(filepath.Join(dir, caCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	for _, name := range []string{"one.example", "two.example"} {
		if _, err := New(Config{Name: name, CertDir: dir, Key: bytes.Repeat([]byte{1}, 32)}); err != nil {
			t.Fatalf("legacy CA, device %s: %v", name, err)
		}
	}
}

// TestPortalCertificateFromDeviceCA: serve --tls-self-signed issues the
// portal's certificate from the device CA; made first, the CA covers both
// the portal's and the device's names, so the device starts on it too.
func TestPortalCertificateFromDeviceCA(t *testing.T) {
	dir := t.TempDir()
	leaf, err := IssueFromCA(dir, []string{"backup.corp.example", "portal.corp.example"}, []string{"portal.corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := readCA(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	cert, _ := x509.ParseCertificate(leaf.Certificate[0])
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "portal.corp.example", Roots: roots}); err != nil {
		t.Fatalf("portal certificate: %v", err)
	}
	if _, err := New(Config{Name: "backup.corp.example", CertDir: dir, Key: bytes.Repeat([]byte{1}, 32)}); err != nil {
		t.Fatalf("device on the CA made for the portal: %v", err)
	}
	if _, err := IssueFromCA(dir, nil, []string{"elsewhere.example"}); err == nil {
		t.Fatal("issued a portal certificate outside the CA's constraints")
	}
}
