// Package load is sqlvault's bounded load test: the real `sqlvault serve`
// runs as a child process with enough job slots for every stream, several
// sqlsim instances hold synthetic databases, and for the test's duration
// each protected database always has one backup (full or log, alternating,
// queued again as each completes) in flight while portal users load pages
// with a session cookie and API clients read lists. At the end every job
// queued must have completed (none failed, none lost, none extra), each
// item's recovery points must be exactly its completed backups, no request
// may have answered 5xx, the child may have logged no error, its peak RSS
// must stay under a bound and `sqlvault vault verify` must be clean.
//
// `go test ./tests/load` runs a short version (8 streams, ~15 s) so CI
// exercises it; SQLVAULT_LOAD=1 runs the full one (20 streams, 64-256 MiB
// databases, SQLVAULT_LOAD_DURATION, default 150s). See docs/reliability.md.
package load

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim"
)

type params struct {
	instances   int
	perInstance int     // databases (and streams, and job slots) per instance
	sizes       []int64 // synthetic database sizes, cycled
	duration    time.Duration
	portalUsers int
	apiClients  int
	think       time.Duration // pause between a reader's requests
	rssBound    int64
}

func loadParams(t *testing.T) params {
	p := params{instances: 2, perInstance: 4, sizes: []int64{8 << 20, 16 << 20, 24 << 20, 32 << 20},
		duration: 15 * time.Second, portalUsers: 3, apiClients: 2, think: 50 * time.Millisecond,
		// The ingest path holds per stream one pooled Put Block buffer
		// (MAXTRANSFERSIZE 4 MiB), the chunks of that block in flight and
		// one open 16 MiB pack: ~25-40 MiB a stream, ~0.8 GiB for 20 at
		// worst, plus the catalog and the web server. 1 GiB is the bound
		// for both sizes; a leak per job or per request would cross it over
		// hundreds of jobs.
		rssBound: 1 << 30}
	if os.Getenv("SQLVAULT_LOAD") == "1" {
		p.instances, p.perInstance = 5, 4
		p.sizes = []int64{64 << 20, 128 << 20, 192 << 20, 256 << 20}
		p.duration = 150 * time.Second
		p.portalUsers, p.apiClients = 4, 2
	}
	if v := os.Getenv("SQLVAULT_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SQLVAULT_LOAD_DURATION=%q: %v", v, err)
		}
		p.duration = d
	}
	return p
}

// recorder collects latencies and failures from every goroutine.
type recorder struct {
	mu  sync.Mutex
	lat map[string][]time.Duration // "page /items", "api /api/v1/jobs", ...
	// pages by quarter of the run, to see whether latency grows with it
	start    time.Time
	span     time.Duration
	quarters [4][]time.Duration
	errs     []string
	nerr     int
}

func (r *recorder) add(kind string, d time.Duration) {
	r.mu.Lock()
	r.lat[kind] = append(r.lat[kind], d)
	if strings.HasPrefix(kind, "page ") && r.span > 0 {
		q := min(3, int(4*time.Since(r.start)/r.span))
		r.quarters[q] = append(r.quarters[q], d)
	}
	r.mu.Unlock()
}

