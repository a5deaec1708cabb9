package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// protected registers a simulated instance with a Sales database, a
// policy keeping daily points 30 days, and protects Sales with its first
// full backup done: answers the item, server and policy ids.
func protected(t *testing.T, ts *testServer, admin *apiClient) (itemID, serverID, policyID int64) {
	t.Helper()
	sim := ts.startSim(t)
	simExec(t, saDB(t, sim), "CREATE DATABASE [Sales]")
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": sim.Port(),
		"username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	admin.mustComplete(reg.num("discovery_job_id"))
	sales := find(t, admin.do("GET", "/api/v1/databases", nil).list("databases"), "name", "Sales")
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Thirty days")), 201)
	item := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": pol.num("id")}), 201)
	admin.mustComplete(item.num("job_id"))
	return item.num("id"), reg.num("id"), pol.num("id")
}

func (c *apiClient) points(itemID int64, deleted bool) []any {
	c.t.Helper()
	return c.want(c.do("GET", fmt.Sprintf("/api/v1/items/%d/recovery-points?deleted=%v", itemID, deleted), nil), 200).list("recovery_points")
}

// adminToken is an API token made by the named admin user (created if
// need be), so it acts as that person.
func adminToken(t *testing.T, ts *testServer, name, tokenName string) *apiClient {
	t.Helper()
	ctx := context.Background()
	u, err := ts.db.UserByName(ctx, name)
	if err != nil {
		hash, _ := auth.HashPassword(name + "-pw")
		if _, err := ts.db.CreateUser(ctx, name, hash, db.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if u, err = ts.db.UserByName(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, err := ts.db.CreateTokenFor(ctx, db.NewToken{Name: tokenName, Role: db.RoleAdmin, CreatedBy: u.Username, CreatorID: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: ts.URL, token: tok}
}

// TestAPIImmutableVault: with immutability enabled, stop with delete
// data, shortening a policy's retention, moving an item to a policy of
// shorter retention and shortening soft delete are refused, while
// lengthening retention and stopping with the data kept work; enabled can
// be turned off; locked cannot, also not from a fresh catalog over the
// same vault.
func TestAPIImmutableVault(t *testing.T) {
	ts := newTestServer(t)
	admin, reader := ts.client(t, db.RoleAdmin), ts.client(t, db.RoleReader)
	s := reader.want(reader.do("GET", "/api/v1/settings", nil), 200)
	if s.str("immutability") != "disabled" || s.num("soft_delete_days") != 14 || s.m["multi_user_authorization"] != false {
		t.Fatalf("default settings = %s", s)
	}
	if st, _ := s.m["storage"].(map[string]any); st["kind"] != "directory" || st["enforces_write_once"] != false {
		t.Errorf("storage = %v", s.m["storage"])
	}
	itemID, _, policyID := protected(t, ts, admin)
	short := admin.want(admin.do("POST", "/api/v1/policies", map[string]any{"name": "Short",
		"full": map[string]any{"frequency": "daily", "time": "22:00", "timezone": "UTC"}, "retention": map[string]any{"daily_days": 7}}), 201)

	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "enabled", "soft_delete_days": 30}), 200)
	before := len(admin.points(itemID, false))
	stop := fmt.Sprintf("/api/v1/items/%d/stop", itemID)
	admin.want(admin.do("POST", stop, map[string]any{"delete_data": true}), 409, "UserErrorVaultImmutable")
	if got := len(admin.points(itemID, false)); got != before || before == 0 {
		t.Fatalf("points after a refused stop with delete: %d, before %d", got, before)
	}
	shorter := goodPolicy("Thirty days")
	shorter["retention"] = map[string]any{"daily_days": 20, "log_days": 15}
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/policies/%d", policyID), shorter), 409, "UserErrorVaultImmutable")
	if p := admin.do("GET", fmt.Sprintf("/api/v1/policies/%d", policyID), nil); num(p.m["retention"].(map[string]any), "daily_days") != 30 {
		t.Fatalf("the refused edit changed the policy: %s", p)
	}
	longer := goodPolicy("Thirty days")
	longer["retention"] = map[string]any{"daily_days": 45, "log_days": 15}
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/policies/%d", policyID), longer), 200)
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/items/%d", itemID), map[string]any{"policy_id": short.num("id")}), 409, "UserErrorVaultImmutable")
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"soft_delete_days": 20}), 422, "UserErrorInvalidRequest", "soft_delete_days")
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"object_lock": true}), 422, "UserErrorStorageLockNotSupported", "object_lock")

	// Enabled can be turned off; locked cannot.
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "disabled"}), 200)
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "locked"}), 200)
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "disabled"}), 409, "UserErrorImmutabilityLocked")
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"immutability": "enabled"}), 409, "UserErrorImmutabilityLocked")
	admin.want(admin.do("POST", stop, map[string]any{"delete_data": false}), 200) // keeping the data is allowed

	// A new catalog over the same vault reads the lock from the vault.
	fresh := serverOnVault(t, ts)
	fa := fresh.client(t, db.RoleAdmin)
	if s := fa.want(fa.do("GET", "/api/v1/settings", nil), 200); s.str("immutability") != "locked" || s.num("soft_delete_days") != 30 {
		t.Fatalf("settings seen by a fresh catalog = %s", s)
	}
	fa.want(fa.do("PUT", "/api/v1/settings", map[string]any{"immutability": "disabled"}), 409, "UserErrorImmutabilityLocked")
}

