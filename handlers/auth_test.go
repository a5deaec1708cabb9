package handlers

import "testing"

// TestSafeNextKeepsRedirectsOnSite: next= may only name a path of this
// site; every form a browser could resolve to another host, raw or
// percent-encoded, falls back to "/".
func TestSafeNextKeepsRedirectsOnSite(t *testing.T) {
	cases := []struct{ next, want string }{
		{"", "/"},
		{"/jobs", "/jobs"},
		{"/jobs?status=failed&item_id=3", "/jobs?status=failed&item_id=3"},
		{"/items/7#points", "/items/7#points"},
		{"/restore?next=%2Fjobs", "/restore?next=%2Fjobs"},
		{"/search?q=a//b", "/search?q=a//b"}, // "//" in a query is no host
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/jobs\\..\\x", "/"},
		{"https://evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"%2f%2fevil.example", "/"},
		{"/%5cevil.example", "/"},
		{"/%252f%252fevil.example", "/"}, // encoded twice
		{"/%09/evil.example", "/"},       // browsers drop tabs: "//evil.example"
		{"/\t/evil.example", "/"},
		{"/\r\nSet-Cookie:x=y", "/"},
		{"/jobs%00", "/"},
		{"/jobs\u0085", "/"}, // C1 control
		{"/%zz", "/"},
	}
	for _, c := range cases {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}
