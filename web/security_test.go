package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/vdi"
	"github.com/sqlvault/sqlvault/handlers"
)

// loginForm fetches the sign-in form (its CSRF cookie and token) with the
// headers given and returns the form's values with the token filled in.
func loginForm(t *testing.T, base string, c *http.Client, hdr http.Header) url.Values {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/login", nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(body(t, r))
	if m == nil {
		t.Fatal("login form has no CSRF token")
	}
	return url.Values{"_csrf": {m[1]}, "next": {"/jobs"}}
}

// postLogin signs in as user with pw, sending hdr (e.g. X-Forwarded-For).
func postLogin(t *testing.T, base string, c *http.Client, user, pw string, hdr http.Header) *http.Response {
	t.Helper()
	f := loginForm(t, base, c, hdr)
	f.Set("username", user)
	f.Set("password", pw)
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(f.Encode()))
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	return r
}

func from(xff string) http.Header { return http.Header{"X-Forwarded-For": {xff}, "X-Real-Ip": {xff}} }

func trusting(cidr string) func(*Config) {
	_, n, _ := net.ParseCIDR(cidr)
	return func(c *Config) { c.TrustedProxies = append(c.TrustedProxies, n) }
}

// TestForwardedHeadersCannotBypassThrottle: without a trusted proxy the
// client address is the socket's, whatever X-Forwarded-For or X-Real-IP
// claim, so changing them between attempts gains nothing.
func TestForwardedHeadersCannotBypassThrottle(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if r := postLogin(t, ts.URL, c, "admin", "wrong", from(ip)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d", i+1, r.StatusCode)
		}
	}
	if r := postLogin(t, ts.URL, c, "admin", "admin-pw", from("198.51.100.4")); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures under 3 claimed addresses = %d, want 429 (headers must not count)", r.StatusCode)
	}
}

// TestTrustedProxyClientAddress: behind a declared proxy the client is
// X-Forwarded-For's nearest untrusted hop: one client's failures do not
// throttle another's, and a client cannot pick its own address by
// prepending one.
func TestTrustedProxyClientAddress(t *testing.T) {
	ts := newTestServer(t, trusting("127.0.0.0/8"))
	c := browser(t)
	for range 3 {
		postLogin(t, ts.URL, c, "admin", "wrong", from("203.0.113.5"))
	}
	if r := postLogin(t, ts.URL, c, "admin", "admin-pw", from("203.0.113.5")); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("throttled client = %d, want 429", r.StatusCode)
	}
	// The proxy appends the real peer; what the client wrote comes first.
	if r := postLogin(t, ts.URL, c, "admin", "admin-pw", from("203.0.113.6, 203.0.113.5")); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("throttled client claiming another address = %d, want 429", r.StatusCode)
	}
	if r := postLogin(t, ts.URL, browser(t), "admin", "admin-pw", from("203.0.113.6")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("another client behind the proxy = %d, want 303", r.StatusCode)
	}
}

// TestNoLockOutFromElsewhere: failures of a user name from many addresses
// slow that name's answers but never refuse it, so the real user still
// signs in from an address of their own.
func TestNoLockOutFromElsewhere(t *testing.T) {
	th := auth.DefaultThrottle
	th.UserFree, th.UserMaxDelay = 3, time.Millisecond
	ts := newTestServer(t, trusting("127.0.0.0/8"), func(c *Config) { c.Handlers.Throttle = th })
	c := browser(t)
	for i := range 12 {
		ip := "192.0.2." + itoa(int64(10+i))
		if r := postLogin(t, ts.URL, c, "admin", "guess", from(ip)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attacker's guess from %s = %d, want 401 (slowed, not refused)", ip, r.StatusCode)
		}
	}
	if r := postLogin(t, ts.URL, browser(t), "admin", "admin-pw", from("198.51.100.77")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the real admin from their own address = %d, want 303", r.StatusCode)
	}
}

