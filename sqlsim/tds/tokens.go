package tds

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
)

// Token types of the response stream ([MS-TDS] 2.2.7).
const (
	tokenReturnStatus  = 0x79
	tokenColMetadata   = 0x81
	tokenError         = 0xAA
	tokenInfo          = 0xAB
	tokenReturnValue   = 0xAC
	tokenLoginAck      = 0xAD
	tokenFeatureExtAck = 0xAE
	tokenRow           = 0xD1
	tokenEnvChange     = 0xE3
	tokenDone          = 0xFD
	tokenDoneProc      = 0xFE
	tokenDoneInProc    = 0xFF
)

// DONE status bits ([MS-TDS] 2.2.7.6).
const (
	doneFinal    = 0x00
	doneMore     = 0x01
	doneError    = 0x02
	doneInXact   = 0x04
	doneCount    = 0x10
	doneAttn     = 0x20
	doneSrvError = 0x100
)

// DONE CurCmd values SQL Server uses; clients look at SELECT only.
const (
	curCmdNone    = 0x00
	curCmdSelect  = 0xC1
	curCmdExecute = 0xE0
)

// ENVCHANGE types ([MS-TDS] 2.2.7.9).
const (
	envDatabase     = 1
	envLanguage     = 2
	envPacketSize   = 4
	envSQLCollation = 7
	envBeginTran    = 8
	envCommitTran   = 9
	envRollbackTran = 10
)

// defaultCollation is SQL_Latin1_General_CP1_CI_AS, SQL Server's default
// server collation: LCID 0x0409, flags IgnoreCase|IgnoreKana|IgnoreWidth,
// version 0, sort id 52 ([MS-TDS] 2.2.5.1.2).
var defaultCollation = [5]byte{0x09, 0x04, 0xD0, 0x00, 0x34}

// tokenBuf accumulates encoded tokens.
type tokenBuf []byte

func (b *tokenBuf) byte(v byte)    { *b = append(*b, v) }
func (b *tokenBuf) u16(v uint16)   { *b = binary.LittleEndian.AppendUint16(*b, v) }
func (b *tokenBuf) u32(v uint32)   { *b = binary.LittleEndian.AppendUint32(*b, v) }
func (b *tokenBuf) u64(v uint64)   { *b = binary.LittleEndian.AppendUint64(*b, v) }
func (b *tokenBuf) bytes(v []byte) { *b = append(*b, v...) }
func (b *tokenBuf) ucs2(s string)  { *b = appendUCS2(*b, s) }
func (b *tokenBuf) bVarChar(s string) {
	u := utf16.Encode([]rune(s))
	if len(u) > 255 {
		u = u[:255]
	}
	b.byte(byte(len(u)))
	for _, c := range u {
		b.u16(c)
	}
}

func (b *tokenBuf) usVarChar(s string) {
	u := utf16.Encode([]rune(s))
	if len(u) > 0xFFFF {
		u = u[:0xFFFF]
	}
	b.u16(uint16(len(u)))
	for _, c := range u {
		b.u16(c)
	}
}

// lengthPrefixed writes a token whose body starts with a USHORT length.
func (b *tokenBuf) lengthPrefixed(tok byte, body func(*tokenBuf)) {
	b.byte(tok)
	at := len(*b)
	b.u16(0)
	body(b)
	binary.LittleEndian.PutUint16((*b)[at:], uint16(len(*b)-at-2))
}

