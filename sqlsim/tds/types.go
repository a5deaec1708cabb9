package tds

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// Types added to the contract in handler.go. They appear in parameters that
// clients send (go-mssqldb sends time.Time as datetimeoffset) and may be
// used in result columns too.
const (
	// TypeNumeric is numeric(p,s): the same values as TypeDecimal, sent as
	// NUMERICN so that clients describe the column as "NUMERIC".
	TypeNumeric Type = TypeVarBinary + 1 + iota
	// TypeDateTimeOffset carries a time.Time whose zone offset is kept.
	TypeDateTimeOffset
	// TypeDate is a date without time of day (time.Time, clock ignored).
	TypeDate
	// TypeVarChar is a single-byte string (string values, Latin-1).
	TypeVarChar
	// TypeVariant is sql_variant, what SERVERPROPERTY returns: each value
	// carries its own base type, chosen from its Go type (string ->
	// nvarchar, int64 -> int or bigint, bool -> bit, float64 -> float,
	// time.Time -> datetime, Decimal -> numeric, []byte -> varbinary,
	// [16]byte -> uniqueidentifier).
	TypeVariant
	// TypeChar and TypeNChar are char(n) and nchar(n): fixed-length
	// strings (Length characters; values are sent as given, the engine
	// pads them), BIGCHAR and NCHAR on the wire.
	TypeChar
	TypeNChar
	// TypeTime is time(n): the clock of a time.Time (its date ignored).
	TypeTime
	// TypeMoney is money (Length 8) or smallmoney (Length 4): Decimal
	// values at scale 4, sent as MONEYN, a scaled integer.
	TypeMoney
	// TypeBinary is binary(n): fixed-length bytes (Length), BIGBINARY on
	// the wire; values are sent as given, the engine pads them.
	TypeBinary
)

// A TypeFloat column of Length 4 is real (FLTN 4), a TypeDateTime column
// of Length 4 smalldatetime (DATETIMN 4) ([MS-TDS] 2.2.5.4.1).

// TDS data type ids ([MS-TDS] 2.2.5.4).
const (
	typeNull           = 0x1F
	typeInt1           = 0x30
	typeBit            = 0x32
	typeInt2           = 0x34
	typeInt4           = 0x38
	typeDateTim4       = 0x3A
	typeFlt4           = 0x3B
	typeMoney          = 0x3C
	typeDateTime       = 0x3D
	typeFlt8           = 0x3E
	typeMoney4         = 0x7A
	typeInt8           = 0x7F
	typeGUID           = 0x24
	typeIntN           = 0x26
	typeDecimalLegacy  = 0x37
	typeNumericLegacy  = 0x3F
	typeBitN           = 0x68
	typeDecimalN       = 0x6A
	typeNumericN       = 0x6C
	typeFltN           = 0x6D
	typeMoneyN         = 0x6E
	typeDateTimeN      = 0x6F
	typeDateN          = 0x28
	typeTimeN          = 0x29
	typeDateTime2N     = 0x2A
	typeDateTimeOffset = 0x2B
	typeCharLegacy     = 0x2F
	typeVarCharLegacy  = 0x27
	typeBinaryLegacy   = 0x2D
	typeVarBinLegacy   = 0x25
	typeBigVarBin      = 0xA5
	typeBigVarChar     = 0xA7
	typeBigBinary      = 0xAD
	typeBigChar        = 0xAF
	typeNVarChar       = 0xE7
	typeNChar          = 0xEF
	typeVariant        = 0x62
)

const (
	plpNull    = 0xFFFFFFFFFFFFFFFF
	plpUnknown = 0xFFFFFFFFFFFFFFFE
	maxUShort  = 0xFFFF // USHORTLEN value meaning (max), i.e. PLP
)

