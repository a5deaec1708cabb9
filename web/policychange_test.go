package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPortalModifyPolicyGuards: Modify policy to a policy of shorter
// retention waits for a second admin under multi-user authorization (a
// request per item, which once approved moves it) and is refused by an
// immutable vault; either way the item stays where it was until then.
func TestPortalModifyPolicyGuards(t *testing.T) {
	ts := newTestServer(t)
	admin := adminToken(t, ts, "admin", "a1")
	bea := adminToken(t, ts, "bea", "b1")
	itemID, _, long := protected(t, ts, admin)
	shortP := goodPolicy("Short")
	shortP["retention"] = map[string]any{"daily_days": 7}
	short := admin.want(admin.do("POST", "/api/v1/policies", shortP), 201).num("id")
	s := signedIn(t, ts, "admin")
	move := func() (int, string) {
		r, err := s.c.PostForm(ts.URL+"/items/policy", url.Values{"_csrf": {s.csrf}, "item": {fmt.Sprint(itemID)},
			"policy_id": {fmt.Sprint(short)}, "confirm": {"yes"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode, body(t, r)
	}
	policyOf := func() int64 {
		return admin.want(admin.do("GET", fmt.Sprintf("/api/v1/items/%d", itemID), nil), 200).num("policy_id")
	}

	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": true}), 200)
	if code, b := move(); code != http.StatusOK || !strings.Contains(b, "waits for another admin") || policyOf() != long {
		t.Fatalf("move under MUA = %d, policy %d:\n%.2000s", code, policyOf(), b)
	}
	reqs := admin.want(admin.do("GET", "/api/v1/approvals?status=pending", nil), 200).list("approvals")
	var id int64
	for _, a := range reqs {
		if m := a.(map[string]any); m["operation"] == "item.change_policy" && m["target_id"] == fmt.Sprint(itemID) {
			id = num(m, "id")
		}
	}
	if id == 0 {
		t.Fatalf("no item.change_policy request for item %d in %v", itemID, reqs)
	}
	bea.want(bea.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", id), nil), 200)
	if got := policyOf(); got != short {
		t.Fatalf("after approval the item has policy %d, want %d", got, short)
	}

	// Back to the longer one (not guarded), then an immutable vault refuses.
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/items/%d", itemID), map[string]any{"policy_id": long}), 200)
	if r := admin.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": false}); r.status == 202 {
		bea.want(bea.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", r.num("approval_id")), nil), 200)
	}
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "enabled"}), 200)
	if code, b := move(); code != http.StatusOK || !strings.Contains(b, "UserErrorVaultImmutable") || policyOf() != long {
		t.Fatalf("move on an immutable vault = %d, policy %d:\n%.2000s", code, policyOf(), b)
	}
}
