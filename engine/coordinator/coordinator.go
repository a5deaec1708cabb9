// Package coordinator runs sqlvault's workflows: it registers and
// discovers SQL Server instances, keeps policies' cron schedules, queues
// every operation as a job in the catalog, runs jobs on a bounded worker
// pool, and drives backups and restores through the SQL plugin, the
// virtual device and the vault. Handlers call it; it calls mssql, vdi,
// vault and db.
package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/notify"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/secret"
	"github.com/sqlvault/sqlvault/engine/vault"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// Config wires a coordinator.
type Config struct {
	DB          *db.DB
	Vault       *vault.Vault
	Device      *vdi.Device
	DeviceName  string // the DNS name SQL Server reaches the device by
	Secrets     *secret.Box
	Logger      *slog.Logger
	Now         func() time.Time
	PerInstance int // concurrent jobs per SQL Server instance; default 4
	Global      int // concurrent jobs in all; default 8
	// Log backups have slots of their own beside those, so fulls cannot
	// starve them: LogsPerInstance per instance (default 4), Logs in all
	// (default 8). More was no faster on 2 cores (docs/performance.md).
	LogsPerInstance int
	Logs            int
	// Connect opens the plugin; tests may wrap it. Default mssql.Connect.
	Connect func(ctx context.Context, t mssql.Target) (*mssql.Conn, error)
	// Poll is how often the queue is checked without a wake-up; default 1s.
	Poll time.Duration
	// Limits bound policies; default policy.DefaultLimits. Demo mode
	// relaxes them for schedules that turn in minutes.
	Limits policy.Limits
	// NoCron keeps the real-time cron from firing anything: for tests that
	// move a fake clock (Now) and fire schedules and checks themselves
	// (RunDue, CheckHealth), which a firing at a real minute's turn would
	// otherwise disturb. Next-run times are still kept.
	NoCron bool
	// Hook, when set, is called at named points of the workflows
	// ("backup-before-label", "backup-before-commit", "retention-before-purge-rows",
	// "restore-between-links", "job-ended"); crash tests kill the process there.
	Hook func(point string)
	// Webhook, when set, receives every new alert as a JSON POST (the
	// notifier's "cli" channel).
	Webhook        string
	WebhookBackoff time.Duration // first retry delay; default 2 s
	// Notifier sends alerts to the configured channels; default one made
	// from DB, Secrets and Webhook.
	Notifier *notify.Notifier
	// Registry receives the coordinator's Prometheus metrics; may be nil.
	Registry prometheus.Registerer
}

// Coordinator is the engine's front door.
type Coordinator struct {
	cfg  Config
	log  *slog.Logger
	cron *cron.Cron

	mu        sync.Mutex
	running   map[int64]*runningJob    // job id -> running job
	jobs      slots                    // every job but log backups
	logs      slots                    // log backups
	entries   map[int64][]cron.EntryID // policy id -> cron entries
	blobJobs  map[string]int64         // device blob -> job id, for progress
	conns     map[int64]pooled         // server id -> plugin connection pool
	cancelled map[int64]bool           // cancel asked before the job's context existed
	metrics   *metrics
	notifier  *notify.Notifier
	stopping  atomic.Bool // Stop has begun: jobs ending now are left to recovery
	wake      chan struct{}
	wg        sync.WaitGroup
	stop      context.CancelFunc
	trouble   troubleLog // catalog troubles sent to the webhook (health.go)
}

type runningJob struct {
	job    db.Job
	cancel context.CancelFunc
}

// New makes a coordinator; Start runs it.
func New(cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PerInstance <= 0 {
		cfg.PerInstance = 4
	}
	if cfg.Global <= 0 {
		cfg.Global = 8
	}
	if cfg.LogsPerInstance <= 0 {
		cfg.LogsPerInstance = 4
	}
	if cfg.Logs <= 0 {
		cfg.Logs = 8
	}
	if cfg.Connect == nil {
		cfg.Connect = mssql.Connect
	}
	if cfg.Limits.MinLogMinutes == 0 {
		cfg.Limits = policy.DefaultLimits
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, running: map[int64]*runningJob{},
		jobs: newSlots(cfg.Global, cfg.PerInstance), logs: newSlots(cfg.Logs, cfg.LogsPerInstance),
		entries: map[int64][]cron.EntryID{}, blobJobs: map[string]int64{}, conns: map[int64]pooled{}, cancelled: map[int64]bool{},
		wake: make(chan struct{}, 1), metrics: newMetrics(cfg.Registry)}
	c.cron = cron.New(cron.WithLogger(cron.DiscardLogger))
	c.notifier = newNotifier(cfg)
	if cfg.Device != nil {
		cfg.Device.OnProgress(c.onDeviceProgress)
	}
	return c
}