func (r *recorder) fail(format string, args ...any) {
	r.mu.Lock()
	r.nerr++
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

// all merges the latencies whose kind starts with prefix.
func (r *recorder) all(prefix string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for k, l := range r.lat {
		if strings.HasPrefix(k, prefix) {
			out = append(out, l...)
		}
	}
	return out
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	l = slices.Clone(l)
	slices.Sort(l)
	i := int(float64(len(l))*p+0.999999) - 1
	return l[max(0, min(i, len(l)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// backupJob is one backup the test asked for.
type backupJob struct {
	id, item  int64
	kind      string
	status    string
	bytes     int64
	took      time.Duration
	ended     time.Time
	errorText string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// portalClient signs in as admin and keeps the session cookie.
func portalClient(s *server) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: s.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get("http://" + s.addr + "/login")
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("login form (%d) has no CSRF token", r.StatusCode)
	}
	r, err = c.PostForm("http://"+s.addr+"/login", url.Values{"_csrf": {string(m[1])}, "username": {"admin"}, "password": {adminPW}, "next": {"/"}})
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther || strings.HasPrefix(r.Header.Get("Location"), "/login") {
		return nil, fmt.Errorf("sign-in answered %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	return c, nil
}

// get issues one timed GET and checks for a 200.
func get(rec *recorder, c *http.Client, req *http.Request, kind string) {
	t0 := time.Now()
	r, err := c.Do(req)
	if err != nil {
		rec.fail("%s: %v", kind, err)
		return
	}
	_, err = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	d := time.Since(t0)
	if err != nil || r.StatusCode != 200 {
		rec.fail("%s: status %d %v", kind, r.StatusCode, err)
		return
	}
	rec.add(kind, d)
}

func TestLoad(t *testing.T) {
	p := loadParams(t)
	streams := p.instances * p.perInstance
	s := newServer(t, "load.sqlvault.test")
	s.start("--jobs", fmt.Sprint(streams), "--jobs-per-server", fmt.Sprint(p.perInstance))

	// Instances, each with perInstance synthetic databases, registered
	// and discovered through the API.
	var logical int64 // bytes of one full of every database
	dbNames := map[int64][]string{}
	var serverIDs []int64
	for i := 0; i < p.instances; i++ {
		var synth []sqlsim.SyntheticDatabase
		for k := 0; k < p.perInstance; k++ {
			size := p.sizes[(i*p.perInstance+k)%len(p.sizes)]
			synth = append(synth, sqlsim.SyntheticDatabase{Name: fmt.Sprintf("Load%d_%d", i, k), Size: size})
			logical += size
		}
		in := s.sim(sqlsim.Config{MachineName: fmt.Sprintf("SQLLOAD%d", i), SyntheticDatabases: synth})
		reg := s.api("POST", "/api/v1/servers", map[string]any{"name": fmt.Sprintf("LOAD%02d", i), "host": "127.0.0.1", "port": in.Port(),
			"username": "sa", "password": saPW, "encrypt": "disable"}, 201)
		if j := s.waitJob(reg.Num("discovery_job_id"), 30*time.Second); j.Str("status") != "completed" {
			t.Fatalf("discovery of instance %d = %s", i, j)
		}
		serverIDs = append(serverIDs, reg.Num("id"))
		for _, sd := range synth {
			dbNames[reg.Num("id")] = append(dbNames[reg.Num("id")], sd.Name)
		}
	}
	// A policy whose schedule cannot fire during the test: logs off, the
	// daily full 12 hours away. Every backup is then one the test asked
	// for, so the jobs can be counted exactly.
	at := time.Now().UTC().Add(12 * time.Hour).Format("15:04")
	pol := s.api("POST", "/api/v1/policies", map[string]any{"name": "Load",
		"full":      map[string]any{"frequency": "daily", "time": at, "timezone": "UTC"},
		"retention": map[string]any{"daily_days": 30, "log_days": 15}}, 201)

	rec := &recorder{lat: map[string][]time.Duration{}}
	var jobsMu sync.Mutex
	var jobs []*backupJob
	requested := func(j *backupJob) {
		jobsMu.Lock()
		jobs = append(jobs, j)
		jobsMu.Unlock()
	}

	// Readers start with the load and run until the streams stop.
	started := time.Now()
	end := started.Add(p.duration)
	rec.mu.Lock()
	rec.start, rec.span = started, p.duration
	rec.mu.Unlock()
	readersDone := make(chan struct{})
	var readers sync.WaitGroup
	var itemIDs []int64
	var itemsMu sync.Mutex
	someItem := func(n int) int64 {
		itemsMu.Lock()
		defer itemsMu.Unlock()
		if len(itemIDs) == 0 {
			return 0
		}
		return itemIDs[n%len(itemIDs)]
	}
	for u := 0; u < p.portalUsers; u++ {
		c, err := portalClient(s)
		if err != nil {
			t.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			pages := []string{"/", "/items", "/jobs", "/servers", "/restore?item="}
			for n := u; ; n++ {
				select {
				case <-readersDone:
					return
				case <-time.After(p.think):
				}
				path := pages[n%len(pages)]
				kind := "page " + path
				if strings.HasSuffix(path, "=") {
					kind = "page /restore"
					path += fmt.Sprint(someItem(n / len(pages)))
				}
				req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
				get(rec, c, req, kind)
			}
		}()
	}
	for a := 0; a < p.apiClients; a++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			paths := []string{"/api/v1/jobs", "/api/v1/items"}
			for n := a; ; n++ {
				select {
				case <-readersDone:
					return
				case <-time.After(p.think):
				}
				req, _ := http.NewRequest("GET", "http://"+s.addr+paths[n%len(paths)], nil)
				req.Header.Set("Authorization", "Bearer "+s.token)
				get(rec, s.client, req, "api "+paths[n%len(paths)])
			}
		}()
	}
	// Samplers: backups in progress at once, and the child's RSS.
	var peakRunning int
	var rss []int64
	readers.Add(1)
	go func() {
		defer readers.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-readersDone:
				return
			case <-tick.C:
			}
			if a, err := s.try("GET", "/api/v1/jobs?operation=backup&status=in_progress&limit=500", nil); err == nil && a.Status == 200 {
				peakRunning = max(peakRunning, len(a.List("jobs")))
			}
			if n%4 == 0 {
				rss = append(rss, s.procStatus("VmRSS"))
			}
		}
	}()

	// wait polls a job from a stream until it ends.
	wait := func(j *backupJob) {
		deadline := time.Now().Add(p.duration + 5*time.Minute)
		for {
			time.Sleep(200 * time.Millisecond)
			a, err := s.try("GET", fmt.Sprintf("/api/v1/jobs/%d", j.id), nil)
			if err != nil || a.Status != 200 {
				rec.fail("job %d poll: %v %s", j.id, err, a)
				if time.Now().After(deadline) {
					j.status = "timeout"
					return
				}
				continue
			}
			switch a.Str("status") {
			case "completed", "failed", "cancelled":
				j.status, j.bytes = a.Str("status"), a.Num("bytes_transferred")
				st, _ := time.Parse(time.RFC3339Nano, a.Str("started_at"))
				j.ended, _ = time.Parse(time.RFC3339Nano, a.Str("ended_at"))
				j.took = j.ended.Sub(st)
				if e, ok := a.M["error"].(map[string]any); ok {
					j.errorText = fmt.Sprint(e["code"], ": ", e["message"])
				}
				return
			}
			if time.Now().After(deadline) {
				j.status = "timeout"
				return
			}
		}
	}

	// Protect every database (which queues its first full at once), then
	// keep one backup of each in flight until the end.
	var streamsWG sync.WaitGroup
	for _, sid := range serverIDs {
		dbs := s.api("GET", fmt.Sprintf("/api/v1/databases?server_id=%d", sid), nil, 200)
		for _, x := range dbs.List("databases") {
			m := x.(map[string]any)
			if !slices.Contains(dbNames[sid], fmt.Sprint(m["name"])) {
				continue
			}
			it := s.api("POST", "/api/v1/items", map[string]any{"database_id": num(m, "id"), "policy_id": pol.Num("id")}, 201)
			itemID := it.Num("id")
			itemsMu.Lock()
			itemIDs = append(itemIDs, itemID)
			itemsMu.Unlock()
			first := &backupJob{id: it.Num("job_id"), item: itemID, kind: "full"}
			requested(first)
			streamsWG.Add(1)
			go func() {
				defer streamsWG.Done()
				wait(first)
				for n := 0; time.Now().Before(end); n++ {
					kind := []string{"log", "full"}[n%2]
					a, err := s.try("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": kind})
					if err != nil || a.Status != 202 {
						rec.fail("backup now of item %d (%s): %v %s", itemID, kind, err, a)
						return
					}
					j := &backupJob{id: a.Num("job_id"), item: itemID, kind: kind}
					requested(j)
					wait(j)
				}
			}()
		}
	}
	if len(itemIDs) != streams {
		t.Fatalf("protected %d databases, want %d", len(itemIDs), streams)
	}
	streamsDone := make(chan struct{})
	go func() { streamsWG.Wait(); close(streamsDone) }()
	select {
	case <-streamsDone:
	case <-time.After(p.duration + 6*time.Minute):
		t.Fatalf("the streams did not finish within %v of the end", 6*time.Minute)
	}
	close(readersDone)
	readers.Wait()
	loadEnd := started
	for _, j := range jobs {
		if j.ended.After(loadEnd) {
			loadEnd = j.ended
		}
	}
	elapsed := loadEnd.Sub(started)
	peakRSS := s.procStatus("VmHWM")

	// Every job asked for completed, and the server knows of no other.
	completed := 0
	byItem := map[int64]map[int64]*backupJob{}
	var totalBytes int64
	var fullTook []time.Duration
	for _, j := range jobs {
		if j.status != "completed" {
			t.Errorf("backup job %d (%s of item %d) ended %s %s", j.id, j.kind, j.item, j.status, j.errorText)
			continue
		}
		completed++
		totalBytes += j.bytes
		if j.kind == "full" {
			fullTook = append(fullTook, j.took)
		}
		if byItem[j.item] == nil {
			byItem[j.item] = map[int64]*backupJob{}
		}
		byItem[j.item][j.id] = j
	}
	listed := map[int64]string{}
	for before := int64(0); ; {
		q := "/api/v1/jobs?operation=backup&limit=500"
		if before > 0 {
			q += fmt.Sprintf("&before=%d", before)
		}
		page := s.api("GET", q, nil, 200).List("jobs")
		for _, x := range page {
			m := x.(map[string]any)
			if _, dup := listed[num(m, "id")]; dup {
				t.Errorf("job %d listed twice", num(m, "id"))
			}
			listed[num(m, "id")] = fmt.Sprint(m["status"])
			before = num(m, "id")
		}
		if len(page) < 500 {
			break
		}
	}
	if len(listed) != len(jobs) {
		t.Errorf("the server lists %d backup jobs, the test asked for %d", len(listed), len(jobs))
	}
	for _, j := range jobs {
		if st, ok := listed[j.id]; !ok || st != "completed" {
			t.Errorf("job %d is listed as %q", j.id, st)
		}
	}
	// Each item's recovery points are exactly its completed backups.
	var stored int64
	for _, id := range itemIDs {
		pts := s.api("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points", id), nil, 200).List("recovery_points")
		seen := map[int64]bool{}
		for _, x := range pts {
			m := x.(map[string]any)
			jid := num(m, "job_id")
			j, ok := byItem[id][jid]
			switch {
			case seen[jid]:
				t.Errorf("item %d: two points of job %d", id, jid)
			case !ok:
				t.Errorf("item %d: point %d of job %d, not a completed backup of the item", id, num(m, "id"), jid)
			case fmt.Sprint(m["type"]) != j.kind:
				t.Errorf("item %d: point of job %d is %v, the job was a %s", id, jid, m["type"], j.kind)
			}
			seen[jid] = true
			stored += num(m, "stored_bytes")
		}
		if len(pts) != len(byItem[id]) {
			t.Errorf("item %d has %d recovery points for %d completed backups", id, len(pts), len(byItem[id]))
		}
	}
	// No 5xx anywhere (the server's own counter covers the job polls and
	// the setup calls too), no error in the log.
	m := s.api("GET", "/metrics", nil, 200)
	for _, l := range strings.Split(string(m.Raw), "\n") {
		if strings.HasPrefix(l, "sqlvault_http_requests_total{") && strings.Contains(l, `status="5`) {
			t.Errorf("the server answered 5xx: %s", l)
		}
	}
	rec.mu.Lock()
	if rec.nerr > 0 {
		t.Errorf("%d request errors, first: %s", rec.nerr, strings.Join(rec.errs, "\n"))
	}
	rec.mu.Unlock()
	s.mu.Lock()
	if len(s.errLogs) > 0 {
		t.Errorf("the server logged %d errors, first: %s", len(s.errLogs), s.errLogs[0])
	}
	s.mu.Unlock()
	if peakRunning < streams {
		t.Errorf("at most %d backups were seen running at once, want %d", peakRunning, streams)
	}
	if peakRSS == 0 || peakRSS > p.rssBound {
		t.Errorf("peak RSS (VmHWM) %d MiB, bound %d MiB", peakRSS>>20, p.rssBound>>20)
	}

	s.stop()
	if out, err := s.vault("verify"); err != nil || !strings.Contains(out, "OK") {
		t.Errorf("vault verify after the load: %v\n%s", err, out)
	}

	// Figures.
	pages, apis := rec.all("page "), rec.all("api ")
	t.Logf("load: %d streams on %d instances (%d MiB per round of fulls), %v of load (%v asked); device %s", streams, p.instances, logical>>20, elapsed.Round(time.Second), p.duration, s.deviceAddr)
	t.Logf("backups: %d completed of %d asked (%.1f a minute), peak %d running at once", completed, len(jobs), float64(completed)/elapsed.Minutes(), peakRunning)
	t.Logf("backed up: %.0f MB in total, %.1f MB/s (10^6 B); stored %.0f MB after dedup and compression; full took p50 %v p99 %v",
		float64(totalBytes)/1e6, float64(totalBytes)/1e6/elapsed.Seconds(), float64(stored)/1e6, pct(fullTook, 0.5).Round(time.Millisecond), pct(fullTook, 0.99).Round(time.Millisecond))
	t.Logf("portal pages: %d, p50 %s p99 %s max %s", len(pages), ms(pct(pages, 0.5)), ms(pct(pages, 0.99)), ms(pct(pages, 1)))
	rec.mu.Lock()
	kinds := make([]string, 0, len(rec.lat))
	for k := range rec.lat {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		l := rec.lat[k]
		t.Logf("  %-22s n=%-6d p50 %-9s p99 %-9s max %s", k, len(l), ms(pct(l, 0.5)), ms(pct(l, 0.99)), ms(pct(l, 1)))
	}
	rec.mu.Unlock()
	var qs []string
	for _, l := range rec.quarters {
		qs = append(qs, fmt.Sprintf("%s/%s", ms(pct(l, 0.5)), ms(pct(l, 0.99))))
	}
	t.Logf("portal pages p50/p99 in each quarter of the run: %s", strings.Join(qs, ", "))
	t.Logf("API reads: %d, p50 %s p99 %s max %s", len(apis), ms(pct(apis, 0.5)), ms(pct(apis, 0.99)), ms(pct(apis, 1)))
	var q []string
	for i := 1; i <= 4 && len(rss) > 0; i++ {
		q = append(q, fmt.Sprintf("%d MiB", rss[min(len(rss)-1, i*len(rss)/4)]>>20))
	}
	t.Logf("child memory: peak RSS (VmHWM) %d MiB (bound %d MiB); RSS at each quarter of the run: %s", peakRSS>>20, p.rssBound>>20, strings.Join(q, ", "))
}
