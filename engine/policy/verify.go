package policy

import (
	"time"
)

// Verification levels.
const (
	LevelCheckDB      = "checkdb"       // restore, DBCC CHECKDB, row counts
	LevelPhysicalOnly = "physical_only" // the same with CHECKDB's PHYSICAL_ONLY, for big databases
	LevelVerifyOnly   = "verifyonly"    // RESTORE VERIFYONLY ... WITH CHECKSUM against the device
)

// ValidLevel reports whether s names a verification level ("" is checkdb).
func ValidLevel(s string) bool {
	return s == "" || s == LevelCheckDB || s == LevelPhysicalOnly || s == LevelVerifyOnly
}

// Verify verifies the latest full and its chain to the newest log on a
// verification instance: every EveryDays days, or after every full.
type Verify struct {
	Enabled   bool   `json:"enabled"`
	EveryDays int    `json:"every_days,omitempty"`
	AfterFull bool   `json:"after_full,omitempty"`
	ServerID  int64  `json:"server_id"`                // the verification instance
	MaxBytes  int64  `json:"max_size_bytes,omitempty"` // larger databases are skipped; 0: no limit
	Level     string `json:"level,omitempty"`          // "" is checkdb
	// PhysicalOnlyAbove switches checkdb to physical_only for databases
	// larger than this many bytes; 0: never.
	PhysicalOnlyAbove int64 `json:"physical_only_above_bytes,omitempty"`
}

// Period is how long an item may go unverified before it is overdue: the
// interval, or with after_full alone a week (fulls run at least weekly).
func (v Verify) Period() time.Duration {
	if v.EveryDays > 0 {
		return time.Duration(v.EveryDays) * 24 * time.Hour
	}
	return 7 * 24 * time.Hour
}

func (p Policy) validateVerify(add addFunc) {
	v := p.Verify
	if v == nil || !v.Enabled {
		return
	}
	if v.ServerID <= 0 {
		add("verify.server_id", "choose the verification instance")
	}
	if v.EveryDays < 0 || v.EveryDays > 366 {
		add("verify.every_days", "between 1 and 366 days")
	}
	if v.EveryDays == 0 && !v.AfterFull {
		add("verify.every_days", "verify every N days, after every full, or both")
	}
	if v.MaxBytes < 0 || v.PhysicalOnlyAbove < 0 {
		add("verify.max_size_bytes", "a size cannot be negative")
	}
	if !ValidLevel(v.Level) {
		add("verify.level", "checkdb, physical_only or verifyonly")
	}
}
