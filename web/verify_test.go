package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestPolicyFormKeepsTheVerifyOption: the policy form sets the
// verification option (after every full, every 3 days, an instance, a
// size limit, the level) and the edit form shows it again, so saving a
// policy in the portal never drops it.
func TestPolicyFormKeepsTheVerifyOption(t *testing.T) {
	ts := newTestServer(t)
	s := signedIn(t, ts, "admin")
	resp := s.post(t, ts, "/policies", url.Values{"name": {"Verified"}, "full.frequency": {"daily"}, "full.time": {"22:00"},
		"full.timezone": {"UTC"}, "retention.daily_days": {"30"}, "verify.enabled": {"on"}, "verify.after_full": {"on"},
		"verify.every_days": {"3"}, "verify.server_id": {"7"}, "verify.level": {"physical_only"}, "verify.max_size_gib": {"2"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save answered %d", resp.StatusCode)
	}
	ps, err := ts.coord.Policies(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name != "Verified" {
			continue
		}
		v := p.Verify
		if v == nil || !v.Enabled || !v.AfterFull || v.EveryDays != 3 || v.ServerID != 7 || v.Level != "physical_only" || v.MaxBytes != 2<<30 {
			t.Fatalf("verify option saved as %+v", v)
		}
		_, page := s.get(t, ts, "/policies/"+strconv.FormatInt(p.ID, 10))
		if !strings.Contains(page, `name="verify.enabled" checked`) || !strings.Contains(page, `<option value="physical_only" selected`) {
			t.Fatal("the edit form does not show the verify option")
		}
		return
	}
	t.Fatal("policy not saved")
}
