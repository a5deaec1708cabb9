package templates

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// Problem is an error as a page shows it: code, message and what to do.
type Problem struct {
	Code    string
	Message string
	Action  string
}

// ProblemOf turns an error into what the page shows.
func ProblemOf(err error) *Problem {
	if err == nil {
		return nil
	}
	code := engine.CodeOf(err)
	msg := engine.MessageOf(err)
	if code == engine.CodeInternal {
		msg = "internal error: " + msg
	}
	return &Problem{Code: string(code), Message: msg, Action: code.Action()}
}

// ItemView is a backup item with its health and last backup outcome.
type ItemView struct {
	db.Item
	Health coordinator.ItemHealth
	Last   *db.Job // the most recent finished backup job
	Group  string  // its availability group, for a group database
}

// Item health states on the overview and the item list (stored in the
// catalog: db/health.go).
const (
	HealthHealthy  = db.HealthHealthy
	HealthBreached = db.HealthBreached
	HealthFailed   = db.HealthFailed
	HealthStopped  = db.HealthStopped
	HealthPending  = db.HealthPending
)

// State classifies the item for the overview.
func (v ItemView) State() string { return coordinator.StateOf(v.Item, v.Last, v.Health) }

func healthLabel(s string) string {
	return map[string]string{HealthHealthy: "Healthy", HealthBreached: "RPO breached", HealthFailed: "Last backup failed",
		HealthStopped: "Stopped", HealthPending: "Awaiting first backup"}[s]
}

func healthBadge(s string) string {
	switch s {
	case HealthHealthy:
		return "badge ok"
	case HealthBreached, HealthPending:
		return "badge warn"
	case HealthFailed:
		return "badge bad"
	}
	return "badge"
}

func stateLabel(s string) string {
	return map[string]string{db.ItemProtected: "Protected", db.ItemStopped: "Stopped, data kept",
		db.ItemStoppedDeleted: "Stopped, data deleted"}[s]
}

func id(v int64) string { return strconv.FormatInt(v, 10) }

func href(format string, args ...any) templ.SafeURL {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = url.QueryEscape(s)
		}
	}
	return templ.SafeURL(fmt.Sprintf(format, args...))
}

func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func tsv(t time.Time) string { return ts(&t) }

// Dur formats a duration for people, coarsely.
func Dur(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func kindLabel(k string) string {
	return map[string]string{"full": "Full", "differential": "Differential", "log": "Log",
		"copy_only_full": "Copy-only full"}[k]
}

// Rate is bytes per second of a job so far.
func Rate(j db.Job, now time.Time) string {
	if j.StartedAt == nil || j.BytesTransferred == 0 {
		return ""
	}
	end := now
	if j.EndedAt != nil {
		end = *j.EndedAt
	}
	secs := end.Sub(*j.StartedAt).Seconds()
	if secs <= 0 {
		return ""
	}
	return Bytes(int64(float64(j.BytesTransferred)/secs)) + "/s"
}

func running(j db.Job) bool { return j.Status == db.JobQueued || j.Status == db.JobInProgress }

func pct(part, whole int64) string {
	if whole <= 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 0, 64)
}

func itoa(n int) string { return strconv.Itoa(n) }

func can(p Page, role string) bool {
	rank := map[string]int{"reader": 1, "operator": 2, "admin": 3}
	return rank[p.Role] >= rank[role]
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// FieldErrs maps a form field to its message.
type FieldErrs map[string]string

func (f FieldErrs) has(name string) bool { return f != nil && f[name] != "" }

func errID(name string) string { return "err-" + strings.NewReplacer(".", "-", "_", "-").Replace(name) }

func describedBy(f FieldErrs, name string) string {
	if f.has(name) {
		return errID(name)
	}
	return ""
}

// fieldAttrs marks an input invalid and points it at its message.
func fieldAttrs(f FieldErrs, name string) templ.Attributes {
	if !f.has(name) {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": errID(name)}
}

func current(on bool) templ.Attributes {
	if on {
		return templ.Attributes{"aria-current": "page"}
	}
	return templ.Attributes{}
}

func resolvedClass(t *time.Time) string {
	if t != nil {
		return "resolved"
	}
	return ""
}

func invalid(on bool) templ.Attributes {
	if on {
		return templ.Attributes{"aria-invalid": "true"}
	}
	return templ.Attributes{}
}

func fieldID(name string) string { return "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(name) }
