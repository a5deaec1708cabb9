package engine

import (
	"fmt"
	"testing"
)

// Every code a user can see must come with an action of its own, not the
// generic fallback.
func TestEveryCodeHasAnAction(t *testing.T) {
	for code := range actions {
		if code.Action() == "" {
			t.Errorf("%s has an empty action", code)
		}
	}
	if got := Code("UserErrorNoSuchThing").Action(); got != actions[CodeInternal] {
		t.Errorf("unknown code action = %q, want the generic one", got)
	}
}

func TestCodeOfFindsWrappedError(t *testing.T) {
	err := fmt.Errorf("backup of [Sales]: %w", Errorf(CodeNoSysadmin, "login %q is not sysadmin", "svc"))
	if got := CodeOf(err); got != CodeNoSysadmin {
		t.Fatalf("CodeOf = %s, want %s", got, CodeNoSysadmin)
	}
	if got := CodeOf(fmt.Errorf("plain")); got != CodeInternal {
		t.Fatalf("CodeOf(plain) = %s, want %s", got, CodeInternal)
	}
}