// serverOnVault starts a second server over a new, empty catalog and the
// first server's vault, as after losing the catalog.
func serverOnVault(t *testing.T, ts *testServer) *testServer {
	t.Helper()
	catalog, err := db.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	coord := ts.env.Coordinator(catalog, nil)
	srv := New(Config{Handlers: &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}, DB: catalog, Logger: log})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testServer{Server: hs, db: catalog, env: ts.env, coord: coord, srv: srv}
}

// TestAPISoftDeleteSetting: soft delete is 14 to 180 days; points a stop
// with delete data soft-deleted are listed with ?deleted=true and an
// undeleted one is kept the configured period from now.
func TestAPISoftDeleteSetting(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	for _, days := range []int{13, 181, 0} {
		admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"soft_delete_days": days}), 422, "UserErrorInvalidRequest", "soft_delete_days")
	}
	admin.want(admin.do("PUT", "/api/v1/settings", map[string]any{"soft_delete_days": 90}), 200)
	op := ts.client(t, db.RoleOperator)
	op.want(op.do("PUT", "/api/v1/settings", map[string]any{"soft_delete_days": 30}), 403)
	if s := op.do("GET", "/api/v1/settings", nil); s.num("soft_delete_days") != 90 {
		t.Fatalf("settings = %s", s)
	}

	itemID, _, _ := protected(t, ts, admin)
	admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", itemID), map[string]any{"delete_data": true}), 200)
	if l := admin.points(itemID, false); len(l) != 0 {
		t.Fatalf("live points after stop with delete: %v", l)
	}
	deleted := admin.points(itemID, true)
	if len(deleted) == 0 {
		t.Fatal("no soft-deleted points listed")
	}
	p := deleted[0].(map[string]any)
	utcTime(t, p, "deleted_at")
	back := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/undelete", num(p, "id")), nil), 200)
	if until := utcTime(t, back.m, "retain_until"); until.Before(time.Now().AddDate(0, 0, 89)) {
		t.Errorf("undeleted point kept until %s, want 90 days from now", until)
	}
	if len(admin.points(itemID, false)) != 1 {
		t.Error("the undeleted point is not live")
	}
}

