package tds

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"
)

// Well-known procedure ids a client may send instead of a name
// ([MS-TDS] 2.2.6.6, ProcID).
const (
	procExecuteSQL = 10
	procPrepare    = 11
	procExecute    = 12
	procPrepExec   = 13
	procUnprepare  = 15
)

// Parameter status flags ([MS-TDS] 2.2.6.6, StatusFlags).
const (
	paramByRef   = 0x01 // output parameter
	paramDefault = 0x02
)

// rpcCall is one procedure call of an RPC request.
type rpcCall struct {
	ProcID   uint16 // 0 when called by name
	ProcName string
	Params   []rpcParam
}

type rpcParam struct {
	Param
	typeID byte // the wire type, for RETURNVALUE
}

// unsupportedTypeError reports a parameter type the server cannot decode;
// SQL Server answers it with error 8016.
type unsupportedTypeError struct {
	ordinal int
	name    string
	typeID  byte
}

func (e *unsupportedTypeError) Error() string {
	return fmt.Sprintf("The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect. Parameter %d (\"%s\"): Data type 0x%02X is unknown.", e.ordinal, e.name, e.typeID)
}

// parseRPC decodes an RPC request ([MS-TDS] 2.2.6.6): ALL_HEADERS, then
// one or more calls separated by a batch flag byte (0x80, or 0xFF).
func parseRPC(b []byte, ver uint32) ([]rpcCall, error) {
	r := &reader{b: b}
	if !legacy71(ver) { // ALL_HEADERS start requests from TDS 7.2
		r.skipAllHeaders()
	}
	var calls []rpcCall
	for {
		call, err := parseCall(r)
		if err != nil {
			return nil, err
		}
		calls = append(calls, call)
		sep, ok := r.peek()
		if !ok {
			return calls, r.err
		}
		if sep != 0x80 && sep != 0xFF {
			return nil, fmt.Errorf("%w: unexpected byte %#x after RPC parameters", errProtocol, sep)
		}
		r.byte()
		if r.remaining() == 0 {
			return calls, nil
		}
	}
}

func parseCall(r *reader) (rpcCall, error) {
	var c rpcCall
	if n := r.u16(); n == 0xFFFF {
		c.ProcID = r.u16()
	} else {
		c.ProcName = decodeUCS2(r.bytes(int(n) * 2))
	}
	r.u16() // option flags: recompile etc., nothing to do here
	for r.err == nil {
		next, ok := r.peek()
		if !ok || next == 0x80 || next == 0xFF {
			break
		}
		p, err := parseParam(r, len(c.Params)+1)
		if err != nil {
			return c, err
		}
		c.Params = append(c.Params, p)
	}
	return c, r.err
}

// parseParam reads ParamMetaData and ParamLenData of one parameter.
func parseParam(r *reader, ordinal int) (rpcParam, error) {
	var p rpcParam
	p.Name = r.bVarChar()
	status := r.byte()
	p.Output = status&paramByRef != 0
	p.typeID = r.byte()
	if r.err != nil {
		return p, r.err
	}
	p.Type.Name = p.Name
	p.Type.Nullable = true
	v, err := readTyped(r, p.typeID, &p.Type)
	if err != nil {
		if u, ok := err.(*unsupportedTypeError); ok {
			u.ordinal, u.name = ordinal, p.Name
		}
		return p, err
	}
	p.Value = v
	return p, r.err
}