// TestLongUserNameRefusedBeforeAnyWrite: a user name over 128 characters
// is refused with 422 before the catalog is written, and logged cut short.
func TestLongUserNameRefusedBeforeAnyWrite(t *testing.T) {
	var logs bytes.Buffer
	ts := newTestServer(t, func(c *Config) { c.Handlers.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	name := strings.Repeat("a", 200) + "TAIL"
	r := postLogin(t, ts.URL, browser(t), name, "x", nil)
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("200-character user name = %d, want 422", r.StatusCode)
	}
	if n, _ := ts.db.FailureRows(context.Background()); n != 0 {
		t.Fatalf("%d failure rows written for a refused name, want 0", n)
	}
	if l := logs.String(); !strings.Contains(l, strings.Repeat("a", 32)+"…") || strings.Contains(l, "TAIL") {
		t.Fatalf("log does not hold the name truncated:\n%.500s", l)
	}
	if r := postLogin(t, ts.URL, browser(t), strings.Repeat("b", 128), "x", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("128-character user name = %d, want 401 (checked like any other)", r.StatusCode)
	}
}

// TestConcurrentSignInsWaitForHashSlots: 200 bad sign-ins at once are all
// answered (401, or 429/503 with Retry-After) while no more than the
// gate's 3 password hashes ever run together.
func TestConcurrentSignInsWaitForHashSlots(t *testing.T) {
	gate := auth.NewGate(3, 200*time.Millisecond)
	ts := newTestServer(t, func(c *Config) { c.Handlers.Hashing = gate })
	c := browser(t)
	c.Transport = &http.Transport{MaxIdleConnsPerHost: 200}
	f := loginForm(t, ts.URL, c, nil)
	f.Set("password", "wrong")
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := url.Values{"_csrf": f["_csrf"], "password": f["password"], "username": {"user" + itoa(int64(i))}}
			r, err := c.PostForm(ts.URL+"/login", g)
			if err != nil {
				t.Error(err)
				return
			}
			body(t, r)
			if (r.StatusCode == 429 || r.StatusCode == 503) && r.Header.Get("Retry-After") == "" {
				t.Errorf("%d without Retry-After", r.StatusCode)
			}
			mu.Lock()
			statuses[r.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("answers: %v; hashes run %d, at most %d at once", statuses, gate.Runs(), gate.Peak())
	if statuses[401]+statuses[429]+statuses[503] != 200 {
		t.Fatalf("answers %v, want all 200 to be 401, 429 or 503", statuses)
	}
	if gate.Peak() > 3 || gate.Peak() < 1 {
		t.Fatalf("%d hashes ran at once, want 1 to 3", gate.Peak())
	}
	if int(gate.Runs()) != statuses[401] {
		t.Fatalf("%d hashes for %d wrong-password answers", gate.Runs(), statuses[401])
	}
}

// TestCSRFTokenIsBoundToSession: one session's token does not pass for
// another session, the sign-in form's token does not pass after sign-in,
// and a bearer header on a portal route does not switch the check off.
func TestCSRFTokenIsBoundToSession(t *testing.T) {
	ts := newTestServer(t)
	admin, olga := signedIn(t, ts, "admin"), signedIn(t, ts, "olga")
	if admin.csrf == olga.csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	post := func(s session, path, token string, hdr http.Header) int {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(url.Values{"_csrf": {token}}.Encode()))
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := s.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body(t, r)
		return r.StatusCode
	}
	if st := post(olga, "/logout", admin.csrf, nil); st != http.StatusForbidden {
		t.Errorf("olga's logout with admin's token = %d, want 403", st)
	}
	if st := post(olga, "/api/v1/items/1/backup", admin.csrf, nil); st != http.StatusForbidden {
		t.Errorf("olga's API write by cookie with admin's token = %d, want 403", st)
	}
	if st := post(olga, "/logout", "", http.Header{"Authorization": {"Bearer svt_anything"}}); st != http.StatusForbidden {
		t.Errorf("portal write with a bearer header and no token = %d, want 403", st)
	}
	pre := loginForm(t, ts.URL, olga.c, nil).Get("_csrf")
	if st := post(olga, "/logout", pre, nil); st != http.StatusForbidden {
		t.Errorf("logout with the sign-in form's token = %d, want 403", st)
	}
	if st := post(olga, "/logout", olga.csrf, nil); st != http.StatusSeeOther {
		t.Errorf("logout with olga's own token = %d, want 303", st)
	}
}

// TestUnsafeNextFallsBackHome: a sign-in with next= pointing off-site
// lands on the overview.
func TestUnsafeNextFallsBackHome(t *testing.T) {
	ts := newTestServer(t)
	for _, next := range []string{"//evil.example/", "/%2f%2fevil.example", "/\\evil.example", "https://evil.example"} {
		c := browser(t)
		f := loginForm(t, ts.URL, c, nil)
		f.Set("username", "admin")
		f.Set("password", "admin-pw")
		f.Set("next", next)
		r, _ := c.PostForm(ts.URL+"/login", f)
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("next=%q: %d to %q, want 303 to /", next, r.StatusCode, loc)
		}
	}
}

