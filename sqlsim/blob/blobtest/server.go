// Package blobtest is a small HTTPS endpoint in the Azure Blob dialect for
// tests: enough of Put Blob, Lease Blob, Put Block, Put Block List, Get Blob
// Properties, Get Blob and Delete Blob to take a simulated SQL Server's BACKUP ... TO URL
// and serve its RESTORE ... FROM URL. It records every request so a test
// can check the sequence, demands the Shared Access Signature it was given
// on every request, and enforces leases as Azure does (412 without the
// lease id). Its certificate is self-signed for the names it is given.
package blobtest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// Options set up a server.
type Options struct {
	// Name is the DNS name clients use; default "blob.sqlsim.test".
	Name string
	// CertNames are the names the certificate is valid for; default Name.
	CertNames []string
	// SAS is the token every request must carry in its query string;
	// default "sv=2022-11-02&sr=c&sp=rwdl&sig=sqlsim-test".
	SAS string
}

// Request is one request as the server saw it.
type Request struct {
	Method      string
	Blob        string // container/blob
	Comp        string // query comp=…, "" for Put Blob, Get Blob and HEAD
	BlockID     string
	LeaseAction string // x-ms-lease-action
	LeaseID     string // x-ms-lease-id
	LeaseDur    string // x-ms-lease-duration
	ProposedID  string // x-ms-proposed-lease-id
	ListBody    []byte // the body of a Put Block List, as sent
	BlobType    string // x-ms-blob-type
	Range       string // x-ms-range or Range
	Version     string // x-ms-version
	Size        int64  // body bytes
	Query       url.Values
	Status      int
}

type blob struct {
	data      []byte
	exists    bool
	lease     string
	blocks    map[string][]byte
	committed bool
}

// Server is a running endpoint.
type Server struct {
	Name   string         // DNS name of the endpoint
	IP     string         // address it listens on
	Port   int            // port it listens on
	CAPool *x509.CertPool // trusts the server's certificate
	CAPEM  []byte
	SAS    string

	l    net.Listener
	srv  *http.Server
	mu   sync.Mutex
	b    map[string]*blob
	reqs []Request
	fail func(Request) int
}

