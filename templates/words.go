package templates

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// Status and operation names as people read them, in badges, filters and
// job pages; the API keeps the codes.
var (
	statusWords = map[string]string{db.JobQueued: "Queued", db.JobInProgress: "In progress", db.JobCompleted: "Completed",
		db.JobFailed: "Failed", "cancelled": "Cancelled"}
	operationWords = map[string]string{"backup": "Backup", "restore": "Restore", "configure": "Configure protection",
		"rediscover": "Rediscover databases", "retention": "Retention", "verify": "Verify"}
	kindWords = map[string]string{"full": "full", "differential": "differential", "log": "log",
		"copy_only_full": "copy-only full", "original": "over the original", "alternate": "as a new database", "files": "as files"}
)

func word(m map[string]string, code string) string {
	if w, ok := m[code]; ok {
		return w
	}
	return strings.ReplaceAll(code, "_", " ")
}

func statusLabel(s string) string    { return word(statusWords, s) }
func operationLabel(s string) string { return word(operationWords, s) }

func jobTitle(j db.Job) string {
	t := operationLabel(j.Operation)
	if j.Kind != "" {
		t += " (" + word(kindWords, j.Kind) + ")"
	}
	return t
}

// jobParams is what a job's parameters say about how it was started.
type jobParams struct {
	Reason  string     `json:"reason"`
	Slot    *time.Time `json:"slot"`
	CatchUp bool       `json:"catch_up"`
}

// Trigger says what started a job: a schedule slot, catch-up at start,
// Backup now by whom, protection configured or resumed, or a person; and
// whether auto-heal turned it into a full.
func Trigger(j db.Job) string {
	var p jobParams
	json.Unmarshal([]byte(j.Params), &p)
	who := j.StartedBy
	if who == "" {
		who = "someone (not recorded)"
	}
	var s string
	switch p.Reason {
	case "scheduled":
		s = "The policy's schedule"
		if p.Slot != nil {
			s += ", slot " + ts(p.Slot) + " UTC"
		}
		if p.CatchUp {
			s = "Catch-up at start, for a schedule slot missed while the server was down"
		}
	case "on demand":
		s = "Backup now by " + who
	case "protection configured":
		s = "The first full backup after " + who + " configured protection"
	case "protection resumed":
		s = "The first full backup after " + who + " resumed protection"
	default:
		if j.StartedBy != "" {
			s = "Started by " + j.StartedBy
		} else {
			s = "Started by sqlvault itself"
		}
	}
	for _, st := range j.Steps {
		if st.Name == "Auto-heal" {
			s += "; auto-heal ran it as a full (" + st.Detail + ")"
		}
	}
	if j.Attempt > 1 {
		s += "; retry, attempt " + itoa(j.Attempt)
	}
	return s
}