// readTyped reads TYPE_INFO after the type id, fills col, then reads the
// value in that type ([MS-TDS] 2.2.5.2.3, 2.2.5.6). NULL comes back as nil.
func readTyped(r *reader, id byte, col *Column) (any, error) {
	switch id {
	case typeNull:
		col.Type = TypeNVarChar
		col.Length = 1
		return nil, nil
	case typeInt1, typeBit, typeInt2, typeInt4, typeInt8, typeFlt4, typeFlt8,
		typeDateTime, typeDateTim4, typeMoney, typeMoney4:
		size := fixedSize(id)
		return decodeScalar(r, id, size, col)
	case typeIntN, typeBitN, typeFltN, typeMoneyN, typeDateTimeN, typeGUID:
		maxLen := int(r.byte())
		n := int(r.byte())
		if r.err != nil {
			return nil, r.err
		}
		if n == 0 {
			setScalarColumn(id, maxLen, col)
			return nil, nil
		}
		if n > 16 {
			return nil, fmt.Errorf("%w: %d-byte value of type %#x", errProtocol, n, id)
		}
		return decodeScalar(r, id, n, col)
	case typeDecimalN, typeNumericN, typeDecimalLegacy, typeNumericLegacy:
		r.byte() // max length, implied by precision
		col.Precision, col.Scale = r.byte(), r.byte()
		col.Type = TypeDecimal
		if id == typeNumericN || id == typeNumericLegacy {
			col.Type = TypeNumeric
		}
		n := int(r.byte())
		if n == 0 || r.err != nil {
			return nil, r.err
		}
		raw := r.bytes(n)
		if r.err != nil {
			return nil, r.err
		}
		return decodeDecimal(raw, col.Scale)
	case typeDateN:
		col.Type = TypeDate
		n := int(r.byte())
		if n == 0 || r.err != nil {
			return nil, r.err
		}
		raw := r.bytes(n)
		if n != 3 || r.err != nil {
			return nil, fmt.Errorf("%w: date of %d bytes", errProtocol, n)
		}
		return dateFromDays(int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16), nil
	case typeTimeN:
		col.Type, col.Scale = TypeTime, r.byte()
		n := int(r.byte())
		if n == 0 || r.err != nil || col.Scale > 7 {
			return nil, r.err
		}
		raw := r.bytes(n)
		if r.err != nil || n != timeSize(col.Scale) {
			return nil, fmt.Errorf("%w: time of %d bytes", errProtocol, n)
		}
		return decodeTimeDate(append(raw[:n:n], 0x5B, 0x95, 0x0A), col.Scale, false) // on 1900-01-01 (day 693595)
	case typeDateTime2N, typeDateTimeOffset:
		col.Scale = r.byte()
		col.Type = TypeDateTime2
		if id == typeDateTimeOffset {
			col.Type = TypeDateTimeOffset
		}
		if col.Scale > 7 {
			return nil, fmt.Errorf("%w: time scale %d", errProtocol, col.Scale)
		}
		n := int(r.byte())
		if n == 0 || r.err != nil {
			return nil, r.err
		}
		return decodeTimeDate(r.bytes(n), col.Scale, id == typeDateTimeOffset)
	case typeBigVarBin, typeBigBinary, typeVarBinLegacy, typeBinaryLegacy:
		col.Type = TypeVarBinary
		return readVarData(r, id, col, false)
	case typeBigVarChar, typeBigChar, typeVarCharLegacy, typeCharLegacy:
		col.Type = TypeVarChar
		return readVarData(r, id, col, true)
	case typeNVarChar, typeNChar:
		col.Type = TypeNVarChar
		return readVarData(r, id, col, true)
	}
	return nil, &unsupportedTypeError{typeID: id}
}

func fixedSize(id byte) int {
	switch id {
	case typeInt1, typeBit:
		return 1
	case typeInt2:
		return 2
	case typeInt4, typeFlt4, typeDateTim4, typeMoney4:
		return 4
	}
	return 8
}

// setScalarColumn describes a BYTELEN parameter from its type id and size.
func setScalarColumn(id byte, size int, col *Column) {
	switch id {
	case typeInt1:
		col.Type = TypeTinyInt
	case typeInt2:
		col.Type = TypeSmallInt
	case typeInt4:
		col.Type = TypeInt
	case typeInt8:
		col.Type = TypeBigInt
	case typeIntN:
		col.Type = map[int]Type{1: TypeTinyInt, 2: TypeSmallInt, 4: TypeInt}[size]
		if col.Type == 0 {
			col.Type = TypeBigInt
		}
	case typeBit, typeBitN:
		col.Type = TypeBit
	case typeFlt4, typeFlt8, typeFltN:
		col.Type = TypeFloat
	case typeMoney, typeMoney4, typeMoneyN:
		col.Type, col.Precision, col.Scale = TypeDecimal, 19, 4
	case typeDateTime, typeDateTim4, typeDateTimeN:
		col.Type = TypeDateTime
	case typeGUID:
		col.Type = TypeUniqueIdentifier
	}
}