// String names the type as T-SQL would.
func (t Type) String() string {
	switch t {
	case TypeBit:
		return "bit"
	case TypeTinyInt:
		return "tinyint"
	case TypeSmallInt:
		return "smallint"
	case TypeInt:
		return "int"
	case TypeBigInt:
		return "bigint"
	case TypeFloat:
		return "float"
	case TypeDecimal:
		return "decimal"
	case TypeNumeric:
		return "numeric"
	case TypeNVarChar:
		return "nvarchar"
	case TypeVarChar:
		return "varchar"
	case TypeDateTime:
		return "datetime"
	case TypeDateTime2:
		return "datetime2"
	case TypeDateTimeOffset:
		return "datetimeoffset"
	case TypeDate:
		return "date"
	case TypeUniqueIdentifier:
		return "uniqueidentifier"
	case TypeVarBinary:
		return "varbinary"
	case TypeVariant:
		return "sql_variant"
	case TypeChar:
		return "char"
	case TypeNChar:
		return "nchar"
	case TypeMoney:
		return "money"
	case TypeTime:
		return "time"
	case TypeBinary:
		return "binary"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// isMax reports whether a variable-length column is (max), sent as PLP.
func (c Column) isMax() bool {
	switch c.Type {
	case TypeNVarChar:
		return c.Length < 0 || c.Length > 4000
	case TypeVarBinary, TypeVarChar:
		return c.Length < 0 || c.Length > 8000
	}
	return false
}

func (c Column) precision() uint8 {
	if c.Precision == 0 {
		return 18
	}
	return min(c.Precision, 38)
}

// decimalSize is the byte length of a decimal value of precision p,
// including its sign byte ([MS-TDS] data type details, decimal/numeric).
func decimalSize(p uint8) int {
	switch {
	case p <= 9:
		return 5
	case p <= 19:
		return 9
	case p <= 28:
		return 13
	default:
		return 17
	}
}

// timeSize is the byte length of the time part of time/datetime2/
// datetimeoffset at the given scale ([MS-TDS] 2.2.5.4.3).
func timeSize(scale uint8) int {
	switch {
	case scale <= 2:
		return 3
	case scale <= 4:
		return 4
	default:
		return 5
	}
}

// typeInfo writes the TYPE_INFO of a column ([MS-TDS] 2.2.5.6).
func (b *tokenBuf) typeInfo(c Column) error {
	switch c.Type {
	case TypeBit:
		b.bytes([]byte{typeBitN, 1})
	case TypeTinyInt:
		b.bytes([]byte{typeIntN, 1})
	case TypeSmallInt:
		b.bytes([]byte{typeIntN, 2})
	case TypeInt:
		b.bytes([]byte{typeIntN, 4})
	case TypeBigInt:
		b.bytes([]byte{typeIntN, 8})
	case TypeFloat:
		b.bytes([]byte{typeFltN, byte(shortSize(c))})
	case TypeMoney:
		b.bytes([]byte{typeMoneyN, byte(moneySize(c))})
	case TypeDecimal, TypeNumeric:
		id := byte(typeDecimalN)
		if c.Type == TypeNumeric {
			id = typeNumericN
		}
		p := c.precision()
		b.bytes([]byte{id, byte(decimalSize(p)), p, min(c.Scale, p)})
	case TypeNVarChar:
		b.byte(typeNVarChar)
		switch {
		case c.isMax():
			b.u16(maxUShort)
		case c.Length == 0:
			b.u16(8000)
		default:
			b.u16(uint16(c.Length * 2))
		}
		b.bytes(defaultCollation[:])
	case TypeVarChar:
		b.byte(typeBigVarChar)
		b.u16(varLen(c, 8000))
		b.bytes(defaultCollation[:])
	case TypeChar:
		b.byte(typeBigChar)
		b.u16(uint16(max(c.Length, 1)))
		b.bytes(defaultCollation[:])
	case TypeNChar:
		b.byte(typeNChar)
		b.u16(uint16(max(c.Length, 1) * 2))
		b.bytes(defaultCollation[:])
	case TypeVarBinary:
		b.byte(typeBigVarBin)
		b.u16(varLen(c, 8000))
	case TypeBinary:
		b.byte(typeBigBinary)
		b.u16(uint16(max(c.Length, 1)))
	case TypeDateTime:
		b.bytes([]byte{typeDateTimeN, byte(shortSize(c))})
	case TypeDateTime2:
		b.bytes([]byte{typeDateTime2N, min(c.Scale, 7)})
	case TypeDateTimeOffset:
		b.bytes([]byte{typeDateTimeOffset, min(c.Scale, 7)})
	case TypeDate:
		b.byte(typeDateN)
	case TypeTime:
		b.bytes([]byte{typeTimeN, min(c.Scale, 7)})
	case TypeUniqueIdentifier:
		b.bytes([]byte{typeGUID, 16})
	case TypeVariant:
		b.byte(typeVariant)
		b.u32(8016) // the largest sql_variant: 8000 data bytes plus header
	default:
		return fmt.Errorf("tds: column %q: unsupported type %v", c.Name, c.Type)
	}
	return nil
}

func varLen(c Column, dflt uint16) uint16 {
	switch {
	case c.isMax():
		return maxUShort
	case c.Length == 0:
		return dflt
	default:
		return uint16(c.Length)
	}
}

// value writes one value of a column in ROW format ([MS-TDS] 2.2.7.20):
// a length (or PLP header) then the bytes, or the type's NULL marker.
func (b *tokenBuf) value(c Column, v any) error {
	if v == nil {
		b.null(c)
		return nil
	}
	switch c.Type {
	case TypeBit:
		x, ok := v.(bool)
		if !ok {
			return typeErr(c, v)
		}
		b.byte(1)
		if x {
			b.byte(1)
		} else {
			b.byte(0)
		}
	case TypeTinyInt, TypeSmallInt, TypeInt, TypeBigInt:
		return b.intValue(c, v)
	case TypeFloat:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			return typeErr(c, v)
		}
		if shortSize(c) == 4 { // real
			b.byte(4)
			b.u32(math.Float32bits(float32(f)))
			break
		}
		b.byte(8)
		b.u64(math.Float64bits(f))
	case TypeDecimal, TypeNumeric:
		return b.decimalValue(c, v)
	case TypeMoney:
		return b.moneyValue(c, v)
	case TypeNVarChar, TypeNChar:
		s, ok := v.(string)
		if !ok {
			return typeErr(c, v)
		}
		b.varBytes(c, appendUCS2(nil, s))
	case TypeVarChar, TypeChar:
		s, ok := v.(string)
		if !ok {
			return typeErr(c, v)
		}
		b.varBytes(c, latin1(s))
	case TypeVarBinary, TypeBinary:
		x, ok := v.([]byte)
		if !ok {
			return typeErr(c, v)
		}
		b.varBytes(c, x)
	case TypeDateTime, TypeDateTime2, TypeDateTimeOffset, TypeDate, TypeTime:
		t, ok := v.(time.Time)
		if !ok {
			return typeErr(c, v)
		}
		b.timeValue(c, t)
	case TypeUniqueIdentifier:
		var g [16]byte
		switch x := v.(type) {
		case [16]byte:
			g = x
		case []byte:
			if len(x) != 16 {
				return typeErr(c, v)
			}
			copy(g[:], x)
		default:
			return typeErr(c, v)
		}
		b.byte(16)
		b.bytes(swapGUID(g[:]))
	case TypeVariant:
		return b.variantValue(c, v)
	default:
		return fmt.Errorf("tds: column %q: unsupported type %v", c.Name, c.Type)
	}
	return nil
}

func typeErr(c Column, v any) error {
	return fmt.Errorf("tds: column %q (%v): cannot send a %T", c.Name, c.Type, v)
}

func (b *tokenBuf) null(c Column) {
	switch {
	case c.isMax():
		b.u64(plpNull)
	case c.Type == TypeNVarChar || c.Type == TypeVarChar || c.Type == TypeVarBinary || c.Type == TypeChar || c.Type == TypeNChar || c.Type == TypeBinary:
		b.u16(0xFFFF) // CHARBIN_NULL
	case c.Type == TypeVariant:
		b.u32(0)
	default:
		b.byte(0) // BYTELEN types: zero length is NULL
	}
}

// varBytes writes a USHORT-length value, or PLP for (max) columns: total
// length, one chunk, and the zero-length terminator ([MS-TDS] 2.2.5.2.3).
func (b *tokenBuf) varBytes(c Column, x []byte) {
	if c.isMax() {
		b.u64(uint64(len(x)))
		if len(x) > 0 {
			b.u32(uint32(len(x)))
			b.bytes(x)
		}
		b.u32(0)
		return
	}
	if len(x) > 8000 {
		x = x[:8000] // the column's declared maximum bounds it anyway
	}
	b.u16(uint16(len(x)))
	b.bytes(x)
}

func (b *tokenBuf) intValue(c Column, v any) error {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int16:
		n = int64(x)
	case int8:
		n = int64(x)
	case uint8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case bool:
		if x {
			n = 1
		}
	default:
		return typeErr(c, v)
	}
	size, lo, hi := 8, int64(math.MinInt64), int64(math.MaxInt64)
	switch c.Type {
	case TypeTinyInt:
		size, lo, hi = 1, 0, 255
	case TypeSmallInt:
		size, lo, hi = 2, math.MinInt16, math.MaxInt16
	case TypeInt:
		size, lo, hi = 4, math.MinInt32, math.MaxInt32
	}
	if n < lo || n > hi {
		return fmt.Errorf("tds: column %q: %d overflows %v", c.Name, n, c.Type)
	}
	b.byte(byte(size))
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], uint64(n))
	b.bytes(w[:size])
	return nil
}

