package coordinator_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestMetrics: jobs by operation and status, bytes backed up, RPO per item
// and queue depth reach Prometheus.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newStackWith(t, func(c *coordinator.Config) { c.Registry = reg })
	s.exec("CREATE DATABASE Sales")
	srv := s.register("sa", saPW)
	p, _ := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "D", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Retention: policy.Retention{DailyDays: 7}})
	_, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	deadline := time.Now().Add(5 * time.Second)
	for jobs(t, reg, "backup", "completed") < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s.coord.CheckHealth(s.ctx)
	out, err := testutil.GatherAndCount(reg, "sqlvault_jobs_total", "sqlvault_backup_bytes_total", "sqlvault_item_rpo_seconds", "sqlvault_job_queue_depth")
	if err != nil || out < 4 {
		t.Fatalf("series gathered: %d, %v", out, err)
	}
	if v := jobs(t, reg, "backup", "completed"); v != 1 {
		t.Errorf("completed backups = %v", v)
	}
}

// jobs reads sqlvault_jobs_total{operation,status} from the registry.
func jobs(t *testing.T, reg *prometheus.Registry, op, status string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "sqlvault_jobs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["operation"] == op && labels["status"] == status {
				v = m.GetCounter().GetValue()
			}
		}
	}
	return v
}
