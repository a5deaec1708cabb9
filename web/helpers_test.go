package web

import (
	"net"
	"strconv"
	"testing"
)

func strconvI(v int64) string { return strconv.FormatInt(v, 10) }

func listen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
