package coordinator

import (
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// A three-replica group: A primary (priority 50), B and C secondaries
// (priorities 60 and 40), all healthy and registered.
func group() []replicaCandidate {
	ok := func(name string, id int64, prio int, role string) replicaCandidate {
		return replicaCandidate{Name: name, ServerID: id, Priority: prio, Reachable: true, Role: role, State: "SYNCHRONIZED", Connected: true}
	}
	return []replicaCandidate{ok("A", 1, 50, "PRIMARY"), ok("B", 2, 60, "SECONDARY"), ok("C", 3, 40, "SECONDARY")}
}

func pick(t *testing.T, pref, kind string, cands []replicaCandidate) (string, string, string) {
	t.Helper()
	ch, err := pickReplica(pref, kind, cands)
	if err != nil {
		t.Fatalf("%s %s: %v", pref, kind, err)
	}
	return cands[ch.Index].Name, ch.Kind, ch.Why
}

// TestBackupPreferenceChoosesTheReplica follows Azure's table: fulls and
// differentials on the primary whatever the preference; logs on the
// primary (primary), on the best secondary (secondary, secondary_only), on
// the best replica by priority (none).
func TestBackupPreferenceChoosesTheReplica(t *testing.T) {
	for _, c := range []struct{ pref, full, log string }{
		{PreferPrimary, "A", "A"}, {PreferSecondary, "A", "B"}, {PreferSecondaryOnly, "A", "B"}, {PreferNone, "A", "B"},
	} {
		for _, kind := range []string{mssql.KindFull, mssql.KindDifferential} {
			if got, k, _ := pick(t, c.pref, kind, group()); got != c.full || k != kind {
				t.Errorf("%s %s ran on %s as %s, want %s", c.pref, kind, got, k, c.full)
			}
		}
		if got, _, _ := pick(t, c.pref, mssql.KindLog, group()); got != c.log {
			t.Errorf("%s log ran on %s, want %s", c.pref, got, c.log)
		}
	}
	// With none, the primary wins when its priority is highest.
	g := group()
	g[0].Priority = 90
	if got, _, _ := pick(t, PreferNone, mssql.KindLog, g); got != "A" {
		t.Errorf("none with the primary first by priority ran on %s", got)
	}
	// What SQL Server says is preferred outranks priority.
	g = group()
	g[2].Preferred = true
	if got, _, _ := pick(t, PreferSecondary, mssql.KindLog, g); got != "C" {
		t.Errorf("fn_hadr_backup_is_preferred_replica named C, ran on %s", got)
	}
}

// TestDownReplicaHandsOverByPriority: the preferred replica down or not
// synchronizing passes the log to the next by priority, and the job says
// why; with every secondary gone, secondary falls back to the primary and
// secondary_only fails.
func TestDownReplicaHandsOverByPriority(t *testing.T) {
	g := group()
	g[1].Reachable, g[1].Down = false, "connection refused"
	got, _, why := pick(t, PreferSecondary, mssql.KindLog, g)
	if got != "C" || !strings.Contains(why, "B is unreachable") {
		t.Errorf("B down: ran on %s (%s)", got, why)
	}
	g = group()
	g[1].State = "NOT SYNCHRONIZING"
	got, _, why = pick(t, PreferSecondary, mssql.KindLog, g)
	if got != "C" || !strings.Contains(why, "not synchronizing") {
		t.Errorf("B not synchronizing: ran on %s (%s)", got, why)
	}
	g[2].Priority = 0 // never
	if got, _, why = pick(t, PreferSecondary, mssql.KindLog, g); got != "A" {
		t.Errorf("no secondary fit: ran on %s (%s)", got, why)
	}
	if _, err := pickReplica(PreferSecondaryOnly, mssql.KindLog, g); engine.CodeOf(err) != engine.CodeAGNoReplica {
		t.Errorf("secondary_only with no fit secondary: %v", err)
	}
	g = group()
	g[1].ServerID, g[1].Reachable = 0, false
	if got, _, why = pick(t, PreferSecondary, mssql.KindLog, g); got != "C" || !strings.Contains(why, "not registered") {
		t.Errorf("B unregistered: ran on %s (%s)", got, why)
	}
}

// TestNoPrimaryFullIsCopyOnlyDifferentialFails: without a reachable
// primary a full runs as a copy-only full on a secondary (the only full
// SQL Server takes there) and a differential is refused, since no
// secondary takes one.
func TestNoPrimaryFullIsCopyOnlyDifferentialFails(t *testing.T) {
	g := group()
	g[0].Reachable, g[0].Down = false, "timeout"
	got, kind, why := pick(t, PreferSecondary, mssql.KindFull, g)
	if got != "B" || kind != mssql.KindCopyOnlyFull || !strings.Contains(why, "copy-only") {
		t.Errorf("full without primary: %s as %s (%s)", got, kind, why)
	}
	_, err := pickReplica(PreferSecondary, mssql.KindDifferential, g)
	if engine.CodeOf(err) != engine.CodeAGNoReplica || !strings.Contains(err.Error(), "differential") {
		t.Errorf("differential without primary: %v", err)
	}
}
