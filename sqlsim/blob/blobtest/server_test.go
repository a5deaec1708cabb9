package blobtest

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16Bytes(s string, order binary.ByteOrder, bom bool) []byte {
	u := utf16.Encode([]rune(s))
	if bom {
		u = append([]uint16{0xFEFF}, u...)
	}
	b := make([]byte, 2*len(u))
	for i, c := range u {
		order.PutUint16(b[2*i:], c)
	}
	return b
}

// TestParseBlockListForms: the endpoint reads a block list in every form
// Azure accepts from SQL Server (Windows: UTF-16LE; Linux: UTF-8 that
// declares utf-16) and from other clients.
func TestParseBlockListForms(t *testing.T) {
	list := `<BlockList><Latest>QUFBQQ==</Latest><Latest>QkJCQg==</Latest></BlockList>`
	decl16 := `<?xml version="1.0" encoding="utf-16"?>` + list
	for name, body := range map[string][]byte{
		"UTF-16LE":                utf16Bytes(decl16, binary.LittleEndian, false),
		"UTF-16LE with BOM":       utf16Bytes(decl16, binary.LittleEndian, true),
		"UTF-16BE with BOM":       utf16Bytes(decl16, binary.BigEndian, true),
		"UTF-8 declaring utf-16":  []byte(decl16),
		"UTF-8 declaring utf-8":   []byte(`<?xml version="1.0" encoding="utf-8"?>` + list),
		"UTF-8 with BOM":          append([]byte("\xef\xbb\xbf"), list...),
		"UTF-8 with no declaring": []byte(list),
	} {
		l, err := parseBlockList(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ids []string
		for _, it := range l.Items {
			ids = append(ids, it.ID)
		}
		if strings.Join(ids, ",") != "QUFBQQ==,QkJCQg==" {
			t.Fatalf("%s: ids %v", name, ids)
		}
	}
	if _, err := parseBlockList([]byte("\x00\x01garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
}
