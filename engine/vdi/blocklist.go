package vdi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Put Block List bodies come in the byte encodings real SQL Server uses
// (docs/compatibility.md, "Writing: Put Block List encodings"): UTF-16LE
// with or without a BOM on Windows, UTF-8 bytes that still declare
// encoding="utf-16" on Linux, and what other Azure clients send (UTF-8
// with or without BOM or declaration, UTF-16BE).

// maxBlocks is Azure's limit of committed blocks in one blob.
const maxBlocks = 50_000

// maxBlockListBody bounds a Put Block List body. The longest element is
// <Uncommitted>ID</Uncommitted>: 27 characters of tags plus an 88-character
// id (base64 of 64 bytes), 115 characters, say 120 with a line break and an
// indent; 50,000 of them are 6,000,000 characters, 12,000,000 bytes in
// UTF-16. 16 MiB leaves room for the declaration and generous whitespace.
const maxBlockListBody = 16 << 20

// errBlockListTooLong is a list over maxBlocks ids.
var errBlockListTooLong = errors.New("the block list may not contain more than 50,000 blocks")

// blockList is Put Block List's body. SQL Server names new blocks as
// Latest; Committed and Uncommitted are accepted too, in document order.
type blockList struct {
	XMLName xml.Name
	Items   []blockItem `xml:",any"`
}

type blockItem struct {
	XMLName xml.Name
	ID      string `xml:",chardata"`
}

// decodeText turns a body into UTF-8: a BOM (UTF-8, UTF-16LE, UTF-16BE)
// decides, and without one a NUL beside the first character ("<\x00" or
// "\x00<") marks UTF-16 of that byte order; anything else is UTF-8.
func decodeText(body []byte) ([]byte, error) {
	var fallback transform.Transformer = transform.Nop
	utf16 := bytes.HasPrefix(body, []byte{0xFF, 0xFE}) || bytes.HasPrefix(body, []byte{0xFE, 0xFF})
	if len(body) >= 2 && body[0] != 0 && body[1] == 0 {
		fallback, utf16 = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder(), true
	} else if len(body) >= 2 && body[0] == 0 && body[1] != 0 {
		fallback, utf16 = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder(), true
	}
	if utf16 && len(body)%2 != 0 {
		return nil, errors.New("UTF-16 text of an odd number of bytes")
	}
	out, _, err := transform.Bytes(unicode.BOMOverride(fallback), body)
	return out, err
}

// alreadyDecoded is the CharsetReader for text decodeText has made UTF-8:
// a declared UTF-16 (or UTF-8 alias) describes the bytes as they arrived,
// not as they are now, so it is ignored; any other charset is refused.
func alreadyDecoded(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-16", "utf-16le", "utf-16be", "unicode", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// ParseBlockList reads a Put Block List body, in any of the encodings
// above, into ordered block ids.
func ParseBlockList(body []byte) ([]string, error) {
	text, err := decodeText(body)
	if err != nil {
		return nil, fmt.Errorf("block list is not valid text: %w", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(text))
	dec.CharsetReader = alreadyDecoded
	var bl blockList
	if err := dec.Decode(&bl); err != nil {
		return nil, fmt.Errorf("block list is not valid XML: %w", err)
	}
	if bl.XMLName.Local != "BlockList" {
		return nil, fmt.Errorf("the root element is <%s>, not <BlockList>", bl.XMLName.Local)
	}
	if len(bl.Items) > maxBlocks {
		return nil, errBlockListTooLong
	}
	ids := make([]string, 0, len(bl.Items))
	for _, it := range bl.Items {
		switch it.XMLName.Local {
		case "Latest", "Committed", "Uncommitted":
		default:
			return nil, fmt.Errorf("unexpected element <%s> in block list", it.XMLName.Local)
		}
		id := strings.TrimSpace(it.ID)
		if !validBlockID(id) {
			return nil, fmt.Errorf("block id %q is not valid", id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
