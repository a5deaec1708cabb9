package vdi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// certs is the device's own CA and the server certificate it issues for the
// device's DNS names. The CA is made once and kept in the data directory:
// SQL Server hosts import it into their trusted root store.
type certs struct {
	caPEM []byte
	tls   *tls.Certificate
}

// caLife is how long a new device CA is valid; docs/security.md says how
// to rotate it before it ends.
const caLife = 5 * 365 * 24 * time.Hour

// CA file names inside the device's certificate directory.
const (
	caCertFile = "device-ca.pem"
	caKeyFile  = "device-ca-key.pem"
)

func loadOrCreateCerts(dir string, names []string) (*certs, error) {
	caCert, caKey, caPEM, err := loadOrCreateCA(dir, names)
	if err != nil {
		return nil, err
	}
	leaf, err := issueChecked(dir, caCert, caKey, names)
	if err != nil {
		return nil, err
	}
	return &certs{caPEM: caPEM, tls: leaf}, nil
}

// IssueFromCA issues a server certificate for names (the portal's, for
// serve --tls-self-signed) from the device CA in dir. If there is no CA
// yet one is made, constrained to caNames, which must hold the device's
// names as well as these.
func IssueFromCA(dir string, caNames, names []string) (*tls.Certificate, error) {
	caCert, caKey, _, err := loadOrCreateCA(dir, caNames)
	if err != nil {
		return nil, err
	}
	return issueChecked(dir, caCert, caKey, names)
}

// loadOrCreateCA loads the CA in dir, or makes one whose Name Constraints
// permit only names (DNS names and IPs): a stolen CA key then cannot
// impersonate any other site to a host that trusts it. A CA made before
// constraints existed loads as it is.
func loadOrCreateCA(dir string, names []string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		return parseCA(certPEM, keyPEM)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sqlvault device CA", Organization: []string{"sqlvault"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLife),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	constrain(tmpl, names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, nil, fmt.Errorf("write device CA key: %w", err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return nil, nil, nil, err
	}
	return cert, key, certPEM, nil
}

func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, nil, errors.New("device CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	return cert, key, certPEM, err
}

// constrain sets critical Name Constraints (RFC 5280 4.2.1.10) permitting
// the DNS names (and their subdomains, as the RFC defines DNS
// constraints) and the exact IPs; with no IP among names every IP is
// excluded, since an absent IP constraint would permit them all.
func constrain(tmpl *x509.Certificate, names []string) {
	tmpl.PermittedDNSDomainsCritical = true
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			bits := 8 * len(ip.To16())
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		} else if n != "" && !slices.Contains(tmpl.PermittedDNSDomains, n) {
			tmpl.PermittedDNSDomains = append(tmpl.PermittedDNSDomains, n)
		}
	}
	if len(tmpl.PermittedIPRanges) == 0 {
		tmpl.ExcludedIPRanges = []*net.IPNet{{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, {IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
	}
}

// issueChecked issues a certificate for names, first refusing names the
// CA's constraints do not permit (clients would refuse the certificate,
// far from the cause) and a CA that has expired.
func issueChecked(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string) (*tls.Certificate, error) {
	if time.Now().After(ca.NotAfter) {
		return nil, fmt.Errorf("the device CA in %s expired on %s: rotate it (docs/security.md, \"Rotating the device CA\")",
			dir, ca.NotAfter.Format(time.DateOnly))
	}
	leaf, err := issue(ca, caKey, names)
	if err != nil {
		return nil, err
	}
	if err := verifyLeaf(ca, leaf, names); err != nil {
		return nil, fmt.Errorf("the device CA in %s may not issue for %v (it is constrained to the names it was made for: %v %v): "+
			"rotate it (docs/security.md, \"Rotating the device CA\"): %w", dir, names, ca.PermittedDNSDomains, ca.PermittedIPRanges, err)
	}
	return leaf, nil
}

// verifyLeaf checks the leaf against the CA as a client would, for every
// name.
func verifyLeaf(ca *x509.Certificate, leaf *tls.Certificate, names []string) error {
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, n := range names {
		if n == "" {
			continue
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: n, Roots: roots}); err != nil {
			return err
		}
	}
	return nil
}

// issue makes a server certificate for the names (DNS names or IPs),
// valid for a year or until the CA ends, whichever is first.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"sqlvault"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// loadUserCert loads a certificate and key the operator supplied (e.g. from
// the organisation's CA). It refuses a pair that does not match, a
// certificate not valid for the device name, or one already expired.
func loadUserCert(certFile, keyFile, name string) (*certs, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s and %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("%s expired on %s", certFile, leaf.NotAfter.Format(time.DateOnly))
	}
	pair.Leaf = leaf
	last := pair.Certificate[len(pair.Certificate)-1]
	return &certs{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: last}), tls: &pair}, nil
}
