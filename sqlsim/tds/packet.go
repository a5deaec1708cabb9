package tds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Packet types ([MS-TDS] 2.2.3.1.1).
const (
	packetSQLBatch  = 0x01
	packetRPC       = 0x03
	packetReply     = 0x04
	packetAttention = 0x06
	packetBulkLoad  = 0x07
	packetFedAuth   = 0x08
	packetTransMgr  = 0x0E
	packetLogin7    = 0x10
	packetSSPI      = 0x11
	packetPrelogin  = 0x12
)

// Packet status bits ([MS-TDS] 2.2.3.1.2).
const (
	statusEOM          = 0x01
	statusIgnore       = 0x02
	statusResetConn    = 0x08
	statusResetConnTxn = 0x10
)

const (
	headerSize = 8
	// defaultPacketSize is what both sides use until LOGIN7 negotiates
	// another size ([MS-TDS] 2.2.6.4, PacketSize).
	defaultPacketSize = 4096
	minPacketSize     = 512
	maxPacketSize     = 32767
	// maxTLSPacketSize is the largest packet SQL Server accepts on an
	// encrypted connection: one packet must fit one TLS record.
	maxTLSPacketSize = 16383
)

var errProtocol = errors.New("tds: protocol error")

// header is the 8-byte packet header ([MS-TDS] 2.2.3.1).
type header struct {
	Type     byte
	Status   byte
	Length   uint16 // including the header
	SPID     uint16
	PacketID byte
	Window   byte
}

func (h header) encode(b []byte) {
	b[0] = h.Type
	b[1] = h.Status
	binary.BigEndian.PutUint16(b[2:], h.Length)
	binary.BigEndian.PutUint16(b[4:], h.SPID)
	b[6] = h.PacketID
	b[7] = h.Window
}

func decodeHeader(b []byte) header {
	return header{
		Type:     b[0],
		Status:   b[1],
		Length:   binary.BigEndian.Uint16(b[2:]),
		SPID:     binary.BigEndian.Uint16(b[4:]),
		PacketID: b[6],
		Window:   b[7],
	}
}

// readPacket reads one packet and returns its header and payload.
func readPacket(r io.Reader) (header, []byte, error) {
	var hb [headerSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return header{}, nil, err
	}
	h := decodeHeader(hb[:])
	if h.Length < headerSize {
		return h, nil, fmt.Errorf("%w: packet length %d shorter than its header", errProtocol, h.Length)
	}
	payload := make([]byte, int(h.Length)-headerSize)
	if _, err := io.ReadFull(r, payload); err != nil {
		return h, nil, fmt.Errorf("read packet payload: %w", err)
	}
	return h, payload, nil
}

// message is one reassembled request: the payloads of its packets up to
// the one marked end-of-message.
type message struct {
	Type   byte
	Status byte // status of the first packet (reset-connection bits)
	Data   []byte
}

// readMessage reads packets until end-of-message and joins their payloads.
// A message larger than limit is refused, so garbage cannot exhaust memory.
// Messages the client marked "ignore" are skipped ([MS-TDS] 2.2.3.1.2).
func readMessage(r io.Reader, limit int) (message, error) {
	for {
		m, ignore, err := readOneMessage(r, limit)
		if err != nil || !ignore {
			return m, err
		}
	}
}

func readOneMessage(r io.Reader, limit int) (m message, ignore bool, err error) {
	first := true
	for {
		h, payload, err := readPacket(r)
		if err != nil {
			return m, false, err
		}
		if first {
			m.Type, m.Status = h.Type, h.Status
			first = false
		} else if h.Type != m.Type {
			return m, false, fmt.Errorf("%w: packet type %#x inside a message of type %#x", errProtocol, h.Type, m.Type)
		}
		if len(m.Data)+len(payload) > limit {
			return m, false, fmt.Errorf("%w: message exceeds %d bytes", errProtocol, limit)
		}
		m.Data = append(m.Data, payload...)
		if h.Status&statusEOM != 0 {
			return m, h.Status&statusIgnore != 0, nil
		}
	}
}

// packetWriter splits a message into packets of the negotiated size. It
// keeps the packet number running across the packets of one message.
type packetWriter struct {
	w          io.Writer
	packetSize int
	spid       uint16
	typ        byte
	packetID   byte
	buf        []byte
}

// begin starts a new message of the given packet type.
func (pw *packetWriter) begin(typ byte) {
	pw.typ = typ
	pw.packetID = 1
}

// write sends data as packets; eom marks the last packet end-of-message.
// Without eom the data still goes out now (status 0), which is how a
// response streams while the statement runs.
func (pw *packetWriter) write(data []byte, eom bool) error {
	max := pw.packetSize - headerSize
	for {
		n := min(len(data), max)
		last := n == len(data)
		if last && n == 0 && !eom {
			return nil
		}
		status := byte(0)
		if last && eom {
			status = statusEOM
		}
		if cap(pw.buf) < headerSize+n {
			pw.buf = make([]byte, headerSize+max)
		}
		b := pw.buf[:headerSize+n]
		header{Type: pw.typ, Status: status, Length: uint16(headerSize + n), SPID: pw.spid, PacketID: pw.packetID}.encode(b)
		copy(b[headerSize:], data[:n])
		if _, err := pw.w.Write(b); err != nil {
			return err
		}
		pw.packetID++
		data = data[n:]
		if last {
			return nil
		}
	}
}

// writeMessage sends a complete message.
func (pw *packetWriter) writeMessage(typ byte, data []byte) error {
	pw.begin(typ)
	return pw.write(data, true)
}
