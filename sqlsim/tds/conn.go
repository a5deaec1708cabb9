package tds

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// conn is one client connection.
type conn struct {
	srv  *Server
	raw  net.Conn
	rw   io.ReadWriter // the transport now: socket, or TLS over it
	pw   *packetWriter
	spid uint16
	log  *slog.Logger

	sess       Session
	database   string
	loginDB    string
	prepared   map[int32]string
	nextHandle int32
	tranID     uint64
	nextTranID uint64
	ver        uint32 // the TDS version LOGINACK agreed (0 before login)
}

var errLoginRefused = errors.New("tds: login refused")

func (c *conn) serverName() string { return c.srv.h.ServerName() }

// bufConn lets a peeked-at socket still be used as a net.Conn.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (c *conn) serve(ctx context.Context) error {
	c.raw.SetDeadline(time.Now().Add(c.srv.opts.LoginTimeout))
	sess, err := c.handshake(ctx)
	if err != nil {
		return err
	}
	c.sess = sess
	defer sess.Close()
	c.raw.SetDeadline(time.Time{})
	return c.loop(ctx)
}

// handshake runs PRELOGIN, the TLS negotiation it asks for, and LOGIN7.
func (c *conn) handshake(ctx context.Context) (Session, error) {
	base := &bufConn{Conn: c.raw, r: bufio.NewReader(c.raw)}
	c.rw, c.pw.w = base, base
	// Until LOGIN7 tells the client's packet size, answer in packets no
	// larger than the smallest size a client may choose: go-mssqldb, for
	// one, refuses packets beyond the size it asked for.
	c.pw.packetSize = minPacketSize

	strict, err := c.tlsFirst(ctx, base)
	if err != nil {
		return nil, err
	}
	answer, err := c.prelogin(strict)
	if err != nil {
		return nil, err
	}
	loginOnly := false
	if !strict && answer != encryptNotSup {
		if err := c.wrappedTLS(ctx, base); err != nil {
			return nil, err
		}
		loginOnly = answer == encryptOff
	}
	m, err := c.readLogin(base, loginOnly)
	if err != nil {
		return nil, err
	}
	if loginOnly {
		// ENCRYPT_OFF: only LOGIN7 was encrypted; all else is plaintext.
		c.rw, c.pw.w = base, base
	}
	encrypted := c.rw != io.ReadWriter(base)
	return c.login(ctx, m, encrypted)
}

// tlsFirst recognises a TDS 8.0 client, whose first bytes are a TLS
// record rather than PRELOGIN, and runs the TLS handshake on the socket.
func (c *conn) tlsFirst(ctx context.Context, base *bufConn) (strict bool, err error) {
	first, err := base.r.Peek(1)
	if err != nil {
		return false, err
	}
	switch {
	case first[0] == packetPrelogin:
		return false, nil
	case first[0] == packetLogin7: // TDS 7.0 and older log in without PRELOGIN
		return false, c.refuseOldLogin()
	case first[0] != 0x16: // not a TLS handshake record either
		// Refuse at once rather than wait for a "packet" of garbage.
		return false, fmt.Errorf("%w: first byte %#x is neither PRELOGIN nor TLS", errProtocol, first[0])
	case c.srv.opts.TLSConfig == nil:
		return false, fmt.Errorf("%w: TLS-first (TDS 8.0) client, but no certificate configured", errProtocol)
	}
	tc := tls.Server(base, c.tlsConfig(true))
	if err := tc.HandshakeContext(ctx); err != nil {
		return false, fmt.Errorf("tds 8.0 TLS handshake: %w", err)
	}
	c.rw, c.pw.w = tc, tc
	return true, nil
}

// refuseOldLogin answers a LOGIN7 that came without PRELOGIN, as only
// clients before TDS 7.1 send it, with a login failure in the oldest
// layout sqlsim writes (7.1's), and ends the connection.
func (c *conn) refuseOldLogin() error {
	m, err := readMessage(c.rw, 64<<10)
	if err != nil {
		return err
	}
	var ver uint32
	if l, err := parseLogin7(m.Data); err == nil {
		ver = l.TDSVersion
	}
	c.pw.writeMessage(packetReply, loginFailed(c.serverName(), verTDS71, unsupportedVersion(ver)))
	return fmt.Errorf("%w: TDS version %#x", errLoginRefused, ver)
}

// unsupportedVersion refuses a TDS version sqlsim cannot speak. What SQL
// Server answers is not documented (docs/compatibility.md, Unknowns).
func unsupportedVersion(ver uint32) Message {
	return Message{Number: 18456, State: 1, Class: 14, Line: 1,
		Text: fmt.Sprintf("Login failed: TDS version 0x%08X is not supported; use TDS 7.1 or later.", ver)}
}

