package tds

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHandler is a tiny engine: it accepts user "sa" with password "Secret#1"
// and answers a few fixed statements.
type testHandler struct {
	mu       sync.Mutex
	logins   []LoginRequest
	sessions []*testSession
	release  chan struct{} // lets the "run progress" statement finish
	once     sync.Once
}

func (h *testHandler) releaseProgress() { h.once.Do(func() { close(h.release) }) }

func newTestHandler() *testHandler { return &testHandler{release: make(chan struct{})} }

func (h *testHandler) ServerName() string { return "SQLSIMTEST" }

func (h *testHandler) Login(ctx context.Context, req LoginRequest) (Session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logins = append(h.logins, req)
	if req.User != "sa" || req.Password != "Secret#1" {
		return nil, LoginFailed(req.User)
	}
	db := req.Database
	if db == "" {
		db = "master"
	}
	s := &testSession{h: h, db: db}
	h.sessions = append(h.sessions, s)
	return s, nil
}

func (h *testHandler) lastLogin() LoginRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logins[len(h.logins)-1]
}

type testSession struct {
	h  *testHandler
	db string

	mu         sync.Mutex
	lastParams []Param
	cancelled  bool
	txEvents   []string
}

func (s *testSession) Database() string { return s.db }
func (s *testSession) Close()           {}

func (s *testSession) BeginTx(context.Context, string) error { s.event("begin"); return nil }
func (s *testSession) CommitTx(context.Context) error        { s.event("commit"); return nil }
func (s *testSession) RollbackTx(context.Context) error      { s.event("rollback"); return nil }

func (s *testSession) event(e string) {
	s.mu.Lock()
	s.txEvents = append(s.txEvents, e)
	s.mu.Unlock()
}

// Values the "select types" statement returns.
var (
	bigLSN     = mustBig("12345678901234567890123") // beyond int64, within numeric(25,0)
	testGUID   = [16]byte{0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF}
	testTime   = time.Date(2024, 3, 5, 13, 14, 15, 123456700, time.UTC)
	longString = strings.Repeat("Grüße, 世界! ", 10000)
	longBytes  = bytes.Repeat([]byte{0, 1, 2, 3, 254, 255}, 40000)
)

func mustBig(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return v
}

var typeColumns = []Column{
	{Name: "b", Type: TypeBit, Nullable: true},
	{Name: "ti", Type: TypeTinyInt, Nullable: true},
	{Name: "si", Type: TypeSmallInt, Nullable: true},
	{Name: "i", Type: TypeInt, Nullable: true},
	{Name: "bi", Type: TypeBigInt, Nullable: true},
	{Name: "f", Type: TypeFloat, Nullable: true},
	{Name: "lsn", Type: TypeNumeric, Precision: 25, Nullable: true},
	{Name: "lsn2", Type: TypeDecimal, Precision: 25, Nullable: true},
	{Name: "dec", Type: TypeDecimal, Precision: 10, Scale: 3, Nullable: true},
	{Name: "nv", Type: TypeNVarChar, Length: 128, Nullable: true},
	{Name: "nvmax", Type: TypeNVarChar, Length: -1, Nullable: true},
	{Name: "dt", Type: TypeDateTime, Nullable: true},
	{Name: "dt2", Type: TypeDateTime2, Scale: 7, Nullable: true},
	{Name: "g", Type: TypeUniqueIdentifier, Nullable: true},
	{Name: "vb", Type: TypeVarBinary, Length: 16, Nullable: true},
	{Name: "vbmax", Type: TypeVarBinary, Length: -1, Nullable: true},
	{Name: "dto", Type: TypeDateTimeOffset, Scale: 7, Nullable: true},
	{Name: "d", Type: TypeDate, Nullable: true},
	{Name: "vc", Type: TypeVarChar, Length: 20, Nullable: true},
}