// Start recovers jobs interrupted by a crash, loads the schedules, catches
// up missed slots once, and starts the dispatcher.
func (c *Coordinator) Start(ctx context.Context) error {
	if err := c.recoverInterrupted(ctx); err != nil {
		return err
	}
	if err := c.loadSchedules(ctx); err != nil {
		return err
	}
	if err := c.EnsureHealth(ctx); err != nil { // a catalog just migrated
		c.log.Warn("store item health", "err", err)
	}
	if err := c.deleteScratch(ctx, ""); err != nil { // a restart ended every test grant
		c.log.Warn("test grants: scratch blobs left from before the restart not deleted", "err", err)
	}
	c.catchUp(ctx)
	// Housekeeping: RPO and alerts every minute, retention hourly, a full
	// read of the vault weekly.
	c.addCron("@every 1m", func() { c.CheckHealth(context.Background()) })
	c.addCron("@hourly", func() { c.QueueRetention(context.Background()) })
	c.addCron("@every 1m", func() { c.QueueDueVerifications(context.Background()) })
	c.addCron("CRON_TZ=UTC 0 3 * * 0", func() { c.QueueVerify(context.Background()) })
	runCtx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.cron.Start()
	c.wg.Add(2)
	go c.dispatch(runCtx)
	go func() { defer c.wg.Done(); c.notifier.Run(runCtx) }()
	return nil
}

// Stop stops scheduling, cancels running jobs and waits for them.
func (c *Coordinator) Stop() {
	c.stopping.Store(true)
	c.cron.Stop()
	if c.stop != nil {
		c.stop()
	}
	c.wg.Wait()
	c.mu.Lock()
	for id, p := range c.conns {
		p.conn.Close()
		delete(c.conns, id)
	}
	c.mu.Unlock()
}

func (c *Coordinator) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// recoverInterrupted ends jobs that were running when the process died as
// failed with UserErrorInterrupted and queues a retry of each.
func (c *Coordinator) recoverInterrupted(ctx context.Context) error {
	jobs, err := c.cfg.DB.ListJobs(ctx, db.JobFilter{Status: db.JobInProgress, Limit: 500})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Operation == "backup" && c.recoverBackup(ctx, j) {
			// SQL Server had finished: its data is the point, not a retry.
			c.cfg.DB.FinishJob(ctx, j.ID, db.JobCompleted, "", "")
			c.log.Warn("backup interrupted by restart after its transfer; recovery point committed", "job", j.ID)
			continue
		}
		c.cfg.DB.FinishJob(ctx, j.ID, db.JobFailed, string(engine.CodeInterrupted),
			"the server stopped while the job was running; it has been queued again")
		retry := db.NewJob{Operation: j.Operation, Kind: j.Kind, Params: json.RawMessage(j.Params)}
		if j.ServerID != nil {
			retry.ServerID = *j.ServerID
		}
		if j.ItemID != nil {
			retry.ItemID = *j.ItemID
		}
		if _, err := c.cfg.DB.CreateRetryJob(ctx, retry, j.Attempt+1); err != nil && !errors.Is(err, db.ErrAlreadyQueued) {
			return err
		}
		c.log.Warn("job interrupted by restart; retrying", "job", j.ID, "operation", j.Operation)
	}
	return nil
}

