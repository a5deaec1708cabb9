package vdi

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/unicode"
)

// blockListFixtures are the Put Block List bodies in testdata/blocklist,
// one per encoding a client may send, all naming the ids in ids.txt.
func blockListFixtures(t testing.TB) (map[string][]byte, []string) {
	t.Helper()
	files, err := filepath.Glob("testdata/blocklist/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	ids, err := os.ReadFile("testdata/blocklist/ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	return out, strings.Fields(string(ids))
}

// TestParseBlockListEncodings: every fixture, whatever its byte encoding
// and declaration, yields the same ids in document order.
func TestParseBlockListEncodings(t *testing.T) {
	fixtures, want := blockListFixtures(t)
	for _, name := range []string{"utf16le-bom.xml", "utf16le.xml", "utf16be-bom.xml", "utf16be.xml",
		"utf8-declares-utf16.xml", "utf8-declared.xml", "utf8-undeclared.xml", "utf8-bom.xml"} {
		t.Run(name, func(t *testing.T) {
			body, ok := fixtures[name]
			if !ok {
				t.Fatalf("fixture %s missing", name)
			}
			got, err := ParseBlockList(body)
			if err != nil {
				t.Fatalf("ParseBlockList: %v", err)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("ids = %v, want %v", got, want)
			}
		})
	}
}

// TestParseBlockListRefusesWhatItCannotRead: bodies that are not a block
// list in any encoding are errors, never an empty or partial list.
func TestParseBlockListRefusesWhatItCannotRead(t *testing.T) {
	fixtures, _ := blockListFixtures(t)
	le := fixtures["utf16le.xml"]
	for name, body := range map[string][]byte{
		"empty":                {},
		"truncated UTF-16":     le[:len(le)/2],
		"odd UTF-16 length":    le[:len(le)-1],
		"another root":         []byte(`<Blocks><Latest>AAAA</Latest></Blocks>`),
		"unknown charset":      []byte(`<?xml version="1.0" encoding="iso-2022-jp"?><BlockList><Latest>AAAA</Latest></BlockList>`),
		"invalid UTF-8":        []byte("<BlockList><Latest>AA\xffA</Latest></BlockList>"),
		"bad id":               []byte(`<BlockList><Latest>not base64!</Latest></BlockList>`),
		"unexpected element":   []byte(`<BlockList><Foo>AAAA</Foo></BlockList>`),
		"UTF-16LE binary junk": append([]byte{'<', 0}, bytes.Repeat([]byte{0xff, 0xd8}, 20)...),
	} {
		if ids, err := ParseBlockList(body); err == nil {
			t.Errorf("%s: accepted as %v", name, ids)
		}
	}
}

// bigBlockList is n <Uncommitted> elements with 88-character ids (64
// bytes, Azure's longest), one per CRLF-terminated indented line, in
// UTF-16LE with a BOM: the largest body SQL Server on Windows could send.
func bigBlockList(n int) []byte {
	var b strings.Builder
	b.WriteString("\ufeff<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<BlockList>\r\n")
	for i := 0; i < n; i++ {
		raw := fmt.Appendf(nil, "%064d", i)
		fmt.Fprintf(&b, "  <Uncommitted>%s</Uncommitted>\r\n", base64.StdEncoding.EncodeToString(raw))
	}
	b.WriteString("</BlockList>\r\n")
	out, _ := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder().String(b.String())
	return []byte(out)
}

// TestBlockListLimitFits50000Blocks: Azure's 50,000 blocks with the
// longest ids fit the body limit in UTF-16, and one more is refused.
func TestBlockListLimitFits50000Blocks(t *testing.T) {
	body := bigBlockList(maxBlocks)
	if len(body) > maxBlockListBody {
		t.Fatalf("50,000 blocks take %d bytes, over the %d-byte limit", len(body), maxBlockListBody)
	}
	ids, err := ParseBlockList(body)
	if err != nil || len(ids) != maxBlocks {
		t.Fatalf("ParseBlockList = %d ids, %v", len(ids), err)
	}
	if _, err := ParseBlockList(bigBlockList(maxBlocks + 1)); err != errBlockListTooLong {
		t.Fatalf("50,001 blocks: %v, want errBlockListTooLong", err)
	}
}

// TestPutBlockListEveryEncoding commits a blob with each fixture through
// the device and reads it back.
func TestPutBlockListEveryEncoding(t *testing.T) {
	td := startDevice(t)
	fixtures, ids := blockListFixtures(t)
	g := td.IssueSAS("enc", "rw", time.Hour)
	for name, body := range fixtures {
		u := td.url("enc", name+".bak", g)
		for i, id := range ids {
			expect(t, td.do(t, "PUT", u+"&comp=block&blockid="+id, []byte(fmt.Sprint("part ", i, ";"))), 201, name+": Put Block")
		}
		expect(t, td.do(t, "PUT", u+"&comp=blocklist", body), 201, name+": Put Block List")
		r := td.do(t, "GET", u, nil)
		got, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if string(got) != "part 0;part 1;part 2;" {
			t.Fatalf("%s: read back %q", name, got)
		}
	}
}

// TestUnreadableBlockListAnswersAzureError: a body the device cannot read
// gets Azure's error XML with InvalidXmlDocument, and the log shows the
// first bytes in hex for whoever has to find out what the client sent.
func TestUnreadableBlockListAnswersAzureError(t *testing.T) {
	td := startDevice(t)
	var logs bytes.Buffer
	td.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	u := td.url("c", "x.bak", td.IssueSAS("c", "rw", time.Hour))
	body := []byte("\x00\x01garbage that is no XML")
	r := td.do(t, "PUT", u+"&comp=blocklist", body)
	raw, _ := io.ReadAll(r.Body)
	r.Body.Close()
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if err := xml.Unmarshal(raw, &e); err != nil || r.StatusCode != 400 || e.Code != "InvalidXmlDocument" || r.Header.Get("x-ms-error-code") != "InvalidXmlDocument" {
		t.Fatalf("answer = %d %s (%v)", r.StatusCode, raw, err)
	}
	if !strings.Contains(logs.String(), "0001676172626167") {
		t.Fatalf("log lacks the body's first bytes in hex: %s", logs.String())
	}
}

func FuzzParseBlockList(f *testing.F) {
	fixtures, _ := blockListFixtures(f)
	for _, body := range fixtures {
		f.Add(body)
	}
	f.Add([]byte(`<BlockList></BlockList>`))
	f.Add([]byte(`<BlockList><Foo>x</Foo></BlockList>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := ParseBlockList(body)
		if err != nil {
			return
		}
		if len(ids) > maxBlocks {
			t.Fatalf("accepted %d blocks", len(ids))
		}
		for _, id := range ids {
			if !validBlockID(id) {
				t.Fatalf("accepted invalid block id %q", id)
			}
		}
	})
}
