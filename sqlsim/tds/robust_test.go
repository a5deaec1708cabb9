package tds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient speaks just enough TDS to log in and send hand-made messages.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	pw *packetWriter
}

func dialRaw(t *testing.T, ts *testServer) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c, pw: &packetWriter{w: c, packetSize: 4096}}
}

func (rc *rawClient) send(typ byte, data []byte) {
	rc.t.Helper()
	if err := rc.pw.writeMessage(typ, data); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) recv() (message, error) { return readMessage(rc.c, 1<<20) }

// testPrelogin is a client PRELOGIN asking for no encryption.
func testPrelogin() []byte {
	return buildPrelogin(preloginOptions{
		preloginVersion:    {1, 0, 0, 0, 0, 0},
		preloginEncryption: {encryptNotSup},
		preloginInstOpt:    {0},
		preloginThreadID:   {0, 0, 0, 0},
		preloginMARS:       {0},
	})
}

// testLogin7 builds a LOGIN7 message as [MS-TDS] 2.2.6.4 lays it out.
func testLogin7(user, password, database string) []byte {
	fields := []string{"host1", user, password, "rawtest", "127.0.0.1", "", "rawlib", "", database}
	const fixed = 94
	b := make([]byte, fixed)
	binary.LittleEndian.PutUint32(b[4:], verTDS74)
	binary.LittleEndian.PutUint32(b[8:], 4096)
	var data []byte
	slots := []int{36, 40, 44, 48, 52, 56, 60, 64, 68}
	for i, f := range fields {
		enc := appendUCS2(nil, f)
		if i == 2 { // obfuscate the password
			for j, c := range enc {
				c = c<<4 | c>>4
				enc[j] = c ^ 0xA5
			}
		}
		binary.LittleEndian.PutUint16(b[slots[i]:], uint16(fixed+len(data)))
		binary.LittleEndian.PutUint16(b[slots[i]+2:], uint16(len(enc)/2))
		data = append(data, enc...)
	}
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// allHeaders is ALL_HEADERS with a transaction descriptor header.
func allHeaders() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 22)
	b = binary.LittleEndian.AppendUint32(b, 18)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint64(b, 0)
	return binary.LittleEndian.AppendUint32(b, 1)
}

// testRPC builds sp_executesql(@stmt, @params, @p1 int = 5).
func testRPC(stmt string) []byte {
	b := allHeaders()
	b = binary.LittleEndian.AppendUint16(b, 0xFFFF)
	b = binary.LittleEndian.AppendUint16(b, procExecuteSQL)
	b = binary.LittleEndian.AppendUint16(b, 0)
	nvarchar := func(b []byte, name, v string) []byte {
		var t tokenBuf
		t.bVarChar(name)
		b = append(b, t...)
		b = append(b, 0, typeNVarChar)
		enc := appendUCS2(nil, v)
		b = binary.LittleEndian.AppendUint16(b, 8000)
		b = append(b, defaultCollation[:]...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(enc)))
		return append(b, enc...)
	}
	b = nvarchar(b, "", stmt)
	b = nvarchar(b, "", "@p1 int")
	b = append(b, 3, '@', 0, 'p', 0, '1', 0) // B_VARCHAR "@p1"
	b = append(b, 0, typeIntN, 4, 4, 5, 0, 0, 0)
	return b
}

func (rc *rawClient) login() {
	rc.t.Helper()
	rc.send(packetPrelogin, testPrelogin())
	if _, err := rc.recv(); err != nil {
		rc.t.Fatal(err)
	}
	rc.send(packetLogin7, testLogin7("sa", "Secret#1", "master"))
	m, err := rc.recv()
	if err != nil {
		rc.t.Fatal(err)
	}
	if !bytes.Contains(m.Data, []byte{tokenLoginAck}) {
		rc.t.Fatal("no LOGINACK")
	}
}

// expectClosed checks the server hung up rather than waiting for more.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(rc.c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatal("server kept the broken connection open")
	}
}

func TestGarbageBeforeLogin(t *testing.T) {
	ts := startServer(t, false)
	inputs := map[string][]byte{
		"short length":     {0x12, 0x01, 0x00, 0x04, 0, 0, 1, 0},
		"not prelogin":     append([]byte{0x01, 0x01, 0x00, 0x0A, 0, 0, 1, 0}, 'h', 'i'),
		"bad option table": append([]byte{0x12, 0x01, 0x00, 0x0D, 0, 0, 1, 0}, 0x01, 0xFF, 0xFF, 0x00, 0x05),
		"tls without cert": {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5},
		"text":             []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			rc.c.Write(in)
			rc.expectClosed()
		})
	}
	t.Run("bad login7", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.send(packetPrelogin, testPrelogin())
		if _, err := rc.recv(); err != nil {
			t.Fatal(err)
		}
		l := testLogin7("sa", "Secret#1", "master")
		binary.LittleEndian.PutUint16(l[40:], 60000) // user name offset out of bounds
		rc.send(packetLogin7, l)
		rc.expectClosed()
	})
	// The server still serves proper clients.
	db := ts.open(t, "encrypt=disable")
	if n := queryInt(t, db, "select 1"); n != 1 {
		t.Fatal(n)
	}
}