// enqueue queues a job. A backup of an item and kind already queued or
// running is not queued again: the catalog refuses it (so callers racing,
// like two cron entries of one minute, catch-up and Backup now, cannot
// both win) and the existing job's id comes back with
// UserErrorOperationAlreadyInProgress.
func (c *Coordinator) enqueue(ctx context.Context, n db.NewJob) (int64, error) {
	if n.StartedBy == "" {
		n.StartedBy = engine.ActorOf(ctx)
	}
	j, err := c.cfg.DB.CreateJob(ctx, n)
	if errors.Is(err, db.ErrAlreadyQueued) {
		return j.ID, engine.Errorf(engine.CodeAlreadyInProgress, "a %s backup of this item is already queued or running (job %d)", n.Kind, j.ID)
	}
	if err != nil {
		return 0, err
	}
	c.poke()
	return j.ID, nil
}

// dispatch starts queued jobs as the limits allow.
func (c *Coordinator) dispatch(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		c.startEligible(ctx)
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, r := range c.running {
				r.cancel()
			}
			c.mu.Unlock()
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

func (c *Coordinator) startEligible(ctx context.Context) {
	queued, err := c.queued(ctx)
	if err != nil {
		c.log.Error("list queued jobs", "err", err)
		return
	}
	bases := c.runningBases()
	for _, j := range queued {
		base := isBase(j)
		if (isLog(j) && bases[*j.ItemID]) || !c.admit(j) {
			if base {
				bases[*j.ItemID] = true // queued before later logs of its item
			}
			continue
		}
		if base {
			bases[*j.ItemID] = true
		}
		if err := c.cfg.DB.StartJob(ctx, j.ID); err != nil {
			c.release(j)
			continue
		}
		jctx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		c.running[j.ID] = &runningJob{job: j, cancel: cancel}
		if c.cancelled[j.ID] {
			delete(c.cancelled, j.ID)
			cancel()
		}
		c.mu.Unlock()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer cancel()
			c.run(jctx, j)
			c.release(j)
			c.poke()
		}()
	}
}

// queued lists the jobs to try, oldest first: the log backups, then the
// rest. Logs are read apart so that a backlog of fulls (2,000 queued at
// the nightly slot) cannot push them out of the window; a queued log
// goes on waiting only for a base of its own item (db.QueuedLogs). The
// queue holds one log per item, so the oldest queued log is the item
// whose last log is oldest: a log not started in its slot goes first in
// the next.
func (c *Coordinator) queued(ctx context.Context) ([]db.Job, error) {
	c.mu.Lock()
	logsFull, jobsFull := c.logs.full(nil), c.jobs.full(nil)
	c.mu.Unlock()
	var logs, rest []db.Job
	var err error
	if !logsFull { // a pool with no slot free has nothing to start
		if logs, err = c.cfg.DB.QueuedLogs(ctx, 200); err != nil {
			return nil, err
		}
	}
	if !jobsFull {
		if rest, err = c.cfg.DB.QueuedJobs(ctx, 200); err != nil {
			return nil, err
		}
	}
	seen := map[int64]bool{}
	for _, j := range logs {
		seen[j.ID] = true
	}
	for _, j := range rest {
		if !seen[j.ID] {
			logs = append(logs, j)
		}
	}
	return logs, nil
}

// A log backup follows the full or differential of its item queued before
// it (e.g. both due at one slot, the full queued first): it starts only
// once that backup has ended, so it goes on from the new base.
func isBase(j db.Job) bool {
	return j.Operation == "backup" && j.ItemID != nil && (j.Kind == mssql.KindFull || j.Kind == mssql.KindDifferential)
}

func isLog(j db.Job) bool {
	return j.Operation == "backup" && j.ItemID != nil && j.Kind == mssql.KindLog
}

// runningBases are the items with a full or differential running.
func (c *Coordinator) runningBases() map[int64]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int64]bool{}
	for _, r := range c.running {
		if isBase(r.job) {
			out[*r.job.ItemID] = true
		}
	}
	return out
}