// TestAPIMultiUserAuthorization: with MUA on, admin A's stop with delete
// data answers 202 with an approval request; A cannot approve it (403),
// nor by another token of A's; admin B approves and the item's points
// are soft-deleted; the audit log has the request, the decision and the
// operation under A. A rejected request runs nothing, and turning MUA
// off is itself a request.
func TestAPIMultiUserAuthorization(t *testing.T) {
	ts := newTestServer(t)
	a, a2, b := adminToken(t, ts, "admin", "a1"), adminToken(t, ts, "admin", "a2"), adminToken(t, ts, "bea", "b1")
	itemID, serverID, policyID := protected(t, ts, a)
	a.want(a.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": true}), 200)

	// Shortening the retention of a policy in use waits for approval,
	// then applies the body the requester sent.
	shorter := goodPolicy("Thirty days")
	shorter["retention"] = map[string]any{"daily_days": 10, "log_days": 7}
	polPath := fmt.Sprintf("/api/v1/policies/%d", policyID)
	held := a.want(a.do("PUT", polPath, shorter), 202, "UserErrorApprovalRequired")
	if p := a.do("GET", polPath, nil); num(p.m["retention"].(map[string]any), "daily_days") != 30 {
		t.Fatalf("the policy changed before approval: %s", p)
	}
	b.want(b.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", held.num("approval_id")), nil), 200)
	if p := a.do("GET", polPath, nil); num(p.m["retention"].(map[string]any), "daily_days") != 10 {
		t.Fatalf("the approved edit did not apply: %s", p)
	}

	req := a.want(a.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", itemID), map[string]any{"delete_data": true}), 202, "UserErrorApprovalRequired")
	id := req.num("approval_id")
	if id == 0 || req.str("action") == "" || req.str("message") == "" {
		t.Fatalf("approval answer = %s", req)
	}
	if len(a.points(itemID, false)) == 0 {
		t.Fatal("the request deleted data before approval")
	}
	list := b.want(b.do("GET", "/api/v1/approvals?status=pending", nil), 200).list("approvals")
	pending := find(t, list, "id", float64(id))
	if pending["requested_by"] != "admin" || pending["operation"] != "item.stop_delete" {
		t.Fatalf("pending request = %v", pending)
	}
	approve := fmt.Sprintf("/api/v1/approvals/%d/approve", id)
	a.want(a.do("POST", approve, nil), 403, "UserErrorSelfApproval")
	a2.want(a2.do("POST", approve, nil), 403, "UserErrorSelfApproval")
	op := ts.client(t, db.RoleOperator)
	op.want(op.do("POST", approve, nil), 403)
	done := b.want(b.do("POST", approve, nil), 200)
	if done.str("status") != "approved" || done.str("decided_by") != "bea" || done.str("result") != "completed" {
		t.Fatalf("approved request = %s", done)
	}
	b.want(b.do("POST", approve, nil), 409, "UserErrorConflict") // decided once
	if l := a.points(itemID, false); len(l) != 0 {
		t.Fatalf("live points after the approved stop with delete: %v", l)
	}
	if len(a.points(itemID, true)) == 0 {
		t.Fatal("the approved stop did not soft-delete the points")
	}
	entries, err := ts.db.ListAudit(context.Background(), db.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var requested, decided, ran bool
	for _, e := range entries {
		switch {
		case e.Action == "item.stop" && e.Status == 202 && e.Actor == "token:a1":
			requested = true
		case e.Action == "approval.approve" && e.Actor == "token:b1" && e.Outcome == db.AuditSuccess && e.TargetID == fmt.Sprint(id):
			decided = true
		case e.Action == "item.stop_delete" && e.Actor == "admin" && e.Outcome == db.AuditSuccess && e.TargetID == fmt.Sprint(itemID):
			ran = true
		}
	}
	if !requested || !decided || !ran {
		t.Fatalf("audit: request %v, decision %v, operation %v in %+v", requested, decided, ran, entries)
	}

	// A rejected request runs nothing.
	rm := a.want(a.do("DELETE", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 202, "UserErrorApprovalRequired")
	rej := b.want(b.do("POST", fmt.Sprintf("/api/v1/approvals/%d/reject", rm.num("approval_id")), nil), 200)
	if rej.str("status") != "rejected" {
		t.Fatalf("rejected = %s", rej)
	}
	a.want(a.do("GET", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 200)

	// A request runs with its requester's rights: carl, demoted after
	// asking, gets nothing done by bea's approval.
	carl := adminToken(t, ts, "carl", "c1")
	asked := carl.want(carl.do("DELETE", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 202, "UserErrorApprovalRequired")
	u, _ := ts.db.UserByName(context.Background(), "carl")
	operator := db.RoleOperator
	if _, err := ts.db.UpdateUser(context.Background(), u.ID, db.UserChange{Role: &operator}); err != nil {
		t.Fatal(err)
	}
	late := b.want(b.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", asked.num("approval_id")), nil), 200)
	if !strings.HasPrefix(late.str("result"), "failed") {
		t.Fatalf("a demoted requester's request ran: %s", late)
	}
	a.want(a.do("GET", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 200)

	// Turning MUA off is a request too; B's approval turns it off.
	off := a.want(a.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": false}), 202, "UserErrorApprovalRequired")
	if s := a.do("GET", "/api/v1/settings", nil); s.m["multi_user_authorization"] != true {
		t.Fatalf("MUA turned off without approval: %s", s)
	}
	b.want(b.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", off.num("approval_id")), nil), 200)
	if s := a.do("GET", "/api/v1/settings", nil); s.m["multi_user_authorization"] != false || s.str("updated_by") != "admin" {
		t.Fatalf("settings after approval = %s", s)
	}
}

// TestPortalSettingsApprovalsAndUndelete drives the settings page: the
// soft-deleted points are listed with Undelete; an admin turns multi-user
// authorization on with the form; the portal's stop with delete data and
// an undelete then become requests listed on the page, which the
// requester cannot approve (no button, 403) and a second admin approves
// or rejects there.
func TestPortalSettingsApprovalsAndUndelete(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	adminToken(t, ts, "bea", "b1") // a second admin
	itemID, serverID, _ := protected(t, ts, admin)
	first := admin.points(itemID, false)[0].(map[string]any)
	pointID := num(first, "id")
	a, b := signedIn(t, ts, "admin"), signedIn(t, ts, "bea")
	post := func(s session, path string, form url.Values) (int, string) {
		t.Helper()
		form.Set("_csrf", s.csrf)
		r, err := s.c.PostForm(ts.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode, body(t, r)
	}
	code, page := post(a, "/settings", url.Values{"immutability": {"disabled"}, "soft_delete_days": {"30"}, "multi_user_authorization": {"on"}})
	if code != http.StatusOK || !strings.Contains(page, "Settings saved.") {
		t.Fatalf("save settings = %d", code)
	}
	if s := admin.do("GET", "/api/v1/settings", nil); s.m["multi_user_authorization"] != true || s.num("soft_delete_days") != 30 {
		t.Fatalf("settings after the form = %s", s)
	}
	code, page = post(a, fmt.Sprintf("/items/%d/stop", itemID), url.Values{"delete_data": {"delete"}, "confirm": {"yes"}})
	if code != http.StatusAccepted || !strings.Contains(page, "waits for another admin") {
		t.Fatalf("portal stop with delete under MUA = %d", code)
	}
	pending, err := ts.db.ListApprovals(context.Background(), db.ApprovalPending, 10)
	if err != nil || len(pending) != 1 || pending[0].Operation != "item.stop_delete" || pending[0].RequestedBy != "admin" {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	approve := fmt.Sprintf("/approvals/%d/approve", pending[0].ID)
	r, _ := a.c.Get(ts.URL + "/settings")
	if strings.Contains(body(t, r), `action="`+approve+`"`) {
		t.Error("the requester's page offers to approve their own request")
	}
	if code, _ := post(a, approve, url.Values{}); code != http.StatusForbidden {
		t.Fatalf("self-approval in the portal = %d", code)
	}
	r, _ = b.c.Get(ts.URL + "/settings")
	if !strings.Contains(body(t, r), `action="`+approve+`"`) {
		t.Fatal("the second admin's page has no Approve button")
	}
	if code, page := post(b, approve, url.Values{}); code != http.StatusOK || !strings.Contains(page, "approved (completed)") {
		t.Fatalf("approve = %d", code)
	}
	r, _ = a.c.Get(ts.URL + "/settings")
	undelete := fmt.Sprintf("/recovery-points/%d/undelete", pointID)
	if !strings.Contains(body(t, r), `action="`+undelete+`"`) {
		t.Fatal("the soft-deleted point is not listed with Undelete")
	}
	// Undelete is held too; bea rejects it and the point stays deleted.
	if code, _ := post(a, undelete, url.Values{}); code != http.StatusAccepted {
		t.Fatalf("undelete under MUA = %d", code)
	}
	pending, _ = ts.db.ListApprovals(context.Background(), db.ApprovalPending, 10)
	if len(pending) != 1 || pending[0].Operation != "recovery_point.undelete" {
		t.Fatalf("pending = %+v", pending)
	}
	if code, _ := post(b, fmt.Sprintf("/approvals/%d/reject", pending[0].ID), url.Values{}); code != http.StatusOK {
		t.Fatalf("reject = %d", code)
	}
	if len(admin.points(itemID, false)) != 0 {
		t.Fatal("a rejected undelete brought the point back")
	}
	// Unregistering the server, which keeps soft-deleted data, is held too.
	if code, _ := post(a, fmt.Sprintf("/servers/%d/unregister", serverID), url.Values{}); code != http.StatusAccepted {
		t.Fatalf("unregister under MUA = %d", code)
	}
	pending, _ = ts.db.ListApprovals(context.Background(), db.ApprovalPending, 10)
	if len(pending) != 1 || pending[0].Operation != "server.remove" || pending[0].TargetID != fmt.Sprint(serverID) {
		t.Fatalf("pending = %+v", pending)
	}
	admin.want(admin.do("GET", fmt.Sprintf("/api/v1/servers/%d", serverID), nil), 200)
}

// TestAPIPurgeWaitsForASecondAdmin: purging a soft-deleted point before
// its soft delete period ends is its own route; with MUA on it is a
// request bea approves, after which the point is no longer listed as
// soft-deleted (nothing is left to undelete) and the audit log has the
// purge under its requester. A live point answers 409.
func TestAPIPurgeWaitsForASecondAdmin(t *testing.T) {
	ts := newTestServer(t)
	a, b := adminToken(t, ts, "admin", "a1"), adminToken(t, ts, "bea", "b1")
	itemID, _, _ := protected(t, ts, a)
	live := a.points(itemID, false)[0].(map[string]any)
	a.want(a.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/purge", num(live, "id")), nil), 409, "UserErrorConflict")
	a.want(a.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", itemID), map[string]any{"delete_data": true}), 200)
	a.want(a.do("PUT", "/api/v1/settings", map[string]any{"multi_user_authorization": true}), 200)
	deleted := a.points(itemID, true)
	p := deleted[0].(map[string]any)
	held := a.want(a.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/purge", num(p, "id")), nil), 202, "UserErrorApprovalRequired")
	if len(a.points(itemID, true)) != len(deleted) {
		t.Fatal("the purge ran before approval")
	}
	done := b.want(b.do("POST", fmt.Sprintf("/api/v1/approvals/%d/approve", held.num("approval_id")), nil), 200)
	if done.str("result") != "completed" {
		t.Fatalf("approved purge = %s", done)
	}
	if len(a.points(itemID, true)) != len(deleted)-1 {
		t.Fatal("the approved purge left the point soft-deleted")
	}
	a.want(a.do("POST", fmt.Sprintf("/api/v1/recovery-points/%d/undelete", num(p, "id")), nil), 404, "UserErrorNotFound")
	entries, err := ts.db.ListAudit(context.Background(), db.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "recovery_point.purge" && e.Actor == "admin" && e.Outcome == db.AuditSuccess {
			return
		}
	}
	t.Fatalf("no audited purge in %+v", entries)
}
