package policy

import (
	"encoding/json"
	"testing"
)

// TestAutoHealIsOnUnlessTurnedOff: a policy that does not mention
// auto_heal (an older one, or a client leaving it out) heals; false turns
// it off and survives a round trip through JSON and Defaults.
func TestAutoHealIsOnUnlessTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{{`{"name": "a"}`, true}, {`{"name": "a", "auto_heal": true}`, true}, {`{"name": "a", "auto_heal": false}`, false}} {
		var p Policy
		if err := json.Unmarshal([]byte(tc.body), &p); err != nil {
			t.Fatal(err)
		}
		if p.Heals() != tc.want {
			t.Errorf("%s: heals %v", tc.body, p.Heals())
		}
		p.Defaults()
		out, _ := json.Marshal(p)
		var back Policy
		json.Unmarshal(out, &back)
		if back.AutoHeal == nil || back.Heals() != tc.want {
			t.Errorf("%s: after Defaults and JSON %s", tc.body, out)
		}
	}
}