// admit reserves a slot for the job under the limits of its kind (log
// backups, or the rest): global, per instance, and one backup of each
// kind per item at a time.
func (c *Coordinator) admit(j db.Job) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slotsOf(j).full(j.ServerID) {
		return false
	}
	for _, r := range c.running {
		if r.job.ItemID != nil && j.ItemID != nil && *r.job.ItemID == *j.ItemID {
			same := r.job.Operation == j.Operation && r.job.Kind == j.Kind
			// A log backup may run during a full, as SQL Server allows;
			// restores and configuration never overlap other work on an item.
			if same || j.Operation == "restore" || r.job.Operation == "restore" {
				return false
			}
		}
	}
	c.slotsOf(j).take(j.ServerID)
	c.running[j.ID] = &runningJob{job: j, cancel: func() {}}
	return true
}

func (c *Coordinator) release(j db.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.running[j.ID]; ok {
		c.slotsOf(j).give(j.ServerID)
	}
	delete(c.running, j.ID)
	delete(c.cancelled, j.ID)
}

func (c *Coordinator) slotsOf(j db.Job) *slots {
	if isLog(j) {
		return &c.logs
	}
	return &c.jobs
}

// slots counts the jobs of one pool running in all and per instance.
type slots struct {
	limit, perInstance int
	running            int
	perServer          map[int64]int
}

func newSlots(limit, perInstance int) slots {
	return slots{limit: limit, perInstance: perInstance, perServer: map[int64]int{}}
}

func (s *slots) full(server *int64) bool {
	return s.running >= s.limit || (server != nil && s.perServer[*server] >= s.perInstance)
}

func (s *slots) take(server *int64) {
	s.running++
	if server != nil {
		s.perServer[*server]++
	}
}

func (s *slots) give(server *int64) {
	s.running--
	if server != nil {
		s.perServer[*server]--
	}
}

// Cancel cancels a queued or running job.
func (c *Coordinator) Cancel(ctx context.Context, jobID int64) error {
	j, err := c.cfg.DB.JobByID(ctx, jobID)
	if err != nil {
		return err
	}
	// A job is recorded finished a moment before it leaves c.running:
	// the catalog's status is the one the user saw.
	if j.Status != db.JobQueued && j.Status != db.JobInProgress {
		return engine.Errorf(engine.CodeConflict, "job %d is %s and cannot be cancelled", jobID, j.Status)
	}
	c.mu.Lock()
	r, ok := c.running[jobID]
	if ok {
		// Admitted but maybe not started yet: its context is made after
		// admission, so remember the request too.
		c.cancelled[jobID] = true
	}
	c.mu.Unlock()
	if ok {
		r.cancel()
		return nil
	}
	if j.Status != db.JobQueued {
		return engine.Errorf(engine.CodeConflict, "job %d is %s and cannot be cancelled", jobID, j.Status)
	}
	return c.cfg.DB.FinishJob(ctx, jobID, db.JobCancelled, string(engine.CodeCancelled), "cancelled before it started")
}

// run executes one job and records how it ended.
func (c *Coordinator) run(ctx context.Context, j db.Job) {
	log := c.log.With("job", j.ID, "operation", j.Operation, "kind", j.Kind)
	log.Info("job started")
	st := &steps{c: c, job: j.ID}
	var err error
	switch j.Operation {
	case "rediscover":
		err = c.runRediscover(ctx, j, st)
	case "backup":
		err = c.runBackup(ctx, j, st)
	case "restore":
		err = c.runRestore(ctx, j, st)
	case "retention":
		err = c.runRetention(ctx, j, st)
	case "verify":
		if j.ItemID != nil { // a recovery point's (verify.go); else the vault's
			err = c.runVerifyPoint(ctx, j, st)
		} else {
			err = c.runVerify(ctx, j, st)
		}
	default:
		err = engine.Errorf(engine.CodeInternal, "unknown operation %q", j.Operation)
	}
	st.end()
	bg := context.Background() // record the outcome even if ctx was cancelled
	c.alertHidden(bg, j)
	if err != nil && c.stopping.Load() {
		// The server is shutting down: the job stays in progress and the
		// next start settles it (commits a finished backup, retries the rest).
		log.Info("job interrupted by shutdown; it is settled at the next start")
		return
	}
	switch {
	case err == nil:
		j.Status, j.ErrorCode, j.ErrorMessage = db.JobCompleted, "", ""
		log.Info("job completed")
	case errors.Is(err, context.Canceled) || engine.CodeOf(err) == engine.CodeCancelled || ctx.Err() != nil:
		// Whatever the driver made of the attention, the job was cancelled.
		j.Status, j.ErrorCode, j.ErrorMessage = db.JobCancelled, string(engine.CodeCancelled), "the job was cancelled"
		log.Info("job cancelled")
	default:
		code := engine.CodeOf(err)
		j.Status, j.ErrorCode, j.ErrorMessage = db.JobFailed, string(code), engine.MessageOf(err)
		// The alert first: whoever sees the job failed finds its alert.
		c.alert(bg, j, code, engine.MessageOf(err))
		log.Warn("job failed", "code", code, "err", err)
	}
	c.finishJob(bg, j)
	c.metrics.jobDone(j.Operation, j.Status)
}

