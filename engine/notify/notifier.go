package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/secret"
)

// Options wire a Notifier.
type Options struct {
	DB      *db.DB
	Secrets *secret.Box // seals the SMTP password
	// CLIWebhook is --alert-webhook: a generic channel outside the saved
	// settings, shown on the Settings page but changed only on the command line.
	CLIWebhook  string
	Backoff     time.Duration // first retry delay, doubled each time; default 2 s
	MaxAttempts int           // attempts before a message is failed; default 12 (retries over about an hour)
	Poll        time.Duration // outbox check without a wake-up; default 30 s
	Now         func() time.Time
	Logger      *slog.Logger
	TLS         *tls.Config // roots to trust for SMTP (tests); default the system's
	HTTP        *http.Client
}

// Notifier sends notifications through the outbox.
type Notifier struct {
	o        Options
	wake     chan struct{}
	mu       sync.Mutex
	cfg      Config // as saved, without the password
	password string
}

// New makes a Notifier and reads the saved settings.
func New(o Options) *Notifier {
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	if o.Poll <= 0 {
		o.Poll = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	n := &Notifier{o: o, wake: make(chan struct{}, 1)}
	if o.DB != nil {
		if err := n.load(context.Background()); err != nil {
			o.Logger.Error("read notification settings", "err", err)
		}
	}
	return n
}

func (n *Notifier) load(ctx context.Context) error {
	s, err := n.o.DB.NotifySettings(ctx)
	if err != nil {
		return err
	}
	var c Config
	if err := json.Unmarshal([]byte(s.Config), &c); err != nil {
		return err
	}
	var pw string
	if len(s.SealedSMTP) > 0 && n.o.Secrets != nil {
		if pw, err = n.o.Secrets.Open(s.SealedSMTP); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.cfg, n.password = c, pw
	n.mu.Unlock()
	return nil
}

// Config is the saved configuration; the password is never in it.
func (n *Notifier) Config() Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.cfg
	if c.Email != nil {
		e := *c.Email
		e.Password, e.PasswordSet = nil, n.password != ""
		c.Email = &e
	}
	return c
}

// CLIWebhook is the --alert-webhook URL, if any.
func (n *Notifier) CLIWebhook() string { return n.o.CLIWebhook }

// Save validates and stores a configuration. An email password left out
// keeps the stored one; an empty one removes it.
func (n *Notifier) Save(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	pw := n.password
	n.mu.Unlock()
	var sealed []byte
	if c.Email == nil {
		pw = ""
	} else {
		e := *c.Email
		if e.Password != nil {
			pw = *e.Password
		}
		e.Password, e.PasswordSet = nil, false
		c.Email = &e
	}
	if pw != "" {
		if n.o.Secrets == nil {
			return engine.Errorf(engine.CodeInternal, "no server key to seal the SMTP password with")
		}
		sealed = n.o.Secrets.Seal(pw)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := n.o.DB.SaveNotifySettings(ctx, string(body), sealed); err != nil {
		return err
	}
	n.mu.Lock()
	n.cfg, n.password = c, pw
	n.mu.Unlock()
	return nil
}

// channel is one destination.
type channel struct {
	name, format, target string
	rules                []Rule
}

func (n *Notifier) channels() (Config, string, []channel) {
	n.mu.Lock()
	c, pw := n.cfg, n.password
	n.mu.Unlock()
	var out []channel
	if c.Email != nil {
		out = append(out, channel{ChannelEmail, formatEmail, strings.Join(c.Email.To, ", "), c.rulesOf(ChannelEmail)})
	}
	for i, w := range c.Webhooks {
		out = append(out, channel{WebhookChannel(i), w.Format, w.URL, c.rulesOf(WebhookChannel(i))})
	}
	if n.o.CLIWebhook != "" {
		out = append(out, channel{ChannelCLI, FormatGeneric, n.o.CLIWebhook, c.rulesOf(ChannelCLI)})
	}
	return c, pw, out
}

// delivery is a message rendered for a channel.
func delivery(ch channel, m Message) db.Delivery {
	d := db.Delivery{Channel: ch.name, Format: ch.format, Target: ch.target, Kind: m.Kind, Subject: m.Title}
	if ch.format == formatEmail {
		d.Body = emailBody(m)
	} else {
		d.Body = render(ch.format, m)
	}
	return d
}

// Channels names the channels an alert would go to.
func (n *Notifier) Channels(a db.Alert) []string {
	_, _, chans := n.channels()
	var out []string
	for _, ch := range chans {
		if wants(ch.rules, a.Code, a.Severity, a.JobID != nil) {
			out = append(out, ch.name)
		}
	}
	return out
}

// Alert queues a new alert for every channel whose rules take it.
func (n *Notifier) Alert(ctx context.Context, a db.Alert) {
	_, _, chans := n.channels()
	m := alertMessage(a)
	for _, ch := range chans {
		if !wants(ch.rules, a.Code, a.Severity, a.JobID != nil) {
			continue
		}
		if _, err := n.o.DB.QueueDelivery(ctx, delivery(ch, m)); err != nil {
			n.o.Logger.Error("queue notification", "channel", ch.name, "alert", a.ID, "err", err)
		}
	}
	n.poke()
}

// Direct sends an alert now, without the outbox: for trouble with the
// catalog, where the outbox lives.
func (n *Notifier) Direct(ctx context.Context, a db.Alert) {
	cfg, pw, chans := n.channels()
	m := alertMessage(a)
	for _, ch := range chans {
		if wants(ch.rules, a.Code, a.Severity, a.JobID != nil) {
			if err := n.deliver(ctx, cfg, pw, delivery(ch, m)); err != nil {
				n.o.Logger.Warn("alert notification", "channel", ch.name, "code", a.Code, "err", err)
			}
		}
	}
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// deliver makes one attempt.
func (n *Notifier) deliver(ctx context.Context, cfg Config, pw string, d db.Delivery) error {
	if d.Format != formatEmail {
		return post(ctx, n.o.HTTP, d.Target, d.Body)
	}
	if cfg.Email == nil {
		return permanent{engine.Errorf(engine.CodeNotificationFailed, "email is no longer configured")}
	}
	return sendMail(ctx, *cfg.Email, pw, n.o.TLS, strings.Split(d.Target, ", "), d.Subject, d.Body)
}

// Outcome is one channel's answer to a test message.
type Outcome struct {
	Channel string        `json:"channel"`
	Format  string        `json:"format"`
	OK      bool          `json:"ok"`
	Error   *OutcomeError `json:"error,omitempty"`
}

// OutcomeError is a failed test in the API's error shape.
type OutcomeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Action  string `json:"action"`
}

// Test sends a test message to every channel at once and says how each
// went; each is recorded among the deliveries.
func (n *Notifier) Test(ctx context.Context) []Outcome {
	cfg, pw, chans := n.channels()
	m := testMessage(n.o.Now())
	out := make([]Outcome, len(chans))
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() { out[i] = n.testOne(ctx, cfg, pw, ch, m) })
	}
	wg.Wait()
	return out
}

