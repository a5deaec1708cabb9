package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// SQLite serves a deleted catalog from its open descriptor, so only
// /healthz can tell an operator that every change is going nowhere.
func TestHealthzFailsWhenTheCatalogFileIsDeleted(t *testing.T) {
	ts := newTestServer(t)
	if err := os.Remove(ts.db.Path()); err != nil {
		t.Fatal(err)
	}
	r, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, r)
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "deleted") || !strings.Contains(b, db.FileName) {
		t.Fatalf("healthz with the catalog file deleted = %d %s, want 503 naming the file", r.StatusCode, b)
	}
}

// A change the catalog's disk has no room for is refused with 507 and
// UserErrorCatalogStorageFull, not an internal error.
func TestCatalogFullAnswers507(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	ctx := context.Background()
	if err := ts.db.SetMaxPageCount(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 100000 && err == nil; i++ { // fill the users table's pages
		_, err = ts.db.CreateUser(ctx, fmt.Sprintf("filler%04d", i), strings.Repeat("h", 100), db.RoleReader)
	}
	if !db.IsStorageFull(err) {
		t.Fatalf("filling the catalog ended with %v", err)
	}
	a := admin.want(admin.do("POST", "/api/v1/users", map[string]any{"username": "fullness1", "password": goodPassword, "role": "reader"}),
		http.StatusInsufficientStorage, "UserErrorCatalogStorageFull")
	if !strings.Contains(a.str("message"), "not saved") {
		t.Errorf("message %q does not say the change was not saved", a.str("message"))
	}
	if _, err := ts.db.UserByName(ctx, "fullness1"); err == nil {
		t.Error("the refused user exists")
	}
}