func isAlreadyQueued(err error) bool { return engine.CodeOf(err) == engine.CodeAlreadyInProgress }

// alert raises an alert for a failed job, on its item or server.
func (c *Coordinator) alert(ctx context.Context, j db.Job, code engine.Code, msg string) {
	a := db.Alert{Code: string(code), Message: fmt.Sprintf("%s %s failed: %s", j.Operation, j.Kind, msg), JobID: &j.ID}
	a.ItemID, a.ServerID = j.ItemID, j.ServerID
	c.raise(ctx, a)
}

// steps records a job's steps with their times.
type steps struct {
	c    *Coordinator
	job  int64
	list []db.JobStep
}

func (s *steps) begin(name, detail string) {
	s.end()
	s.list = append(s.list, db.JobStep{Name: name, Started: s.c.cfg.Now().UTC(), Detail: detail})
	s.c.cfg.DB.JobSteps(context.Background(), s.job, s.list)
}

func (s *steps) detail(d string) {
	if n := len(s.list); n > 0 {
		s.list[n-1].Detail = d
		s.c.cfg.DB.JobSteps(context.Background(), s.job, s.list)
	}
}

func (s *steps) end() {
	if n := len(s.list); n > 0 && s.list[n-1].Ended == nil {
		t := s.c.cfg.Now().UTC()
		s.list[n-1].Ended = &t
		s.c.cfg.DB.JobSteps(context.Background(), s.job, s.list)
	}
}

func (c *Coordinator) onDeviceProgress(blob string, bytes int64) {
	c.mu.Lock()
	id, ok := c.blobJobs[blob]
	c.mu.Unlock()
	if ok {
		c.cfg.DB.JobBytes(context.Background(), id, bytes)
	}
}

func (c *Coordinator) trackBlobs(jobID int64, blobs []string) func() {
	c.mu.Lock()
	for _, b := range blobs {
		c.blobJobs[b] = jobID
	}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		for _, b := range blobs {
			delete(c.blobJobs, b)
		}
		c.mu.Unlock()
	}
}

// VaultStats sums up the vault: logical bytes backed up against bytes
// stored, the savings of dedup and compression.
func (c *Coordinator) VaultStats(ctx context.Context) (vault.Stats, error) {
	return c.cfg.Vault.Stats(ctx)
}

// DeviceCA is the device's CA certificate (PEM) that SQL Server hosts trust.
func (c *Coordinator) DeviceCA() []byte { return c.cfg.Device.CACertPEM() }

// Job returns one job.
func (c *Coordinator) Job(ctx context.Context, id int64) (db.Job, error) {
	return c.cfg.DB.JobByID(ctx, id)
}

// Databases lists a server's databases as last discovered.
func (c *Coordinator) Databases(ctx context.Context, serverID int64) ([]db.Database, error) {
	return c.cfg.DB.ListDatabases(ctx, serverID)
}

// addCron runs fn on the cron schedule spec, unless NoCron.
func (c *Coordinator) addCron(spec string, fn func()) (cron.EntryID, error) {
	return c.cron.AddFunc(spec, func() {
		if !c.cfg.NoCron {
			fn()
		}
	})
}

func (c *Coordinator) hook(point string) {
	if c.cfg.Hook != nil {
		c.cfg.Hook(point)
	}
}

// Servers lists the registered servers.
func (c *Coordinator) Servers(ctx context.Context) ([]db.Server, error) {
	return c.cfg.DB.ListServers(ctx)
}