func (b *tokenBuf) decimalValue(c Column, v any) error {
	var d Decimal
	switch x := v.(type) {
	case Decimal:
		d = x
	case int64:
		d = DecimalFromInt64(x, 0)
	case int:
		d = DecimalFromInt64(int64(x), 0)
	case uint64:
		d = DecimalFromUint64(x, 0)
	case *big.Int:
		var err error
		if d, err = DecimalFromBig(x, 0); err != nil {
			return err
		}
	case string:
		var err error
		if d, err = ParseDecimal(x); err != nil {
			return fmt.Errorf("tds: column %q: %w", c.Name, err)
		}
	default:
		return typeErr(c, v)
	}
	p := c.precision()
	scale := min(c.Scale, p)
	mag := d.rescale(scale)
	if len(mag.String()) > int(p) {
		return fmt.Errorf("tds: column %q: %s does not fit numeric(%d,%d)", c.Name, d, p, scale)
	}
	size := decimalSize(p)
	b.byte(byte(size))
	if d.Negative && mag.Sign() != 0 {
		b.byte(0)
	} else {
		b.byte(1)
	}
	le := make([]byte, size-1)
	mag.FillBytes(le) // big-endian
	for i, j := 0, len(le)-1; i < j; i, j = i+1, j-1 {
		le[i], le[j] = le[j], le[i]
	}
	b.bytes(le)
	return nil
}