// decodeScalar reads an n-byte fixed-size value of a numeric, bit, money,
// datetime or GUID type.
func decodeScalar(r *reader, id byte, n int, col *Column) (any, error) {
	setScalarColumn(id, n, col)
	raw := r.bytes(n)
	if r.err != nil {
		return nil, r.err
	}
	le := binary.LittleEndian
	switch col.Type {
	case TypeTinyInt, TypeSmallInt, TypeInt, TypeBigInt:
		switch n {
		case 1:
			return int64(raw[0]), nil
		case 2:
			return int64(int16(le.Uint16(raw))), nil
		case 4:
			return int64(int32(le.Uint32(raw))), nil
		case 8:
			return int64(le.Uint64(raw)), nil
		}
	case TypeBit:
		if n == 1 {
			return raw[0] != 0, nil
		}
	case TypeFloat:
		switch n {
		case 4:
			return float64(math.Float32frombits(le.Uint32(raw))), nil
		case 8:
			return math.Float64frombits(le.Uint64(raw)), nil
		}
	case TypeDecimal: // money: a scaled 64-bit integer, high half first
		switch n {
		case 4:
			return DecimalFromInt64(int64(int32(le.Uint32(raw))), 4), nil
		case 8:
			v := int64(uint64(le.Uint32(raw))<<32 | uint64(le.Uint32(raw[4:])))
			return DecimalFromInt64(v, 4), nil
		}
	case TypeDateTime:
		switch n {
		case 4: // smalldatetime: days and minutes
			return time.Date(1900, 1, 1+int(le.Uint16(raw)), 0, int(le.Uint16(raw[2:])), 0, 0, time.UTC), nil
		case 8:
			days := int(int32(le.Uint32(raw)))
			ticks := int64(le.Uint32(raw[4:]))
			ns := (ticks*1e9 + 150) / 300
			return time.Date(1900, 1, 1+days, 0, 0, 0, 0, time.UTC).Add(time.Duration(ns)), nil
		}
	case TypeUniqueIdentifier:
		if n == 16 {
			var g [16]byte
			copy(g[:], swapGUID(raw))
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w: %d-byte value of type %#x", errProtocol, n, id)
}

// decodeDecimal reads a sign byte and a little-endian magnitude.
func decodeDecimal(raw []byte, scale uint8) (any, error) {
	if len(raw) < 1 || len(raw) > 17 {
		return nil, fmt.Errorf("%w: decimal of %d bytes", errProtocol, len(raw))
	}
	var mag [16]byte
	copy(mag[:], raw[1:])
	return Decimal{
		Lo:       binary.LittleEndian.Uint64(mag[:8]),
		Hi:       binary.LittleEndian.Uint64(mag[8:]),
		Negative: raw[0] == 0,
		Scale:    scale,
	}, nil
}

func dateFromDays(days int) time.Time {
	return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, days)
}

// decodeTimeDate reads datetime2 (time, date) or datetimeoffset (time,
// date in UTC, offset minutes).
func decodeTimeDate(raw []byte, scale uint8, offset bool) (any, error) {
	ts := timeSize(scale)
	want := ts + 3
	if offset {
		want += 2
	}
	if len(raw) != want {
		return nil, fmt.Errorf("%w: time value of %d bytes, want %d", errProtocol, len(raw), want)
	}
	var w [8]byte
	copy(w[:], raw[:ts])
	units := binary.LittleEndian.Uint64(w[:])
	ns := int64(units) * int64(math.Pow10(9-int(scale)))
	d := raw[ts:]
	t := dateFromDays(int(d[0]) | int(d[1])<<8 | int(d[2])<<16).Add(time.Duration(ns))
	if offset {
		mins := int(int16(binary.LittleEndian.Uint16(d[3:])))
		zone := time.FixedZone(fmt.Sprintf("%+03d%02d", mins/60, abs(mins%60)), mins*60)
		return t.In(zone), nil
	}
	return t, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// readVarData reads a (N)VARCHAR/VARBINARY parameter: the max length,
// the collation for strings, then a USHORT-length value or, for (max),
// a PLP value.
func readVarData(r *reader, id byte, col *Column, collation bool) (any, error) {
	var maxLen int
	short := id == typeVarBinLegacy || id == typeBinaryLegacy || id == typeVarCharLegacy || id == typeCharLegacy
	if short {
		maxLen = int(r.byte())
	} else {
		maxLen = int(r.u16())
	}
	if collation {
		r.bytes(5)
	}
	plp := !short && maxLen == maxUShort
	switch {
	case plp:
		col.Length = -1
	case col.Type == TypeNVarChar:
		col.Length = maxLen / 2
	default:
		col.Length = maxLen
	}
	var data []byte
	switch {
	case plp:
		var isNull bool
		data, isNull = readPLP(r)
		if isNull {
			return nil, r.err
		}
	case short:
		n := int(r.byte())
		if n == 0xFF {
			return nil, r.err
		}
		data = r.bytes(n)
	default:
		n := int(r.u16())
		if n == 0xFFFF {
			return nil, r.err
		}
		data = r.bytes(n)
	}
	if r.err != nil {
		return nil, r.err
	}
	switch col.Type {
	case TypeNVarChar:
		return decodeUCS2(data), nil
	case TypeVarChar:
		return fromLatin1(data), nil
	}
	return append([]byte(nil), data...), nil
}

// readPLP reads a partially length-prefixed value: an 8-byte total (or
// NULL / unknown) then chunks until a zero-length one ([MS-TDS] 2.2.5.2.3).
func readPLP(r *reader) (data []byte, isNull bool) {
	total := r.u64()
	if total == plpNull {
		return nil, true
	}
	if total != plpUnknown && total > uint64(r.remaining()) {
		r.err = fmt.Errorf("%w: PLP length %d exceeds the message", errProtocol, total)
		return nil, false
	}
	data = []byte{}
	for r.err == nil {
		n := int(r.u32())
		if n == 0 {
			break
		}
		data = append(data, r.bytes(n)...)
	}
	return data, false
}

// canonicalProc reduces "master.sys.sp_executesql" or "[sp_executesql]"
// to "sp_executesql", lower case, for recognising system procedures.
func canonicalProc(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	return strings.Trim(name, "[]")
}

// procIDByName maps system procedure names to their ids, so a call by
// name takes the same path as a call by id.
func procIDByName(name string) uint16 {
	switch canonicalProc(name) {
	case "sp_executesql":
		return procExecuteSQL
	case "sp_prepare":
		return procPrepare
	case "sp_execute":
		return procExecute
	case "sp_prepexec":
		return procPrepExec
	case "sp_unprepare":
		return procUnprepare
	}
	return 0
}