func TestRawRequests(t *testing.T) {
	ts := startServer(t, false)

	t.Run("rpc", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rc.send(packetRPC, testRPC("select echo"))
		m, err := rc.recv()
		if err != nil {
			t.Fatal(err)
		}
		// COLMETADATA ... ROW (INTN 4 bytes = 5) ... RETURNSTATUS, DONEPROC.
		if !bytes.Contains(m.Data, []byte{tokenRow, 4, 5, 0, 0, 0}) || !bytes.Contains(m.Data, []byte{tokenReturnStatus, 0, 0, 0, 0, tokenDoneProc}) {
			t.Fatalf("unexpected RPC response % x", m.Data)
		}
	})
	t.Run("unknown parameter type", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rpc := testRPC("select echo")
		rpc[len(rpc)-7] = 0x62 // sql_variant in place of INTN
		rc.send(packetRPC, rpc)
		m, err := rc.recv()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(m.Data, appendUCS2(nil, "Data type 0x62 is unknown")) {
			t.Fatalf("no error 8016 in % x", m.Data)
		}
		// The connection stays usable.
		rc.send(packetRPC, testRPC("select echo"))
		if _, err := rc.recv(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("truncated rpc", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rpc := testRPC("select echo")
		rc.send(packetRPC, rpc[:len(rpc)-3])
		rc.expectClosed()
	})
	t.Run("bad all_headers", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rc.send(packetSQLBatch, append([]byte{0xFF, 0xFF, 0, 0}, appendUCS2(nil, "select 1")...))
		rc.expectClosed()
	})
	t.Run("unexpected packet type", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rc.send(0x42, []byte("??"))
		rc.expectClosed()
	})
	t.Run("attention when idle", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		rc.send(packetAttention, nil)
		m, err := rc.recv()
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{tokenDone, doneAttn, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(m.Data, want) {
			t.Fatalf("attention ack % x, want % x", m.Data, want)
		}
	})
	t.Run("ignored message", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.login()
		// A batch the client abandoned: status EOM|IGNORE. No answer.
		ign := append([]byte{packetSQLBatch, statusEOM | statusIgnore, 0, 0, 0, 0, 1, 0}, allHeaders()...)
		ign = append(ign, appendUCS2(nil, "raise error")...)
		binary.BigEndian.PutUint16(ign[2:], uint16(len(ign)))
		rc.c.Write(ign)
		rc.send(packetSQLBatch, append(allHeaders(), appendUCS2(nil, "select 1")...))
		m, err := rc.recv()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(m.Data, []byte{tokenError}) || !bytes.Contains(m.Data, []byte{tokenRow, 4, 1, 0, 0, 0}) {
			t.Fatalf("response % x", m.Data)
		}
	})
	db := ts.open(t, "encrypt=disable")
	if n := queryInt(t, db, "select 1"); n != 1 {
		t.Fatal(n)
	}
}

func TestLoginTimeout(t *testing.T) {
	h := newTestHandler()
	srv := NewServer(h, Options{LoginTimeout: 200 * time.Millisecond})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x12, 0x00}) // half a header, then silence
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	if err != nil && strings.Contains(err.Error(), "timeout") {
		t.Fatal("server did not drop a silent client")
	}
}

func TestCloseEndsSessions(t *testing.T) {
	ts := startServer(t, false)
	rc := dialRaw(t, ts)
	rc.login()
	rc.send(packetSQLBatch, append(allHeaders(), appendUCS2(nil, "wait block")...))
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { ts.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a statement was running")
	}
	rc.expectClosed()
}

func TestClientGoneCancelsExec(t *testing.T) {
	ts := startServer(t, false)
	rc := dialRaw(t, ts)
	rc.login()
	rc.send(packetSQLBatch, append(allHeaders(), appendUCS2(nil, "wait block")...))
	time.Sleep(50 * time.Millisecond)
	rc.c.Close()
	sess := ts.h.sessions[0]
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sess.mu.Lock()
		done := sess.cancelled
		sess.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Exec's context was not cancelled after the client disconnected")
		}
	}
}