// timeValue writes datetime, datetime2, datetimeoffset and date values.
// datetime and datetime2 send the wall clock of t; datetimeoffset sends
// UTC plus the offset, as [MS-TDS] defines for these types.
func (b *tokenBuf) timeValue(c Column, t time.Time) {
	switch c.Type {
	case TypeDateTime:
		if shortSize(c) == 4 { // smalldatetime: days since 1900 and minutes of the day (the engine rounds)
			day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			b.byte(4)
			b.u16(uint16(day.Sub(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour)))
			b.u16(uint16(t.Hour()*60 + t.Minute()))
			break
		}
		days, ticks := dateTimeParts(t)
		b.byte(8)
		b.u32(uint32(days))
		b.u32(ticks)
	case TypeDate:
		b.byte(3)
		b.bytes(days3(daysSince0001(t)))
	case TypeDateTime2:
		scale := min(c.Scale, 7)
		tb := encodeTimeDate(t, scale)
		b.byte(byte(len(tb)))
		b.bytes(tb)
	case TypeTime: // the time part of datetime2's encoding ([MS-TDS] 2.2.5.5.1.8)
		scale := min(c.Scale, 7)
		tb := encodeTimeDate(time.Date(2000, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), scale)
		tb = tb[:timeSize(scale)]
		b.byte(byte(len(tb)))
		b.bytes(tb)
	case TypeDateTimeOffset:
		scale := min(c.Scale, 7)
		_, off := t.Zone()
		tb := encodeTimeDate(t.UTC(), scale)
		b.byte(byte(len(tb) + 2))
		b.bytes(tb)
		b.u16(uint16(int16(off / 60)))
	}
}

// dateTimeParts converts the wall clock of t to datetime's days since
// 1900-01-01 and 1/300-second ticks since midnight, rounding as SQL Server
// does to the nearest tick.
func dateTimeParts(t time.Time) (int32, uint32) {
	days := int32(civilDays(t) - civilDays(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)))
	ns := int64(t.Hour()*3600+t.Minute()*60+t.Second())*1e9 + int64(t.Nanosecond())
	ticks := (ns*300 + 5e8) / 1e9
	if ticks >= 300*86400 {
		days++
		ticks -= 300 * 86400
	}
	return days, uint32(ticks)
}

func daysSince0001(t time.Time) int {
	return int(civilDays(t) - civilDays(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)))
}

// civilDays numbers the calendar day of t's wall clock (the Unix day of
// that date); time.Duration would overflow across centuries.
func civilDays(t time.Time) int64 {
	y, m, d := t.Date()
	u := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	if u < 0 && u%86400 != 0 {
		return u/86400 - 1
	}
	return u / 86400
}

func days3(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16)} }

// encodeTimeDate writes the time of day in 10^-scale second units followed
// by the 3-byte day number, rounding to the scale (with carry to the next
// day).
func encodeTimeDate(t time.Time, scale uint8) []byte {
	unit := int64(math.Pow10(9 - int(scale)))
	ns := int64(t.Hour()*3600+t.Minute()*60+t.Second())*1e9 + int64(t.Nanosecond())
	units := (ns + unit/2) / unit
	days := daysSince0001(t)
	if perDay := 86400 * int64(math.Pow10(int(scale))); units >= perDay {
		units -= perDay
		days++
	}
	ts := timeSize(scale)
	out := make([]byte, ts+3)
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], uint64(units))
	copy(out, w[:ts])
	copy(out[ts:], days3(days))
	return out
}

