package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/handlers"
)

// fuzzRoutes are the API's write routes whose bodies the fuzzer sends.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/policies"}, {"PUT", "/api/v1/policies/1"}, {"POST", "/api/v1/servers"},
	{"POST", "/api/v1/restores"}, {"POST", "/api/v1/items"}, {"POST", "/api/v1/items/1/backup"},
	{"POST", "/api/v1/items/1/stop"}, {"POST", "/api/v1/items/1/resume"}, {"PUT", "/api/v1/servers/1/auto-protect"},
}

// FuzzAPIBodies posts arbitrary bytes as the JSON body of the API's write
// routes as admin: every answer is a 2xx or a 4xx JSON error, never a 5xx.
// The coordinator's SQL connections are refused at once (no network).
func FuzzAPIBodies(f *testing.F) {
	ctx := context.Background()
	catalog, err := db.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { catalog.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := enginetest.Start(f)
	refuse := func(context.Context, mssql.Target) (*mssql.Conn, error) {
		return nil, engine.Wrap(engine.CodeInstanceUnreachable, errors.New("connection refused"), "cannot reach SQL Server (fuzz test)")
	}
	coord := env.Coordinator(catalog, func(c *coordinator.Config) { c.Logger, c.Poll, c.Connect = log, time.Hour, refuse })
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "fuzz", Throttle: auth.DefaultThrottle}
	handler := New(Config{Handlers: h, DB: catalog, Logger: log}).Handler()
	token, _, _ := catalog.CreateToken(ctx, "fuzz", db.RoleAdmin)
	// A policy with id 1 exists so PUT reaches validation.
	body := `{"name":"P","full":{"frequency":"daily","time":"22:00","timezone":"UTC"},"log":{"enabled":true,"every_minutes":15},"retention":{"daily_days":30,"log_days":15}}`
	send := func(method, path string, b []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}
	if r := send("POST", "/api/v1/policies", []byte(body)); r.Code != http.StatusCreated {
		f.Fatalf("seed policy = %d %s", r.Code, r.Body)
	}
	for i := range fuzzRoutes {
		for _, s := range []string{body, `{}`, `null`, `[]`, `"x"`, `{"name":1}`, `{"full":{"time":"99:99"}}`,
			`{"host":"127.0.0.1","port":70000,"username":"sa","password":"x","encrypt":"sometimes"}`,
			`{"item_id":1,"recovery_point_id":-1,"point_in_time":"soon","target":{"mode":"alternate","database_name":"Sales ]'DB\t"}}`,
			`{"item_id":9223372036854775807,"target":{"mode":"files"}}`, `{"database_id":1e400,"policy_id":1}`,
			`{"type":"log","retain_days":-99999999999}`, `{"policy_id":null}`, "\xff\xfe{", `{"a":` + string(bytes.Repeat([]byte("["), 10000))} {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, b []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		rec := send(r.method, r.path, b)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q = %d %s", r.method, r.path, b, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && !bytes.HasPrefix([]byte(ct), []byte("application/json")) {
			t.Fatalf("%s %s error answer is %q, not JSON", r.method, r.path, ct)
		}
	})
}