// Start listens on 127.0.0.1 on a free port.
func Start(o Options) (*Server, error) {
	if o.Name == "" {
		o.Name = "blob.sqlsim.test"
	}
	if len(o.CertNames) == 0 {
		o.CertNames = []string{o.Name}
	}
	if o.SAS == "" {
		o.SAS = "sv=2022-11-02&sr=c&sp=rwdl&sig=sqlsim-test"
	}
	cfg, pemBytes, err := tds.SelfSignedTLS(o.CertNames...)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Name: o.Name, IP: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, CAPool: pool, CAPEM: pemBytes, SAS: o.SAS,
		l: l, b: map[string]*blob{}}
	s.srv = &http.Server{Handler: s, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	go s.srv.Serve(tls.NewListener(l, cfg))
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Hosts maps the server's name to its address, for sqlsim.Config.Hosts.
func (s *Server) Hosts() map[string]string { return map[string]string{strings.ToLower(s.Name): s.IP} }

// ContainerURL is https://NAME[:PORT]/container (the port is left out
// when it is 443).
func (s *Server) ContainerURL(container string) string {
	if s.Port == 443 {
		return "https://" + s.Name + "/" + container
	}
	return fmt.Sprintf("https://%s:%d/%s", s.Name, s.Port, container)
}

// Requests returns the requests so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// Fail makes the server answer a request with the status f returns (0:
// serve it normally); nil stops failing.
func (s *Server) Fail(f func(Request) int) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// Blob returns a committed blob's content ("container/blob").
func (s *Server) Blob(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.b[name]
	if !ok || !b.exists {
		return nil, false
	}
	return b.data, true
}

// SetBlob replaces a blob's content (to simulate damage).
func (s *Server) SetBlob(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b[name] = &blob{data: data, exists: true, committed: true, blocks: map[string][]byte{}}
}

// Leased reports whether the blob holds a lease.
func (s *Server) Leased(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.b[name]
	return ok && b.lease != ""
}

// Lease puts a lease with id on an existing blob, as a client that died
// holding it would leave it; "" removes the lease.
func (s *Server) Lease(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.b[name]; ok {
		b.lease = id
	}
}

// BlobNames lists the blobs that exist.
func (s *Server) BlobNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, b := range s.b {
		if b.exists {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func azErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func newLeaseID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ServeHTTP implements the blob operations.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	q := r.URL.Query()
	rec := Request{Method: r.Method, Blob: strings.TrimPrefix(r.URL.Path, "/"), Comp: q.Get("comp"), BlockID: q.Get("blockid"),
		LeaseAction: r.Header.Get("x-ms-lease-action"), LeaseID: r.Header.Get("x-ms-lease-id"), LeaseDur: r.Header.Get("x-ms-lease-duration"),
		BlobType: r.Header.Get("x-ms-blob-type"), Range: r.Header.Get("x-ms-range"), Version: r.Header.Get("x-ms-version"),
		ProposedID: r.Header.Get("x-ms-proposed-lease-id"), Size: int64(len(body)), Query: q}
	if rec.Comp == "blocklist" {
		rec.ListBody = body
	}
	if rec.Range == "" {
		rec.Range = r.Header.Get("Range")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		s.reqs = append(s.reqs, rec)
	}()
	w = sw
	if s.fail != nil {
		if st := s.fail(rec); st != 0 {
			azErr(w, st, "InjectedFailure", "The test server was told to fail this request.")
			return
		}
	}
	want, _ := url.ParseQuery(s.SAS)
	for k := range want {
		if q.Get(k) != want.Get(k) {
			azErr(w, 403, "AuthenticationFailed", "Server failed to authenticate the request: the shared access signature is missing or wrong.")
			return
		}
	}
	if strings.Count(rec.Blob, "/") < 1 {
		azErr(w, 400, "InvalidUri", "The request URI is invalid.")
		return
	}
	b := s.b[rec.Blob]
	leaseOK := func() bool {
		if b != nil && b.lease != "" && rec.LeaseID != b.lease {
			if rec.LeaseID == "" {
				azErr(w, 412, "LeaseIdMissing", "There is currently a lease on the blob and no lease ID was specified in the request.")
			} else {
				azErr(w, 412, "LeaseIdMismatchWithBlobOperation", "The lease ID specified did not match the lease ID for the blob.")
			}
			return false
		}
		return true
	}
	switch {
	case r.Method == http.MethodPut && rec.Comp == "":
		if rec.BlobType != "BlockBlob" {
			azErr(w, 400, "InvalidHeaderValue", "x-ms-blob-type must be BlockBlob.")
			return
		}
		if !leaseOK() {
			return
		}
		lease := ""
		if b != nil {
			lease = b.lease
		}
		s.b[rec.Blob] = &blob{data: body, exists: true, committed: true, blocks: map[string][]byte{}, lease: lease}
		w.WriteHeader(201)
	case r.Method == http.MethodPut && rec.Comp == "lease":
		if b == nil || !b.exists {
			azErr(w, 404, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		switch rec.LeaseAction {
		case "Acquire":
			// Azure: a leased blob is acquired again only with its
			// current lease id as the proposed id.
			if b.lease != "" && r.Header.Get("x-ms-proposed-lease-id") != b.lease {
				azErr(w, 409, "LeaseAlreadyPresent", "There is already a lease present.")
				return
			}
			if d := rec.LeaseDur; d != "-1" {
				if n, err := strconv.Atoi(d); err != nil || n < 15 || n > 60 {
					azErr(w, 400, "InvalidHeaderValue", "x-ms-lease-duration must be -1 or 15 to 60.")
					return
				}
			}
			b.lease = r.Header.Get("x-ms-proposed-lease-id")
			if b.lease == "" {
				b.lease = newLeaseID()
			}
			w.Header().Set("x-ms-lease-id", b.lease)
			w.WriteHeader(201)
		case "Release", "Renew":
			if b.lease == "" || rec.LeaseID != b.lease {
				azErr(w, 409, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
				return
			}
			if rec.LeaseAction == "Release" {
				b.lease = ""
			}
			w.WriteHeader(200)
		case "Break":
			b.lease = ""
			w.WriteHeader(202)
		default:
			azErr(w, 400, "InvalidHeaderValue", "Unknown x-ms-lease-action.")
		}
	case r.Method == http.MethodPut && rec.Comp == "block":
		if !leaseOK() {
			return
		}
		if _, err := decodeID(rec.BlockID); err != nil || len(body) > 4000<<20 {
			azErr(w, 400, "InvalidQueryParameterValue", "blockid is not valid Base64.")
			return
		}
		if b == nil {
			b = &blob{blocks: map[string][]byte{}}
			s.b[rec.Blob] = b
		}
		b.blocks[rec.BlockID] = body
		w.WriteHeader(201)
	case r.Method == http.MethodPut && rec.Comp == "blocklist":
		if b == nil {
			azErr(w, 400, "InvalidBlockList", "The specified block list is invalid.")
			return
		}
		if !leaseOK() {
			return
		}
		list, err := parseBlockList(body)
		if err != nil {
			azErr(w, 400, "InvalidXmlDocument", "The block list is not valid XML.")
			return
		}
		var data []byte
		for _, it := range list.Items {
			blk, ok := b.blocks[strings.TrimSpace(it.ID)]
			if !ok {
				azErr(w, 400, "InvalidBlockList", "The specified block list is invalid.")
				return
			}
			data = append(data, blk...)
		}
		b.data, b.exists, b.committed, b.blocks = data, true, true, map[string][]byte{}
		w.WriteHeader(201)
	case r.Method == http.MethodHead && rec.Comp == "":
		if b == nil || !b.exists {
			w.Header().Set("x-ms-error-code", "BlobNotFound")
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.Header().Set("x-ms-blob-type", "BlockBlob")
		w.WriteHeader(200)
	case r.Method == http.MethodGet && rec.Comp == "":
		if b == nil || !b.exists {
			azErr(w, 404, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		from, to := int64(0), int64(len(b.data))-1
		if rec.Range != "" {
			var err error
			from, to, err = parseRange(rec.Range, int64(len(b.data)))
			if err != nil {
				azErr(w, 416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
				return
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(b.data)))
			w.Header().Set("Content-Length", strconv.FormatInt(to-from+1, 10))
			w.WriteHeader(206)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
			w.WriteHeader(200)
		}
		w.Write(b.data[from : to+1])
	case r.Method == http.MethodDelete && rec.Comp == "":
		if b == nil {
			azErr(w, 404, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		if !leaseOK() {
			return
		}
		delete(s.b, rec.Blob)
		w.WriteHeader(202)
	default:
		azErr(w, 405, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
	}
}

type blockList struct {
	Items []struct {
		XMLName xml.Name
		ID      string `xml:",chardata"`
	} `xml:",any"`
}

// parseBlockList reads a Put Block List body in any form Azure accepts
// from SQL Server: UTF-16 (little or big endian, with or without a BOM),
// UTF-8 with or without a BOM, whatever the declaration says (SQL Server
// on Linux sends UTF-8 that declares utf-16).
func parseBlockList(body []byte) (blockList, error) {
	var fallback transform.Transformer = transform.Nop
	switch {
	case len(body) >= 2 && body[0] == '<' && body[1] == 0:
		fallback = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case len(body) >= 2 && body[0] == 0 && body[1] == '<':
		fallback = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	}
	text, _, err := transform.Bytes(unicode.BOMOverride(fallback), body)
	var list blockList
	if err != nil {
		return list, err
	}
	d := xml.NewDecoder(bytes.NewReader(text))
	// The text is UTF-8 now, whatever the declaration says.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	err = d.Decode(&list)
	return list, err
}

func decodeID(id string) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("empty block id")
	}
	return io.ReadAll(base64Reader(id))
}

func parseRange(h string, size int64) (int64, int64, error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, fmt.Errorf("bad range")
	}
	a, b, _ := strings.Cut(spec, "-")
	from, err := strconv.ParseInt(a, 10, 64)
	if err != nil || from >= size {
		return 0, 0, fmt.Errorf("bad range")
	}
	to := size - 1
	if b != "" {
		if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
			return 0, 0, fmt.Errorf("bad range")
		}
		to = min(to, size-1)
	}
	return from, to, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(p)
}

func base64Reader(s string) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(s))
}