// swapGUID converts between RFC 4122 byte order and the mixed-endian order
// SQL Server stores and sends (first three groups little-endian). The
// conversion is its own inverse.
func swapGUID(g []byte) []byte {
	out := make([]byte, 16)
	copy(out, g)
	out[0], out[1], out[2], out[3] = g[3], g[2], g[1], g[0]
	out[4], out[5] = g[5], g[4]
	out[6], out[7] = g[7], g[6]
	return out
}

// latin1 encodes s in code page 1252, the code page of the default
// collation SQL_Latin1_General_CP1_CI_AS; a character it lacks becomes
// '?', as SQL Server's conversion to a non-Unicode type does
// (learn.microsoft.com/sql/relational-databases/collations/collation-and-unicode-support).
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := charmap.Windows1252.EncodeRune(r)
		if !ok {
			b = '?'
		}
		out = append(out, b)
	}
	return out
}

// fromLatin1 decodes code page 1252 bytes.
func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = charmap.Windows1252.DecodeByte(c)
	}
	return string(r)
}

// CodePageText is s as a varchar of the default collation holds it: each
// character code page 1252 lacks is '?'.
func CodePageText(s string) string { return fromLatin1(latin1(s)) }

// variantValue writes a sql_variant value ([MS-TDS] 2.2.5.5.4): total
// length, base type, the count of property bytes, the properties, data.
func (b *tokenBuf) variantValue(c Column, v any) error {
	var base byte
	var props, data []byte
	le := binary.LittleEndian
	switch x := v.(type) {
	case string:
		data = appendUCS2(nil, x)
		base = typeNVarChar
		props = le.AppendUint16(append(props, defaultCollation[:]...), 8000)
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			base, data = typeInt4, le.AppendUint32(nil, uint32(int32(x)))
		} else {
			base, data = typeInt8, le.AppendUint64(nil, uint64(x))
		}
	case int:
		return b.variantValue(c, int64(x))
	case bool:
		base, data = typeBit, []byte{0}
		if x {
			data[0] = 1
		}
	case float64:
		base, data = typeFlt8, le.AppendUint64(nil, math.Float64bits(x))
	case time.Time:
		days, ticks := dateTimeParts(x)
		base, data = typeDateTime, le.AppendUint32(le.AppendUint32(nil, uint32(days)), ticks)
	case Decimal:
		var t tokenBuf
		col := Column{Type: TypeNumeric, Precision: 38, Scale: x.Scale}
		if err := t.decimalValue(col, x); err != nil {
			return err
		}
		base, props, data = typeNumericN, []byte{38, x.Scale}, t[1:] // drop the length byte
	case []byte:
		base, props, data = typeBigVarBin, le.AppendUint16(nil, 8000), x
	case [16]byte:
		base, data = typeGUID, swapGUID(x[:])
	default:
		return typeErr(c, v)
	}
	if len(data) > 8000 {
		return fmt.Errorf("tds: column %q: sql_variant value of %d bytes exceeds 8000", c.Name, len(data))
	}
	b.u32(uint32(2 + len(props) + len(data)))
	b.byte(base)
	b.byte(byte(len(props)))
	b.bytes(props)
	b.bytes(data)
	return nil
}

func moneySize(c Column) int {
	if c.Length == 4 {
		return 4
	}
	return 8
}

// moneyValue writes money as its value times 10^4 in a signed integer:
// 8 bytes, the high 32 bits first, or 4 bytes for smallmoney ([MS-TDS]
// 2.2.5.5.1.2).
func (b *tokenBuf) moneyValue(c Column, v any) error {
	d, ok := v.(Decimal)
	if !ok {
		return typeErr(c, v)
	}
	mag := d.rescale(4)
	if d.Negative {
		mag.Neg(mag)
	}
	size := moneySize(c)
	if !mag.IsInt64() || (size == 4 && (mag.Int64() > math.MaxInt32 || mag.Int64() < math.MinInt32)) {
		return fmt.Errorf("tds: column %q: %s overflows money", c.Name, d)
	}
	n := mag.Int64()
	b.byte(byte(size))
	if size == 4 {
		b.u32(uint32(int32(n)))
		return nil
	}
	b.u32(uint32(uint64(n) >> 32))
	b.u32(uint32(uint64(n)))
	return nil
}

// shortSize is 4 for real and smalldatetime columns, 8 for float and
// datetime.
func shortSize(c Column) int {
	if c.Length == 4 {
		return 4
	}
	return 8
}