func cookieNamed(r *http.Response, name string) *http.Cookie {
	for _, ck := range r.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// TestSecureCookiesAndHSTS: served over TLS, or through a trusted proxy
// saying X-Forwarded-Proto: https, the session and CSRF cookies are Secure
// and HSTS is sent; the same header from anyone else changes nothing.
func TestSecureCookiesAndHSTS(t *testing.T) {
	leaf, err := vdi.IssueFromCA(t.TempDir(), []string{"127.0.0.1"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(leaf.Certificate[1])
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	tlsBase := serveReal(t, &tls.Config{Certificates: []tls.Certificate{*leaf}})
	viaProxy := newTestServer(t, trusting("127.0.0.1/32"))
	plain := newTestServer(t)
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	cases := []struct {
		name   string
		base   string
		hdr    http.Header
		secure bool
	}{
		{"over TLS", tlsBase, nil, true},
		{"trusted proxy, https", viaProxy.URL, https, true},
		{"trusted proxy, http", viaProxy.URL, nil, false},
		{"untrusted client claiming https", plain.URL, https, false},
	}
	for _, tc := range cases {
		c := browser(t)
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
		req, _ := http.NewRequest("GET", tc.base+"/login", nil)
		for k, v := range tc.hdr {
			req.Header[k] = v
		}
		r, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body(t, r)
		csrf := cookieNamed(r, loginCSRFCookie)
		hsts := r.Header.Get("Strict-Transport-Security")
		if csrf == nil || csrf.Secure != tc.secure || (hsts != "") != tc.secure {
			t.Errorf("%s: CSRF cookie %+v, HSTS %q; want Secure and HSTS = %v", tc.name, csrf, hsts, tc.secure)
		}
		r = postLogin(t, tc.base, c, "admin", "admin-pw", tc.hdr)
		if s := cookieNamed(r, handlers.SessionCookie); s == nil || s.Secure != tc.secure {
			t.Errorf("%s: session cookie %+v, want Secure = %v", tc.name, s, tc.secure)
		}
	}
}

// serveReal runs the server's own Serve (with TLS when given) on a
// loopback listener and returns its base URL.
func serveReal(t *testing.T, tlsCfg *tls.Config, opts ...func(*Config)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword("admin-pw")
	catalog.CreateUser(ctx, "admin", hash, db.RoleAdmin)
	log := slog.New(slog.DiscardHandler)
	cfg := Config{Handlers: &handlers.Handlers{DB: catalog, Logger: log, Throttle: auth.DefaultThrottle}, DB: catalog, Logger: log, TLS: tlsCfg}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg)
	l := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done; catalog.Close() })
	if tlsCfg != nil {
		return "https://" + l.Addr().String()
	}
	return "http://" + l.Addr().String()
}

// TestMetricsTokenOrOwnAddress: with MetricsToken, /metrics needs an API
// token; with MetricsElsewhere it is not on the portal at all and
// MetricsHandler serves it.
func TestMetricsTokenOrOwnAddress(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Metrics = MetricsToken })
	if r, _ := http.Get(ts.URL + "/metrics"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("metrics without a token = %d, want 401", r.StatusCode)
	}
	tok, _, _ := ts.db.CreateToken(context.Background(), "prometheus", db.RoleReader)
	req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r, _ := http.DefaultClient.Do(req)
	if b := body(t, r); r.StatusCode != 200 || !strings.Contains(b, "sqlvault_http_requests_total") {
		t.Fatalf("metrics with a token = %d", r.StatusCode)
	}

	ts = newTestServer(t, func(c *Config) { c.Metrics = MetricsElsewhere })
	if r, _ := http.Get(ts.URL + "/metrics"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics on the portal with their own address = %d, want 404", r.StatusCode)
	}
	own := httptest.NewServer(ts.srv.MetricsHandler())
	defer own.Close()
	if r, _ := http.Get(own.URL + "/metrics"); r.StatusCode != 200 || !strings.Contains(body(t, r), "sqlvault_http_requests_total") {
		t.Fatalf("metrics on their own address = %d", r.StatusCode)
	}
}

// TestNewRegistrationsEncryptByDefault: a registration that names no
// encryption gets encrypt=true (TDS without TLS carries the password under
// a reversible obfuscation), the register form starts on On, and the
// portal warns on a server whose certificate is trusted unchecked.
func TestNewRegistrationsEncryptByDefault(t *testing.T) {
	ts := newTestServer(t)
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.TLS = true
	sim := ts.env.StartSim(cfg)
	admin := ts.client(t, db.RoleAdmin)
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "TLS01", "host": "127.0.0.1",
		"port": sim.Port(), "username": "sa", "password": "Sa-Passw0rd!", "trust_server_certificate": true}), 201)
	if reg.str("encrypt") != "true" {
		t.Fatalf("registration without encrypt saved encrypt=%q, want true", reg.str("encrypt"))
	}
	s := signedIn(t, ts, "admin")
	r, _ := s.c.Get(ts.URL + "/servers")
	b := body(t, r)
	if !strings.Contains(b, `<option value="true" selected>`) {
		t.Error("the register form does not start on encryption On")
	}
	if !strings.Contains(b, "transport-warning") || !strings.Contains(b, "certificate is trusted without checking") {
		t.Errorf("no warning for a server whose certificate is trusted unchecked:\n%.3000s", b)
	}
}