func (s *testSession) Exec(ctx context.Context, sql string, params []Param, w ResultWriter) error {
	s.mu.Lock()
	s.lastParams = params
	s.mu.Unlock()
	sql = strings.TrimSpace(sql)
	switch {
	case strings.EqualFold(sql, "select 1;"), strings.EqualFold(sql, "select 1"):
		w.Columns([]Column{{Name: "", Type: TypeInt}})
		w.Row(int64(1))
		return w.Done(1, true)
	case sql == "select types":
		w.Columns(typeColumns)
		dec, _ := DecimalFromBig(bigLSN, 0)
		zone := time.FixedZone("", -(5*3600 + 30*60))
		if err := w.Row(true, int64(255), int64(-32768), int64(-2147483648), int64(9223372036854775807),
			3.25, dec, DecimalFromUint64(25000000012300001, 0), DecimalFromInt64(-1234567, 3),
			"héllo", longString, testTime, testTime, testGUID, []byte{1, 2, 3}, longBytes,
			testTime.In(zone), testTime, "latin é"); err != nil {
			return err
		}
		nulls := make([]any, len(typeColumns))
		if err := w.Row(nulls...); err != nil {
			return err
		}
		return w.Done(2, true)
	case sql == "select echo":
		// One column per parameter, in the parameter's own type.
		cols := make([]Column, len(params))
		vals := make([]any, len(params))
		for i, p := range params {
			cols[i] = p.Type
			cols[i].Name = strings.TrimPrefix(p.Name, "@")
			vals[i] = p.Value
		}
		if err := w.Columns(cols); err != nil {
			return err
		}
		if err := w.Row(vals...); err != nil {
			return err
		}
		return w.Done(1, true)
	case sql == "raise error":
		w.Message(Message{Number: 208, State: 1, Class: 16, Line: 1, Text: "Invalid object name 'nope'."})
		return w.Done(0, false)
	case sql == "wait block":
		<-ctx.Done()
		s.mu.Lock()
		s.cancelled = true
		s.mu.Unlock()
		return ctx.Err()
	case sql == "run progress":
		for _, pct := range []int{10, 20} {
			w.Message(Message{Number: 3211, State: 1, Class: 0, Text: fmt.Sprintf("%d percent processed.", pct)})
			if err := w.Flush(); err != nil {
				return err
			}
			if pct == 10 {
				select {
				case <-s.h.release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		w.Message(Message{Number: 3014, State: 1, Class: 0, Text: "BACKUP DATABASE successfully processed 1 pages."})
		return w.Done(0, false)
	case strings.HasPrefix(sql, "use "):
		s.db = strings.TrimPrefix(sql, "use ")
		w.ChangeDatabase(s.db)
		return w.Done(0, false)
	case sql == "db_name()":
		w.Columns([]Column{{Name: "", Type: TypeNVarChar, Length: 128}})
		w.Row(s.db)
		return w.Done(1, true)
	case strings.HasPrefix(sql, "rows "):
		var n int
		fmt.Sscanf(sql, "rows %d", &n)
		w.Columns([]Column{{Name: "n", Type: TypeInt}, {Name: "s", Type: TypeNVarChar, Length: 100}})
		for i := 0; i < n; i++ {
			if err := w.Row(int64(i), fmt.Sprintf("row %d", i)); err != nil {
				return err
			}
		}
		return w.Done(int64(n), true)
	case strings.HasPrefix(sql, "--len"):
		w.Columns([]Column{{Name: "", Type: TypeBigInt}})
		w.Row(int64(len([]rune(sql))))
		return w.Done(1, true)
	case sql == "set outputs":
		// Each OUTPUT parameter gets its input value doubled (numbers) or
		// suffixed (strings), through the optional OutputSetter.
		for _, p := range params {
			if !p.Output {
				continue
			}
			var v any
			switch x := p.Value.(type) {
			case int64:
				v = 2 * x
			case string:
				v = x + "!"
			}
			if err := w.(OutputSetter).SetOutput(p.Name, v); err != nil {
				return err
			}
		}
		return w.Done(0, false)
	case sql == "select variants":
		// As SERVERPROPERTY answers: one sql_variant per value.
		vals := []any{"15.0.2000.5", int64(1), int64(1) << 40, true, 2.5, testTime,
			DecimalFromInt64(-12345, 2), []byte{1, 2}, testGUID, nil}
		cols := make([]Column, len(vals))
		for i := range cols {
			cols[i] = Column{Name: fmt.Sprintf("v%d", i), Type: TypeVariant, Nullable: true}
		}
		if err := w.Columns(cols); err != nil {
			return err
		}
		if err := w.Row(vals...); err != nil {
			return err
		}
		return w.Done(1, true)
	case sql == "do update":
		return w.Done(3, true)
	case sql == "select two":
		w.Columns([]Column{{Name: "a", Type: TypeInt}})
		w.Row(int64(1))
		w.Done(1, true)
		w.Columns([]Column{{Name: "b", Type: TypeNVarChar, Length: 10}})
		w.Row("x")
		return w.Done(1, true)
	}
	w.Message(Message{Number: 102, State: 1, Class: 15, Line: 1, Text: fmt.Sprintf("Incorrect syntax near '%s'.", sql)})
	return w.Done(0, false)
}

// recordingListener keeps what the server writes on each connection, to
// check what travels in plaintext.
type recordingListener struct {
	net.Listener
	mu  sync.Mutex
	out []*bytes.Buffer
	in  bytes.Buffer // what clients sent, all connections together
}

func (l *recordingListener) read() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.in.Bytes())
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b := &bytes.Buffer{}
	l.mu.Lock()
	l.out = append(l.out, b)
	l.mu.Unlock()
	return &recordingConn{Conn: c, l: l, buf: b}, nil
}

func (l *recordingListener) written() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []byte
	for _, b := range l.out {
		all = append(all, b.Bytes()...)
	}
	return all
}

type recordingConn struct {
	net.Conn
	l   *recordingListener
	buf *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.in.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.buf.Write(p)
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

type testServer struct {
	h       *testHandler
	srv     *Server
	addr    string
	port    int
	rec     *recordingListener
	certPEM []byte
	caFile  string
}

// startServer runs a server on 127.0.0.1 with a certificate for
// "sqlsim.test" (or none when tlsOn is false).
func startServer(t testing.TB, tlsOn bool) *testServer {
	t.Helper()
	ts := &testServer{h: newTestHandler()}
	var cfg *tls.Config
	if tlsOn {
		var err error
		cfg, ts.certPEM, err = SelfSignedTLS("sqlsim.test", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		ts.caFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ts.caFile, ts.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.rec = &recordingListener{Listener: l}
	ts.addr = l.Addr().String()
	ts.port = l.Addr().(*net.TCPAddr).Port
	ts.srv = NewServer(ts.h, Options{TLSConfig: cfg})
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ts.rec) }()
	t.Cleanup(func() {
		ts.h.releaseProgress()
		ts.srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
	return ts
}

func (ts *testServer) dsn(query string) string {
	return fmt.Sprintf("sqlserver://sa:Secret%%231@%s?database=master&dial+timeout=5&%s", ts.addr, query)
}

func (ts *testServer) open(t testing.TB, query string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", ts.dsn(query))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