func (n *Notifier) testOne(ctx context.Context, cfg Config, pw string, ch channel, m Message) Outcome {
	d := delivery(ch, m)
	err := n.deliver(ctx, cfg, pw, d)
	o := Outcome{Channel: ch.name, Format: ch.format, OK: err == nil}
	status, msg := db.DeliverySent, ""
	if err != nil {
		status, msg = db.DeliveryFailed, err.Error()
		o.Error = &OutcomeError{Code: string(engine.CodeNotificationFailed), Message: ch.name + ": " + msg,
			Action: engine.CodeNotificationFailed.Action()}
	}
	if id, qerr := n.o.DB.QueueDelivery(ctx, d); qerr == nil {
		n.o.DB.RecordAttempt(ctx, id, status, msg, n.o.Now())
	}
	return o
}

// Run delivers the outbox until ctx ends: due messages, retries with
// backoff, and the daily summary.
func (n *Notifier) Run(ctx context.Context) {
	for {
		n.summarize(ctx)
		n.flush(ctx)
		wait := n.o.Poll
		if next, ok, err := n.o.DB.NextDeliveryAt(ctx); err == nil && ok {
			wait = min(wait, max(next.Sub(n.o.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// flush attempts every due message once.
func (n *Notifier) flush(ctx context.Context) {
	due, err := n.o.DB.DueDeliveries(ctx, n.o.Now(), 100)
	if err != nil {
		return
	}
	cfg, pw, _ := n.channels()
	for _, d := range due {
		if ctx.Err() != nil {
			return
		}
		err := n.deliver(ctx, cfg, pw, d)
		status, msg, next := n.outcome(d, err)
		if err != nil {
			n.o.Logger.Warn("notification", "channel", d.Channel, "attempt", d.Attempts+1, "status", status, "err", err)
		}
		// Recorded even when shutdown interrupts: a sent message is not sent again.
		n.o.DB.RecordAttempt(context.WithoutCancel(ctx), d.ID, status, msg, next)
	}
}

// outcome is an attempt's status and, for a retry, when: the delay
// doubles each attempt, up to an hour.
func (n *Notifier) outcome(d db.Delivery, err error) (string, string, time.Time) {
	now := n.o.Now()
	if err == nil {
		return db.DeliverySent, "", now
	}
	attempt := d.Attempts + 1
	if isPermanent(err) || attempt >= n.o.MaxAttempts {
		return db.DeliveryFailed, err.Error(), now
	}
	wait := min(n.o.Backoff<<(attempt-1), time.Hour)
	return db.DeliveryPending, err.Error(), now.Add(wait)
}

// summarize queues the daily summary once a day for the channels that
// ask for it.
func (n *Notifier) summarize(ctx context.Context) {
	_, _, chans := n.channels()
	var to []channel
	for _, ch := range chans {
		if wantsSummary(ch.rules) {
			to = append(to, ch)
		}
	}
	now := n.o.Now()
	s, err := n.o.DB.NotifySettings(ctx)
	if len(to) == 0 || err != nil || now.Sub(s.LastSummaryAt) < 24*time.Hour {
		return
	}
	counts, err := n.o.DB.SummarySince(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return
	}
	if err := n.o.DB.MarkSummarySent(ctx, now); err != nil {
		return
	}
	m := summaryMessage(counts, now)
	for _, ch := range to {
		n.o.DB.QueueDelivery(ctx, delivery(ch, m))
	}
}

// Deliveries are the newest messages of the outbox, for the Settings page.
func (n *Notifier) Deliveries(ctx context.Context, limit int) ([]db.Delivery, error) {
	return n.o.DB.RecentDeliveries(ctx, limit)
}
