package coordinator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/templates"
)

// Each job says what started it, as its page shows: who configured
// protection or pressed Backup now, the schedule slot, or catch-up after
// downtime.
func TestJobsSayWhoOrWhatStartedThem(t *testing.T) {
	s := newStack(t)
	clk := s.onClock(at(9, 59))
	s.exec("CREATE DATABASE Sales")
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Logs", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 1}, Retention: policy.Retention{DailyDays: 7, LogDays: 2}})
	if err != nil {
		t.Fatal(err)
	}
	trigger := func(id int64) (db.Job, string) {
		t.Helper()
		j := s.mustComplete(id)
		return j, templates.Trigger(j)
	}
	ann := engine.WithActor(s.ctx, "ann")
	it, jobID, err := s.coord.Protect(ann, s.database(srv.ID, "Sales").ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j, words := trigger(jobID); j.StartedBy != "ann" || !strings.Contains(words, "after ann configured protection") {
		t.Fatalf("first full: started by %q, %q", j.StartedBy, words)
	}
	jobID, err = s.coord.BackupNow(engine.WithActor(context.Background(), "bob"), it.ID, "full", 0)
	if err != nil {
		t.Fatal(err)
	}
	if j, words := trigger(jobID); j.StartedBy != "bob" || words != "Backup now by bob" {
		t.Fatalf("backup now: started by %q, %q", j.StartedBy, words)
	}
	mark := s.lastJobID()
	clk.Set(at(10, 5))
	s.coord.RunDue(context.Background(), p.ID)
	if id := s.lastJobID(); id == mark {
		t.Fatal("no scheduled job")
	} else if j, words := trigger(id); j.StartedBy != "" || words != "The policy's schedule, slot 2026-03-02 10:05:00 UTC" {
		t.Fatalf("scheduled: started by %q, %q", j.StartedBy, words)
	}
	s.coord.Stop()
	mark = s.lastJobID()
	clk.Set(at(11, 0))
	s.restartWith(clk)
	if id := s.lastJobID(); id == mark {
		t.Fatal("nothing caught up at start")
	} else if _, words := trigger(id); !strings.HasPrefix(words, "Catch-up at start") {
		t.Fatalf("caught up: %q", words)
	}
}
