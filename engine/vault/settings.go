package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// settingsName is the object holding the vault's own settings, sealed
// with the vault key: they live with the data, so a new catalog (or a
// catalog rebuilt from the vault) reads the same immutability state, and
// nobody without the key can forge them.
const settingsName = "settings"

// Immutability states, as Azure Backup's immutable vault has them.
const (
	ImmutabilityDisabled = "disabled"
	ImmutabilityEnabled  = "enabled" // restricted operations refused; can be turned off
	ImmutabilityLocked   = "locked"  // the same, irreversibly
)

// Soft delete bounds, in days (Azure's enhanced soft delete: 14 to 180).
const (
	MinSoftDeleteDays     = 14
	MaxSoftDeleteDays     = 180
	DefaultSoftDeleteDays = 14
)

// Settings are the vault-level settings.
type Settings struct {
	Immutability   string    `json:"immutability"`
	SoftDeleteDays int       `json:"soft_delete_days"`
	MultiUserAuth  bool      `json:"multi_user_authorization"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	UpdatedBy      string    `json:"updated_by,omitempty"`
}

// Immutable reports whether restricted operations are refused.
func (s Settings) Immutable() bool { return s.Immutability != ImmutabilityDisabled }

// SoftDelete is how long deleted points stay recoverable.
func (s Settings) SoftDelete() time.Duration { return time.Duration(s.SoftDeleteDays) * 24 * time.Hour }

// DefaultSettings are those of a vault that never saved any.
func DefaultSettings() Settings {
	return Settings{Immutability: ImmutabilityDisabled, SoftDeleteDays: DefaultSoftDeleteDays}
}

// Errors of a settings change the vault itself refuses.
var (
	ErrImmutabilityLocked  = errors.New("the vault's immutability is locked: it cannot be turned off or unlocked")
	ErrSoftDeleteShortened = errors.New("an immutable vault's soft delete period cannot be shortened")
	ErrImmutable           = errors.New("the vault is immutable: a recovery point's data cannot be deleted before its soft delete period has passed")
	ErrBadSettings         = errors.New("invalid vault settings")
)

// Settings answers the vault's settings.
func (v *Vault) Settings() Settings {
	v.setMu.Lock()
	defer v.setMu.Unlock()
	return v.settings
}

// storedSettings is the sealed form: the settings and the number of the
// save that wrote them.
type storedSettings struct {
	Settings
	Revision int64 `json:"revision"`
}

// loadSettings reads the settings. On a bucket with Object Lock every
// stored version is read and the one of the highest revision sealed with
// the vault key wins: a delete marker over it, an older version put back
// on top, or a forged one cannot bring back weaker settings while the
// newest is retained (RetainVault).
func (v *Vault) loadSettings(ctx context.Context) error {
	vs, err := storedVersions(ctx, v.b, settingsName)
	if err != nil {
		return err
	}
	best := storedSettings{Settings: DefaultSettings(), Revision: -1}
	for _, ver := range vs {
		s, err := v.openSettings(ver.body)
		if err != nil && ver.id == "" {
			return err
		}
		if err == nil && s.Revision > best.Revision {
			best = s
		}
	}
	v.setMu.Lock()
	v.settings, v.revision = best.Settings, max(best.Revision, 0)
	v.setMu.Unlock()
	return nil
}

func (v *Vault) openSettings(sealed []byte) (storedSettings, error) {
	s := storedSettings{Settings: DefaultSettings()}
	plain, err := open(v.k.aead, sealed)
	if err != nil {
		return s, fmt.Errorf("vault settings: %w", err)
	}
	if err := json.Unmarshal(plain, &s); err != nil {
		return s, fmt.Errorf("vault settings: %w", err)
	}
	return s, nil
}

// CheckSettings says whether the vault would accept next in place of its
// settings now: valid values, a locked vault stays locked, and an
// immutable vault's soft delete period does not get shorter.
func (v *Vault) CheckSettings(next Settings) error {
	return checkTransition(v.Settings(), next)
}

func checkTransition(cur, next Settings) error {
	switch next.Immutability {
	case ImmutabilityDisabled, ImmutabilityEnabled, ImmutabilityLocked:
	default:
		return fmt.Errorf("%w: immutability is disabled, enabled or locked, not %q", ErrBadSettings, next.Immutability)
	}
	if next.SoftDeleteDays < MinSoftDeleteDays || next.SoftDeleteDays > MaxSoftDeleteDays {
		return fmt.Errorf("%w: soft_delete_days is between %d and %d, not %d", ErrBadSettings, MinSoftDeleteDays, MaxSoftDeleteDays, next.SoftDeleteDays)
	}
	if cur.Immutability == ImmutabilityLocked && next.Immutability != ImmutabilityLocked {
		return ErrImmutabilityLocked
	}
	if cur.Immutable() && next.SoftDeleteDays < cur.SoftDeleteDays {
		return fmt.Errorf("%w (now %d days)", ErrSoftDeleteShortened, cur.SoftDeleteDays)
	}
	return nil
}

// SaveSettings writes new settings into the vault, refused as
// CheckSettings says.
func (v *Vault) SaveSettings(ctx context.Context, next Settings) error {
	v.setMu.Lock()
	defer v.setMu.Unlock()
	if err := checkTransition(v.settings, next); err != nil {
		return err
	}
	plain, _ := json.Marshal(storedSettings{Settings: next, Revision: v.revision + 1})
	if err := v.b.Put(ctx, settingsName, seal(v.k.aead, plain)); err != nil {
		return fmt.Errorf("write vault settings: %w", err)
	}
	v.settings = next
	v.revision++
	// Under an object lock the new version is retained at once: until the
	// next maintenance pass it would be the one object a bucket deleter
	// could remove.
	if err := v.RetainVault(ctx, time.Now()); err != nil {
		return fmt.Errorf("vault settings saved but not retained: %w", err)
	}
	return nil
}

// refuseImmutableDelete stops the deletion of a described (labelled)
// manifest younger than the soft delete period while the vault is
// immutable: no recovery point can have passed its soft delete period
// by then, whatever a catalog says. Unlabelled manifests are backups that
// never became points, and failed jobs remove them.
func (v *Vault) refuseImmutableDelete(ctx context.Context, blob string) error {
	s := v.Settings()
	if !s.Immutable() {
		return nil
	}
	m, err := v.Manifest(ctx, blob)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(m.Labels) > 0 && time.Since(m.Created) < s.SoftDelete() {
		return fmt.Errorf("%s: %w", blob, ErrImmutable)
	}
	return nil
}

// Storage says what keeps the vault's objects ("directory" or "bucket")
// and whether that storage itself refuses deleting or overwriting them:
// only a bucket with S3 Object Lock, whose retention Retain sets; else
// the settings above are enforced by sqlvault alone (docs/security.md).
func (v *Vault) Storage() (kind string, enforcesWriteOnce bool) {
	switch b := v.b.(type) {
	case *DirBackend:
		return "directory", false
	case *BucketBackend:
		return "bucket", b.Locks()
	}
	return "other", v.locker() != nil
}
