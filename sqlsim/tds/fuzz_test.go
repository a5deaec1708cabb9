package tds

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// echoSession answers every statement with its parameters as one row, so
// fuzzed RPC parameters also go through the result encoders.
type echoSession struct{}

func (echoSession) Database() string { return "master" }
func (echoSession) Close()           {}
func (echoSession) Exec(ctx context.Context, sql string, params []Param, w ResultWriter) error {
	if len(params) > 0 {
		cols := make([]Column, len(params))
		vals := make([]any, len(params))
		for i, p := range params {
			cols[i], vals[i] = p.Type, p.Value
		}
		if err := w.Columns(cols); err == nil {
			w.Row(vals...)
		}
	}
	return w.Done(0, false)
}

// FuzzRequest feeds arbitrary bytes to every parser of client input and
// to the request dispatcher of a logged-in connection. Nothing may panic,
// and a request must end in an answer or an error, never a hang.
// Seeds: testdata/fuzz/FuzzRequest plus the messages built below.
func FuzzRequest(f *testing.F) {
	f.Add(testPrelogin())
	f.Add(testLogin7("sa", "Secret#1", "master"))
	f.Add(append([]byte{packetRPC}, testRPC("select echo")...))
	f.Add(append([]byte{packetSQLBatch}, append(allHeaders(), appendUCS2(nil, "select 1")...)...))
	f.Add(append([]byte{packetTransMgr}, append(allHeaders(), tmBegin, 0, 0, 0)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsePrelogin(data)
		parseLogin7(data)
		readMessage(bytes.NewReader(data), 1<<16)
		r := &reader{b: data}
		r.skipAllHeaders()
		if calls, err := parseRPC(data, verTDS74); err == nil {
			for _, c := range calls {
				for _, p := range c.Params {
					var b tokenBuf
					if b.typeInfo(p.Type) == nil {
						b.value(p.Type, p.Value)
					}
				}
			}
		}
		if len(data) == 0 {
			return
		}
		srv := NewServer(&testHandler{}, Options{Logger: slog.New(slog.DiscardHandler)})
		c := &conn{srv: srv, sess: echoSession{}, log: srv.log, database: "master"}
		c.pw = &packetWriter{w: io.Discard, packetSize: 512}
		err := c.handle(context.Background(), message{Type: data[0], Data: data[1:]}, nil)
		if err != nil && strings.Contains(err.Error(), "panic") {
			t.Fatal(err)
		}
	})
}

func TestDecimal(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "12.345", "-0.001", "99999999999999999999999999999999999999", "25000000012300001"} {
		d, err := ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		if d.String() != s {
			t.Errorf("ParseDecimal(%s).String() = %s", s, d)
		}
		b, err := DecimalFromBig(d.Unscaled(), d.Scale)
		if err != nil || b != d {
			t.Errorf("DecimalFromBig round trip of %s: %v %v", s, b, err)
		}
	}
	if d := DecimalFromInt64(-9223372036854775808, 2); d.String() != "-92233720368547758.08" {
		t.Errorf("min int64: %s", d)
	}
	for _, bad := range []string{"", "-", "1.2.3", "1e5", "abc"} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", bad)
		}
	}
	// Rounding to a column's scale, half away from zero.
	d, _ := ParseDecimal("-2.345")
	if got := d.rescale(2).String(); got != "235" {
		t.Errorf("rescale = %s", got)
	}
}

func TestPacketSplitting(t *testing.T) {
	var out bytes.Buffer
	pw := &packetWriter{w: &out, packetSize: 512, spid: 51}
	data := bytes.Repeat([]byte("abcdefgh"), 200) // 1600 bytes: 4 packets of 504 max
	if err := pw.writeMessage(packetReply, data); err != nil {
		t.Fatal(err)
	}
	var ids []byte
	r := bytes.NewReader(out.Bytes())
	var got []byte
	for r.Len() > 0 {
		h, p, err := readPacket(r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.PacketID)
		if h.SPID != 51 || h.Type != packetReply || int(h.Length) > 512 {
			t.Fatalf("header %+v", h)
		}
		if (h.Status&statusEOM != 0) != (r.Len() == 0) {
			t.Fatalf("EOM on packet %d of a message that continues", h.PacketID)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, data) || !bytes.Equal(ids, []byte{1, 2, 3, 4}) {
		t.Fatalf("packet ids %v, payload equal %v", ids, bytes.Equal(got, data))
	}
	m, err := readMessage(bytes.NewReader(out.Bytes()), 1<<20)
	if err != nil || !bytes.Equal(m.Data, data) {
		t.Fatalf("reassembly: %v", err)
	}
	if _, err := readMessage(bytes.NewReader(out.Bytes()), 1000); err == nil {
		t.Fatal("a message over the limit was accepted")
	}
}
