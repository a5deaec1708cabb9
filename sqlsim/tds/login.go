package tds

import (
	"encoding/binary"
	"fmt"
)

// TDS versions a client may ask for in LOGIN7.
const (
	verTDS71  = 0x71000001
	verTDS72  = 0x72090002
	verTDS73A = 0x730A0003
	verTDS73B = 0x730B0003
	verTDS74  = 0x74000004
	verTDS80  = 0x08000000
)

// LOGIN7 option flags ([MS-TDS] 2.2.6.4).
const (
	optFlags2IntSecurity = 0x80 // integrated (SSPI) authentication
	optFlags3Extension   = 0x10 // a FeatureExt block follows
)

// login7 is what the server needs from a LOGIN7 message.
type login7 struct {
	TDSVersion  uint32
	PacketSize  uint32
	IntSecurity bool
	Extension   bool
	HostName    string
	UserName    string
	Password    string
	AppName     string
	ServerName  string
	Library     string
	Language    string
	Database    string
}

// parseLogin7 decodes the fixed part and the offset/length table. Offsets
// are from the start of the message; lengths count UCS-2 characters.
func parseLogin7(b []byte) (*login7, error) {
	const fixed = 94
	if len(b) < fixed {
		return nil, fmt.Errorf("%w: LOGIN7 is %d bytes, shorter than its fixed part", errProtocol, len(b))
	}
	le := binary.LittleEndian
	l := &login7{
		TDSVersion:  le.Uint32(b[4:]),
		PacketSize:  le.Uint32(b[8:]),
		IntSecurity: b[25]&optFlags2IntSecurity != 0,
		Extension:   b[27]&optFlags3Extension != 0,
	}
	field := func(at int) (string, error) {
		off, n := int(le.Uint16(b[at:])), int(le.Uint16(b[at+2:]))*2
		if n == 0 {
			return "", nil
		}
		if off+n > len(b) {
			return "", fmt.Errorf("%w: LOGIN7 field at %d out of bounds", errProtocol, at)
		}
		return decodeUCS2(b[off : off+n]), nil
	}
	var err error
	targets := []struct {
		at  int
		dst *string
	}{
		{36, &l.HostName}, {40, &l.UserName}, {48, &l.AppName}, {52, &l.ServerName},
		{60, &l.Library}, {64, &l.Language}, {68, &l.Database},
	}
	for _, t := range targets {
		if *t.dst, err = field(t.at); err != nil {
			return nil, err
		}
	}
	// The password is obfuscated: each byte had its nibbles swapped and
	// was XORed with 0xA5. Undo both before decoding UCS-2.
	off, n := int(le.Uint16(b[44:])), int(le.Uint16(b[46:]))*2
	if off+n > len(b) {
		return nil, fmt.Errorf("%w: LOGIN7 password out of bounds", errProtocol)
	}
	pw := make([]byte, n)
	for i, c := range b[off : off+n] {
		c ^= 0xA5
		pw[i] = c<<4 | c>>4
	}
	l.Password = decodeUCS2(pw)
	return l, nil
}

// negotiatePacketSize picks the packet size the server will use: what the
// client asked for within 512..32767 (0 means the server default), and at
// most 16383 on an encrypted connection, as SQL Server does.
func negotiatePacketSize(asked uint32, encrypted bool) int {
	size := int(min(asked, maxPacketSize))
	switch {
	case asked == 0:
		size = defaultPacketSize
	case size < minPacketSize:
		size = minPacketSize
	}
	if encrypted && size > maxTLSPacketSize {
		size = maxTLSPacketSize
	}
	return size
}

// loginResponse builds SQL Server's answer to a good login, in the order
// SQL Server sends it: database ENVCHANGE and INFO 5701, collation,
// language ENVCHANGE and INFO 5703, LOGINACK, packet size, DONE.
func loginResponse(server, database string, tdsVersion uint32, packetSize int, featureAck bool) []byte {
	var b tokenBuf
	b.envChangeStrings(envDatabase, database, "master")
	b.message(tdsVersion, Message{Number: 5701, State: 2, Class: 0, Line: 1,
		Text: fmt.Sprintf("Changed database context to '%s'.", database)}, server)
	b.envChangeBytes(envSQLCollation, defaultCollation[:], nil)
	b.envChangeStrings(envLanguage, "us_english", "")
	b.message(tdsVersion, Message{Number: 5703, State: 1, Class: 0, Line: 1,
		Text: "Changed language setting to us_english."}, server)
	b.loginAck(tdsVersion)
	if featureAck {
		b.featureExtAck()
	}
	size := packetSizeString(packetSize)
	b.envChangeStrings(envPacketSize, size, size)
	b.done(tdsVersion, tokenDone, doneFinal, curCmdNone, 0)
	return b
}

// loginFailed builds the refusal: the ERROR token then DONE with the error
// bit, after which the server closes the connection.
func loginFailed(server string, tdsVersion uint32, m Message) []byte {
	var b tokenBuf
	b.message(tdsVersion, m, server)
	b.done(tdsVersion, tokenDone, doneError, curCmdNone, 0)
	return b
}

// loginFailedMessage is SQL Server's error 18456 for a user.
func loginFailedMessage(user string) *Message {
	return &Message{Number: 18456, State: 1, Class: 14, Line: 1,
		Text: fmt.Sprintf("Login failed for user '%s'.", user)}
}

// LoginFailed is the *Message a Handler returns to refuse a login the way
// SQL Server does: error 18456, class 14, state 1.
func LoginFailed(user string) *Message { return loginFailedMessage(user) }
