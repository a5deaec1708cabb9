package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestSettingsLiveInTheVault: the settings are read back by a second
// Open of the same backend (a new catalog sees them), a locked vault
// cannot be unlocked or disabled even after reopening, an immutable
// vault's soft delete cannot be shortened, and the object is sealed.
func TestSettingsLiveInTheVault(t *testing.T) {
	ctx := context.Background()
	b, err := NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t, b, Options{})
	if s := v.Settings(); s != DefaultSettings() || s.Immutable() || s.SoftDeleteDays != 14 {
		t.Fatalf("fresh vault settings = %+v", s)
	}
	for _, bad := range []Settings{
		{Immutability: "on", SoftDeleteDays: 14},
		{Immutability: ImmutabilityDisabled, SoftDeleteDays: 13},
		{Immutability: ImmutabilityDisabled, SoftDeleteDays: 181},
	} {
		if err := v.SaveSettings(ctx, bad); !errors.Is(err, ErrBadSettings) {
			t.Errorf("SaveSettings(%+v) = %v, want ErrBadSettings", bad, err)
		}
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityEnabled, SoftDeleteDays: 30, MultiUserAuth: true}); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityEnabled, SoftDeleteDays: 20}); !errors.Is(err, ErrSoftDeleteShortened) {
		t.Fatalf("shortening soft delete of an immutable vault = %v", err)
	}
	// Enabled can be turned off; then soft delete may shorten.
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityDisabled, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 60}); err != nil {
		t.Fatal(err)
	}
	raw, _ := b.Get(ctx, settingsName)
	if bytes.Contains(raw, []byte("locked")) {
		t.Error("the settings object is stored in clear")
	}

	again, err := Open(ctx, b, pass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if s := again.Settings(); s.Immutability != ImmutabilityLocked || s.SoftDeleteDays != 60 {
		t.Fatalf("reopened settings = %+v", s)
	}
	for _, st := range []string{ImmutabilityDisabled, ImmutabilityEnabled} {
		if err := again.SaveSettings(ctx, Settings{Immutability: st, SoftDeleteDays: 60}); !errors.Is(err, ErrImmutabilityLocked) {
			t.Errorf("locked -> %s = %v, want ErrImmutabilityLocked", st, err)
		}
	}
	if err := again.SaveSettings(ctx, Settings{Immutability: ImmutabilityLocked, SoftDeleteDays: 90}); err != nil {
		t.Errorf("a locked vault's soft delete cannot be lengthened: %v", err)
	}
}

// TestImmutableVaultKeepsRecentPoints: in an immutable vault a labelled
// blob (a recovery point) younger than the soft delete period cannot be
// deleted, whoever asks; an unlabelled one (a backup that never became a
// point) still can, and a disabled vault deletes both.
func TestImmutableVaultKeepsRecentPoints(t *testing.T) {
	ctx := context.Background()
	b, err := NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t, b, Options{})
	upload(t, v, "c/point.bak", pages(1, 300<<10), 100<<10) // labelled
	if err := v.PutBlock(ctx, "c/failed.bak", "b1", pages(2, 10<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.CommitBlob(ctx, "c/failed.bak", []string{"b1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityEnabled, SoftDeleteDays: 14}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteBlob(ctx, "c/point.bak"); !errors.Is(err, ErrImmutable) {
		t.Fatalf("delete of a recent point in an immutable vault = %v", err)
	}
	if _, err := v.Manifest(ctx, "c/point.bak"); err != nil {
		t.Fatalf("the point is gone: %v", err)
	}
	if err := v.DeleteBlob(ctx, "c/failed.bak"); err != nil {
		t.Fatalf("delete of an unlabelled blob = %v", err)
	}
	if err := v.SaveSettings(ctx, Settings{Immutability: ImmutabilityDisabled, SoftDeleteDays: 14}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteBlob(ctx, "c/point.bak"); err != nil {
		t.Fatalf("delete once immutability is off = %v", err)
	}
}