func appendUCS2(dst []byte, s string) []byte {
	for _, c := range utf16.Encode([]rune(s)) {
		dst = binary.LittleEndian.AppendUint16(dst, c)
	}
	return dst
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// done writes DONE, DONEPROC or DONEINPROC ([MS-TDS] 2.2.7.6-8): the
// row count is a ULONGLONG from TDS 7.2, a LONG before.
func (b *tokenBuf) done(ver uint32, tok byte, status, curCmd uint16, count uint64) {
	b.byte(tok)
	b.u16(status)
	b.u16(curCmd)
	if legacy71(ver) {
		b.u32(uint32(min(count, 1<<31-1)))
		return
	}
	b.u64(count)
}

// userType writes a column's UserType 0: a ULONG from TDS 7.2, a USHORT
// before ([MS-TDS] 2.2.7.4).
func (b *tokenBuf) userType(ver uint32) {
	if legacy71(ver) {
		b.u16(0)
		return
	}
	b.u32(0)
}

// legacy71 reports a TDS 7.1 client: 32-bit DONE counts, 16-bit user
// types and message line numbers, no ALL_HEADERS and no (max) types
// ([MS-TDS] 2.2.7.4, 2.2.7.6, 2.2.7.10; 2.2.5.3).
func legacy71(ver uint32) bool { return ver != 0 && ver < verTDS72 && ver != verTDS80 }

// preDate reports a client before TDS 7.3, which has no date, time,
// datetime2 or datetimeoffset: SQL Server sends them as nvarchar literals
// (learn.microsoft.com/previous-versions/SQL/SQL-server-2008-r2/bb677302(v=sql.105)).
func preDate(ver uint32) bool { return ver != 0 && ver < verTDS73A && ver != verTDS80 }

// message writes INFO or ERROR ([MS-TDS] 2.2.7.10, 2.2.7.13).
func (b *tokenBuf) message(ver uint32, m Message, server string) {
	tok := byte(tokenInfo)
	if m.Class > 10 {
		tok = tokenError
	}
	if m.Server == "" {
		m.Server = server
	}
	b.lengthPrefixed(tok, func(b *tokenBuf) {
		b.u32(uint32(m.Number))
		b.byte(m.State)
		b.byte(m.Class)
		b.usVarChar(m.Text)
		b.bVarChar(m.Server)
		b.bVarChar(m.Proc)
		if legacy71(ver) {
			b.u16(uint16(m.Line))
			return
		}
		b.u32(uint32(m.Line))
	})
}

// envChangeStrings writes an ENVCHANGE whose values are B_VARCHARs.
func (b *tokenBuf) envChangeStrings(typ byte, newVal, oldVal string) {
	b.lengthPrefixed(tokenEnvChange, func(b *tokenBuf) {
		b.byte(typ)
		b.bVarChar(newVal)
		b.bVarChar(oldVal)
	})
}

// envChangeBytes writes an ENVCHANGE whose values are B_VARBYTEs
// (collation, transaction descriptors).
func (b *tokenBuf) envChangeBytes(typ byte, newVal, oldVal []byte) {
	b.lengthPrefixed(tokenEnvChange, func(b *tokenBuf) {
		b.byte(typ)
		b.byte(byte(len(newVal)))
		b.bytes(newVal)
		b.byte(byte(len(oldVal)))
		b.bytes(oldVal)
	})
}

// loginAck writes LOGINACK ([MS-TDS] 2.2.7.14): interface SQL_TSQL, the
// TDS version (big-endian on the wire), program name and version.
func (b *tokenBuf) loginAck(tdsVersion uint32) {
	b.lengthPrefixed(tokenLoginAck, func(b *tokenBuf) {
		b.byte(1) // SQL_TSQL
		*b = binary.BigEndian.AppendUint32(*b, tdsVersion)
		b.bVarChar("Microsoft SQL Server")
		b.byte(productMajor)
		b.byte(productMinor)
		b.byte(byte(productBuild >> 8))
		b.byte(byte(productBuild & 0xff))
	})
}

// featureExtAck writes an empty FEATUREEXTACK: no optional feature is
// acknowledged, so the client falls back to plain TDS 7.4 behaviour.
func (b *tokenBuf) featureExtAck() {
	b.byte(tokenFeatureExtAck)
	b.byte(0xFF)
}

func (b *tokenBuf) returnStatus(v int32) {
	b.byte(tokenReturnStatus)
	b.u32(uint32(v))
}

func packetSizeString(n int) string { return strconv.Itoa(n) }
