package coordinator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// Protectability is what a discovered database allows: the backup kinds
// SQL Server (and a restorable chain) permit now, and why the others are
// refused.
type Protectability struct {
	Kinds  []string    `json:"allowed_backups"`  // none: it cannot be protected
	Reason string      `json:"reason,omitempty"` // why some or all kinds are refused
	Code   engine.Code `json:"code,omitempty"`   // the code a refused protection or backup carries
}

// Protectable reports whether the database can be protected at all.
func (p Protectability) Protectable() bool { return len(p.Kinds) > 0 }

// Allows reports whether a backup of kind may run.
func (p Protectability) Allows(kind string) bool { return slices.Contains(p.Kinds, kind) }

var (
	allKinds      = []string{mssql.KindFull, mssql.KindDifferential, mssql.KindLog, mssql.KindCopyOnlyFull}
	noLogKinds    = []string{mssql.KindFull, mssql.KindDifferential, mssql.KindCopyOnlyFull}
	fullOnlyKinds = []string{mssql.KindFull, mssql.KindCopyOnlyFull}
	// What SQL Server takes on a secondary replica (ag.go).
	secondaryKinds = []string{mssql.KindCopyOnlyFull, mssql.KindLog}
)

// stateReasons say what each state_desc other than ONLINE means for a
// backup (learn.microsoft.com/sql/relational-databases/databases/database-states).
var stateReasons = map[string]string{
	"OFFLINE":          "offline: bring it online (ALTER DATABASE ... SET ONLINE) to back it up",
	"RESTORING":        "restoring: finish its restore WITH RECOVERY to back it up",
	"RECOVERING":       "recovering: it can be backed up once recovery ends and it is online",
	"RECOVERY_PENDING": "recovery pending: a resource error (a missing or locked file, no space) kept recovery from starting; fix it and bring the database online",
	"SUSPECT":          "suspect: recovery failed, its primary filegroup may be damaged; repair or restore it",
	"EMERGENCY":        "in emergency mode (read-only, for sysadmins troubleshooting); bring it online to back it up",
}

// ProtectabilityOf judges a database from what discovery read of it.
// Database snapshots never reach the catalog (discovery leaves them out).
func ProtectabilityOf(d db.Database) Protectability {
	none := func(code engine.Code, reason string) Protectability {
		return Protectability{Reason: reason, Code: code}
	}
	switch {
	case d.Gone:
		return none(engine.CodeDatabaseNotFound, "dropped from the instance; its backups are kept")
	case d.Name == "tempdb":
		return none(engine.CodeInvalidRequest, "tempdb cannot be backed up")
	case d.IsAGSecondary && d.AGID == nil:
		return none(engine.CodeAGSecondary, "availability group secondary: its group is not discovered yet (register the replicas and run discovery)")
	case d.IsInStandby:
		return none(engine.CodeDatabaseInStandby, "in standby (restored WITH STANDBY): it cannot be backed up until its restore ends WITH RECOVERY")
	case !strings.EqualFold(d.State, "ONLINE"):
		reason, ok := stateReasons[strings.ToUpper(d.State)]
		if !ok {
			reason = strings.ToLower(d.State) + ": only an online database can be backed up"
		}
		return none(engine.CodeDatabaseNotOnline, reason)
	case d.IsReadOnly:
		// Differentials of a read-only database are possible, but SQL
		// Server keeps their base in master and loses it when the database
		// is restored, detached or rebuilt (MS "Differential backups"), so
		// a differential might not follow the full the vault holds; a
		// read-only database changes nothing a log backup would keep.
		return Protectability{Kinds: fullOnlyKinds, Code: engine.CodeReadOnlyBackupType,
			Reason: "read-only: full and copy-only full backups only"}
	case strings.EqualFold(d.RecoveryModel, "SIMPLE"):
		return Protectability{Kinds: noLogKinds, Code: engine.CodeLogBackupSimple,
			Reason: "SIMPLE recovery model: no log backups"}
	case d.IsAGSecondary:
		return Protectability{Kinds: secondaryKinds, Code: engine.CodeAGSecondary,
			Reason: "availability group secondary: copy-only full and log backups only here; full and differential backups run on the primary"}
	}
	return Protectability{Kinds: allKinds}
}

// DatabaseView is a discovered database with what it allows, as the API
// lists it.
type DatabaseView struct {
	db.Database
	Protection Protectability `json:"protection"`
}

// DatabaseViews judges each database of a list.
func DatabaseViews(dbs []db.Database) []DatabaseView {
	out := make([]DatabaseView, len(dbs))
	for i, d := range dbs {
		out[i] = DatabaseView{Database: d, Protection: ProtectabilityOf(d)}
		if out[i].Protection.Kinds == nil {
			out[i].Protection.Kinds = []string{}
		}
	}
	return out
}

// refusal is the error for a protection (kind "") or a backup of kind the
// database does not allow, or nil.
func (p Protectability) refusal(name, kind string) error {
	if !p.Protectable() {
		return engine.Errorf(p.Code, "%s cannot be protected or backed up: %s", name, p.Reason)
	}
	if kind != "" && !p.Allows(kind) {
		return engine.Errorf(p.Code, "%s allows no %s backups: %s", name, kindWord(kind), p.Reason)
	}
	return nil
}

// protectNote is the note an item of a read-only database carries.
func protectNote(d db.Database) string {
	if d.IsReadOnly {
		return fmt.Sprintf("Log and differential backups are off: %s is read-only. Full backups run.", d.Name)
	}
	return ""
}