// prelogin reads the client's PRELOGIN and answers it; it returns the
// ENCRYPTION value agreed on.
func (c *conn) prelogin(strict bool) (byte, error) {
	m, err := readMessage(c.rw, 64<<10)
	if err != nil {
		return 0, err
	}
	if m.Type != packetPrelogin {
		return 0, fmt.Errorf("%w: first message has type %#x, want PRELOGIN", errProtocol, m.Type)
	}
	opts, err := parsePrelogin(m.Data)
	if err != nil {
		return 0, err
	}
	clientEnc := byte(encryptOff)
	if v := opts[preloginEncryption]; len(v) == 1 {
		clientEnc = v[0]
	}
	answer, refuse := negotiateEncryption(clientEnc, c.srv.opts.TLSConfig != nil)
	if strict {
		// The channel is already encrypted; the option no longer
		// negotiates anything.
		answer, refuse = encryptNotSup, false
	}
	_, fedAuth := opts[preloginFedAuth]
	if err := c.pw.writeMessage(packetReply, preloginResponse(answer, fedAuth)); err != nil {
		return 0, err
	}
	if refuse {
		return 0, fmt.Errorf("%w: client requires encryption, server has no certificate", errLoginRefused)
	}
	return answer, nil
}

// wrappedTLS runs the TDS 7.x TLS handshake, whose records travel inside
// PRELOGIN packets; afterwards TLS runs directly on the socket.
func (c *conn) wrappedTLS(ctx context.Context, base *bufConn) error {
	hs := &handshakeConn{rw: base, pw: &packetWriter{w: base, packetSize: minPacketSize, spid: c.spid}}
	sw := &switchConn{Conn: c.raw, cur: hs}
	tc := tls.Server(sw, c.tlsConfig(false))
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	sw.cur = base
	c.rw, c.pw.w = tc, tc
	return nil
}

// readLogin reads the LOGIN7 message. With login-only encryption the
// first packet comes over TLS and any further ones in plaintext, which is
// what clients that encrypt "the login packet" send.
func (c *conn) readLogin(base io.Reader, loginOnly bool) (message, error) {
	if !loginOnly {
		return readMessage(c.rw, 128<<10)
	}
	h, payload, err := readPacket(c.rw)
	if err != nil {
		return message{}, err
	}
	m := message{Type: h.Type, Status: h.Status, Data: payload}
	if h.Status&statusEOM == 0 {
		rest, err := readMessage(base, 128<<10)
		if err != nil {
			return m, err
		}
		m.Data = append(m.Data, rest.Data...)
	}
	return m, nil
}

// tlsConfig derives the per-connection TLS settings. Inside PRELOGIN
// wrapping SQL Server speaks at most TLS 1.2; TDS 8.0 allows 1.3 and names
// the protocol "tds/8.0" in ALPN.
func (c *conn) tlsConfig(strict bool) *tls.Config {
	cfg := c.srv.opts.TLSConfig.Clone()
	cfg.SessionTicketsDisabled = true // nothing may follow the handshake unasked
	if strict {
		cfg.NextProtos = append([]string{"tds/8.0"}, cfg.NextProtos...)
	} else if cfg.MaxVersion == 0 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	return cfg
}

// login checks LOGIN7 with the Handler and answers it.
func (c *conn) login(ctx context.Context, m message, encrypted bool) (Session, error) {
	if m.Type != packetLogin7 {
		return nil, fmt.Errorf("%w: expected LOGIN7, got packet type %#x", errProtocol, m.Type)
	}
	l, err := parseLogin7(m.Data)
	if err != nil {
		return nil, err
	}
	refuse := func(msg Message) (Session, error) {
		c.pw.writeMessage(packetReply, loginFailed(c.serverName(), ackVersion(l.TDSVersion), msg))
		return nil, fmt.Errorf("%w: user %q: %s", errLoginRefused, l.UserName, msg.Text)
	}
	if l.IntSecurity {
		return refuse(*loginFailedMessage(""))
	}
	if ackVersion(l.TDSVersion) == 0 {
		return refuse(unsupportedVersion(l.TDSVersion))
	}
	req := LoginRequest{
		User: l.UserName, Password: l.Password, Database: l.Database,
		AppName: l.AppName, HostName: l.HostName, ServerName: l.ServerName,
		Encrypted: encrypted,
	}
	sess, err := c.srv.h.Login(ctx, req)
	if err != nil {
		var msg *Message
		if errors.As(err, &msg) {
			return refuse(*msg)
		}
		c.log.Warn("tds: login error", "user", l.UserName, "err", err)
		return refuse(*loginFailedMessage(l.UserName))
	}
	c.database = sess.Database()
	c.loginDB = c.database
	size := negotiatePacketSize(l.PacketSize, encrypted)
	// The new size applies from the message after the login response
	// ([MS-TDS] 2.2.7.9); the response itself still uses the smallest.
	c.pw.packetSize = minPacketSize
	c.ver = ackVersion(l.TDSVersion)
	resp := loginResponse(c.serverName(), c.database, c.ver, size, l.Extension)
	if err := c.pw.writeMessage(packetReply, resp); err != nil {
		sess.Close()
		return nil, err
	}
	c.pw.packetSize = size
	c.log.Debug("tds: login", "user", l.UserName, "database", c.database, "packet_size", size, "encrypted", encrypted)
	return sess, nil
}

