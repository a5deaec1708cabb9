package tds

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// PRELOGIN option tokens ([MS-TDS] 2.2.6.5).
const (
	preloginVersion    = 0x00
	preloginEncryption = 0x01
	preloginInstOpt    = 0x02
	preloginThreadID   = 0x03
	preloginMARS       = 0x04
	preloginTraceID    = 0x05
	preloginFedAuth    = 0x06
	preloginNonce      = 0x07
	preloginTerminator = 0xFF
)

// Encryption values of the PRELOGIN ENCRYPTION option.
const (
	encryptOff    = 0x00 // available, but only LOGIN7 travels encrypted
	encryptOn     = 0x01
	encryptNotSup = 0x02
	encryptReq    = 0x03
	encryptStrict = 0x04 // sent by TDS 8.0 clients inside TLS
)

// productVersion is what the simulator reports: SQL Server 2019 RTM
// (15.0.2000), the same in PRELOGIN VERSION and LOGINACK.
const (
	productMajor = 15
	productMinor = 0
	productBuild = 2000
)

// preloginOptions maps option token to its data.
type preloginOptions map[byte][]byte

// parsePrelogin reads the option table: (token, offset, length) entries
// with big-endian offsets relative to the payload start, ended by 0xFF.
func parsePrelogin(b []byte) (preloginOptions, error) {
	opts := preloginOptions{}
	for i := 0; ; i += 5 {
		if i >= len(b) {
			return nil, fmt.Errorf("%w: PRELOGIN without terminator", errProtocol)
		}
		tok := b[i]
		if tok == preloginTerminator {
			return opts, nil
		}
		if i+5 > len(b) {
			return nil, fmt.Errorf("%w: PRELOGIN option table truncated", errProtocol)
		}
		off := int(binary.BigEndian.Uint16(b[i+1:]))
		n := int(binary.BigEndian.Uint16(b[i+3:]))
		if off+n > len(b) {
			return nil, fmt.Errorf("%w: PRELOGIN option %d out of bounds", errProtocol, tok)
		}
		opts[tok] = b[off : off+n]
	}
}

// buildPrelogin writes options in ascending token order, as SQL Server does.
func buildPrelogin(opts preloginOptions) []byte {
	var toks []byte
	for t := 0; t < 0xFF; t++ {
		if _, ok := opts[byte(t)]; ok {
			toks = append(toks, byte(t))
		}
	}
	off := len(toks)*5 + 1
	table := make([]byte, 0, off)
	var data []byte
	for _, t := range toks {
		v := opts[t]
		table = append(table, t)
		table = binary.BigEndian.AppendUint16(table, uint16(off+len(data)))
		table = binary.BigEndian.AppendUint16(table, uint16(len(v)))
		data = append(data, v...)
	}
	table = append(table, preloginTerminator)
	return append(table, data...)
}

// negotiateEncryption answers the client's ENCRYPTION option the way SQL
// Server does ([MS-TDS] 2.2.6.5, the encryption table): a server with a
// certificate follows the client (off -> login-only TLS, on/req -> full
// TLS, not-supported -> plaintext); a server without one answers
// not-supported, and a client that requires encryption is then refused.
func negotiateEncryption(client byte, serverHasTLS bool) (answer byte, refuse bool) {
	if !serverHasTLS {
		return encryptNotSup, client == encryptOn || client == encryptReq
	}
	switch client {
	case encryptNotSup:
		return encryptNotSup, false
	case encryptOff:
		return encryptOff, false
	default: // on, required, or anything unknown: encrypt everything
		return encryptOn, false
	}
}

// preloginResponse builds the server's PRELOGIN answer.
func preloginResponse(encrypt byte, fedAuthAsked bool) []byte {
	opts := preloginOptions{
		preloginVersion:    {productMajor, productMinor, byte(productBuild >> 8), byte(productBuild & 0xff), 0, 0},
		preloginEncryption: {encrypt},
		preloginInstOpt:    {0}, // instance name matched
		preloginThreadID:   {},  // the server sends it empty
		preloginMARS:       {0}, // MARS off
	}
	if fedAuthAsked {
		// Echo FEDAUTHREQUIRED only when asked: 0 = SQL logins allowed.
		opts[preloginFedAuth] = []byte{0}
	}
	return buildPrelogin(opts)
}

// handshakeConn carries the TLS handshake of TDS 7.x inside PRELOGIN
// packets ([MS-TDS] 2.2.6.5): each Write of the TLS stack (one
// flight) goes out as one PRELOGIN message, and Read returns the payloads
// of the client's PRELOGIN packets.
type handshakeConn struct {
	rw      io.ReadWriter
	pw      *packetWriter
	pending []byte
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		h, payload, err := readPacket(c.rw)
		if err != nil {
			return 0, err
		}
		if h.Type != packetPrelogin {
			return 0, fmt.Errorf("%w: packet type %#x during TLS handshake", errProtocol, h.Type)
		}
		c.pending = payload
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.pw.writeMessage(packetPrelogin, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// switchConn lets the TLS layer run over the PRELOGIN wrapping during the
// handshake and over the raw socket afterwards, as [MS-TDS] requires.
type switchConn struct {
	net.Conn
	cur io.ReadWriter
}

func (c *switchConn) Read(b []byte) (int, error)  { return c.cur.Read(b) }
func (c *switchConn) Write(b []byte) (int, error) { return c.cur.Write(b) }

// SetDeadline and friends go to the socket underneath.
func (c *switchConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(t) }
