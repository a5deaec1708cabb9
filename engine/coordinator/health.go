package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// metrics are the coordinator's Prometheus series.
type metrics struct {
	jobs       *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	rpo        *prometheus.GaugeVec
	queueDepth prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sqlvault_jobs_total",
			Help: "Jobs finished, by operation and status."}, []string{"operation", "status"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sqlvault_backup_bytes_total",
			Help: "Bytes SQL Server streamed into the vault, by backup type."}, []string{"type"}),
		rpo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sqlvault_item_rpo_seconds",
			Help: "Seconds since the last restorable instant of each protected item (the chain's end before an unhealed gap)."}, []string{"server", "database"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sqlvault_job_queue_depth", Help: "Jobs waiting to run."}),
	}
	if reg != nil {
		reg.MustRegister(m.jobs, m.bytes, m.rpo, m.queueDepth)
	}
	return m
}

func (m *metrics) jobDone(op, status string)        { m.jobs.WithLabelValues(op, status).Inc() }
func (m *metrics) backupBytes(kind string, n int64) { m.bytes.WithLabelValues(kind).Add(float64(n)) }

// ItemHealth is an item's RPO as the portal and alerts see it.
type ItemHealth struct {
	RPO time.Duration // since the last restorable instant; 0 if none
	// ChainBrokenAt is where the restorable chain ends while a gap that
	// breaks it is not healed by a full; backups after it do not count.
	ChainBrokenAt *time.Time
	Last          time.Time     // the last restorable instant, when HasPoint
	Target        time.Duration // what the policy promises
	Breaching     bool          // RPO is over twice the target
	HasPoint      bool
}

// Health computes an item's RPO at the coordinator's clock.
func (c *Coordinator) Health(ctx context.Context, it db.Item) ItemHealth {
	return c.HealthOf(ctx, []db.Item{it})[0]
}

// HealthOf computes the health of many items, reading each policy once (a
// list of a thousand items shares a handful of policies).
func (c *Coordinator) HealthOf(ctx context.Context, items []db.Item) []ItemHealth {
	targets := map[int64]*time.Duration{} // nil: the policy could not be read
	now := c.cfg.Now()
	ends, err := c.cfg.DB.ChainEnds(ctx)
	if err != nil {
		c.log.Warn("read chain gaps for the RPO", "err", err)
	}
	out := make([]ItemHealth, len(items))
	for i, it := range items {
		h := &out[i]
		if it.PolicyID != nil {
			t, ok := targets[*it.PolicyID]
			if !ok {
				if p, err := c.Policy(ctx, *it.PolicyID); err == nil {
					rpo := p.RPO()
					t = &rpo
				}
				targets[*it.PolicyID] = t
			}
			if t != nil {
				h.Target = *t
				if !logsAllowed(it) && h.Target < 24*time.Hour {
					h.Target = 24 * time.Hour
				}
			}
		}
		if it.LatestPoint != nil {
			h.HasPoint = true
			last := *it.LatestPoint
			if end, ok := ends[it.ID]; ok && end.Before(last) {
				last, h.ChainBrokenAt = end, &end
			}
			h.RPO, h.Last = now.Sub(last), last
		}
		h.Breaching = it.State == db.ItemProtected && h.Target > 0 && h.HasPoint && h.RPO > 2*h.Target
	}
	return out
}

// CheckHealth updates RPO gauges, opens or resolves RPO alerts and stores
// every item's health; it runs every minute.
func (c *Coordinator) CheckHealth(ctx context.Context) {
	if err := c.cfg.DB.CheckFile(); err != nil {
		c.CatalogTrouble(engine.CodeCatalogFileMissing, err.Error())
	}
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{Limit: 1000000})
	if err != nil {
		c.log.Error("health check", "err", err)
		return
	}
	healths := c.HealthOf(ctx, items)
	if err := c.storeHealth(ctx, items, healths); err != nil {
		c.log.Error("store item health", "err", err)
	}
	// Only the items with an open RPO alert can need it resolved, and
	// only those without one a new alert: one write per change, not one
	// per item each minute (it was 70 % of the check at 10,000 items).
	open, err := c.cfg.DB.OpenItemAlerts(ctx, string(engine.CodeRPOBreached))
	if err != nil {
		c.log.Warn("read open RPO alerts", "err", err)
		open = nil // resolve each, as when nothing is known
	}
	for i, it := range items {
		if it.State == db.ItemProtected {
			c.alertRPO(ctx, it, healths[i], open)
		}
	}
	if n, err := c.cfg.DB.QueueDepth(ctx); err == nil {
		c.metrics.queueDepth.Set(float64(n))
	}
}

// alertRPO sets a protected item's RPO gauge and opens or resolves its
// RPO alert; open are the items with one open (nil: not known).
func (c *Coordinator) alertRPO(ctx context.Context, it db.Item, h ItemHealth, open map[int64]bool) {
	if h.HasPoint {
		c.metrics.rpo.WithLabelValues(it.ServerName, it.DatabaseName).Set(h.RPO.Seconds())
	}
	id := it.ID
	known := open != nil
	switch {
	case !h.Breaching && (!known || open[id]):
		c.cfg.DB.ResolveAlertCode(ctx, string(engine.CodeRPOBreached), 0, id)
		return
	case !h.Breaching, known && open[id]: // nothing to resolve; already raised
		return
	}
	why := ""
	if h.ChainBrokenAt != nil {
		why = fmt.Sprintf(" (the log chain broke at %s; backups since restore nothing until a full heals it)", h.ChainBrokenAt.Format(time.RFC3339))
	}
	c.raise(ctx, db.Alert{Severity: "warning", Code: string(engine.CodeRPOBreached), ItemID: &id,
		Message: fmt.Sprintf("%s on %s: the last restorable instant is %s old, over twice the policy's RPO of %s%s",
			it.DatabaseName, it.ServerName, h.RPO.Round(time.Minute), h.Target, why)})
}

// CatalogTrouble reports a catalog that cannot be trusted or written (its
// file deleted or replaced, its disk full). It is logged, raised as an
// alert if the catalog still takes one, and otherwise sent to the webhook
// directly, since an alert row may be exactly what cannot be written.
func (c *Coordinator) CatalogTrouble(code engine.Code, msg string) {
	c.log.Error("catalog trouble", "code", code, "err", msg, "action", code.Action())
	a := db.Alert{Severity: "critical", Code: string(code), Message: msg, CreatedAt: c.cfg.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	saved, opened, err := c.cfg.DB.RaiseAlert(ctx, a)
	if err == nil {
		if !opened {
			return // open already, and sent when it opened
		}
		a = saved // a deleted catalog still takes it: the webhook is what reaches someone
	}
	if !c.trouble.due(code, c.cfg.Now()) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.notifier.Direct(ctx, a) // around the outbox, which is in the catalog
	}()
}

// troubleLog remembers when each catalog trouble last went to the webhook:
// once an hour, not once a request. Its zero value is ready.
type troubleLog struct {
	mu   sync.Mutex
	sent map[engine.Code]time.Time
}

func (t *troubleLog) due(code engine.Code, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.sent[code]; ok && now.Sub(last) < time.Hour {
		return false
	}
	if t.sent == nil {
		t.sent = map[engine.Code]time.Time{}
	}
	t.sent[code] = now
	return true
}