// ackVersion is the TDS version LOGINACK reports ([MS-TDS] 2.2.7.14):
// the client's if it is an older 7.x (7.1 as 7.1 revision 1), otherwise
// 7.4 (TDS 8.0 clients also get 7.4 here, as the token stream is 7.4's).
// Versions before 7.1 get 0: sqlsim cannot speak them and refuses the
// login.
func ackVersion(client uint32) uint32 {
	switch {
	case client == 0x71000000:
		return verTDS71
	case client == verTDS71, client == verTDS72, client == verTDS73A, client == verTDS73B:
		return client
	case client == verTDS80, client >= verTDS74:
		return verTDS74
	case client > verTDS73B:
		return verTDS73B
	case client > verTDS72:
		return verTDS72
	case client > verTDS71:
		return verTDS71
	}
	return 0
}

// loop reads requests until the client goes away. A goroutine reads
// messages so that an ATTENTION can arrive while a request runs.
func (c *conn) loop(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan message)
	var readErr error
	go func() {
		defer close(msgs)
		for {
			m, err := readMessage(c.rw, c.srv.opts.MaxRequestSize)
			if err != nil {
				readErr = err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		m, ok := <-msgs
		if !ok {
			return readErr
		}
		if err := c.handle(ctx, m, msgs); err != nil {
			return err
		}
	}
}

// handle answers one request message.
func (c *conn) handle(ctx context.Context, m message, msgs <-chan message) error {
	if m.Status&(statusResetConn|statusResetConnTxn) != 0 {
		c.resetSession(ctx)
	}
	switch m.Type {
	case packetAttention:
		// Nothing is running: the request already completed, but the
		// client still waits for the acknowledgement.
		w := newResponseWriter(c, false)
		return w.finishAttention()
	case packetSQLBatch:
		r := &reader{b: m.Data}
		if !legacy71(c.ver) { // ALL_HEADERS start requests from TDS 7.2
			r.skipAllHeaders()
		}
		if r.err != nil {
			return r.err
		}
		sql := decodeUCS2(r.b[r.off:])
		return c.run(ctx, msgs, false, func(ctx context.Context, w *responseWriter) error {
			if err := c.sess.Exec(ctx, sql, nil, w); err != nil {
				return err
			}
			return nil
		}, (*responseWriter).finish)
	case packetRPC:
		return c.handleRPC(ctx, m, msgs)
	case packetTransMgr:
		return c.handleTransMgr(ctx, m)
	}
	return fmt.Errorf("%w: unexpected packet type %#x", errProtocol, m.Type)
}

// resetSession handles the RESETCONNECTION status bit: the pooled
// connection starts over in its login database, with no transaction and no
// prepared statements.
func (c *conn) resetSession(ctx context.Context) {
	c.prepared = nil
	c.tranID = 0
	if r, ok := c.sess.(interface{ Reset(context.Context) error }); ok {
		if err := r.Reset(ctx); err != nil {
			c.log.Warn("tds: session reset", "err", err)
		}
	}
	c.database = c.loginDB
}

// run executes fn while watching for ATTENTION. On attention it cancels
// fn's context, waits for it, and acknowledges with DONE(ATTN); otherwise
// finish ends the response.
func (c *conn) run(ctx context.Context, msgs <-chan message, inProc bool,
	fn func(context.Context, *responseWriter) error, finish func(*responseWriter) error) error {
	execCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := newResponseWriter(c, inProc)
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("tds: panic in Exec: %v", r)
			}
		}()
		done <- fn(execCtx, w)
	}()
	attention, lost := false, false
	for {
		select {
		case err := <-done:
			switch {
			case lost:
				return io.ErrUnexpectedEOF
			case attention:
				return w.finishCancelled()
			case errors.Is(err, ErrFatal):
				if ferr := finish(w); ferr != nil {
					return ferr
				}
				return err
			case err != nil:
				return fmt.Errorf("exec: %w", err)
			}
			return finish(w)
		case m, ok := <-msgs:
			switch {
			case !ok:
				// Client gone: stop the work and unblock any write in
				// progress; the connection is dropped afterwards.
				lost = true
				msgs = nil
				c.raw.Close()
			case m.Type == packetAttention:
				attention = true
			default:
				// Without MARS a client must wait for the response;
				// treat anything else as a broken stream.
				lost = true
				msgs = nil
			}
			w.stopped.Store(true)
			cancel()
		}
	}
}
