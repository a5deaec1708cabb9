package web

import (
	"context"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// TestAPITestGrant: an admin opens a test grant and gets the container
// URL, a SAS and the CREATE CREDENTIAL statement to paste into SSMS; a
// length outside 1 minute to a day is refused at the minutes field; the
// grant is in the audit log.
func TestAPITestGrant(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	for _, m := range []int{0, 24*60 + 1} {
		admin.want(admin.do("POST", "/api/v1/device/test-grants", map[string]any{"minutes": m}), 422, "UserErrorInvalidRequest", "minutes")
	}
	g := admin.want(admin.do("POST", "/api/v1/device/test-grants", map[string]any{"minutes": 5}), 201)
	url, sas, cred := g.str("url"), g.str("sas"), g.str("credential_sql")
	if !strings.HasPrefix(url, "https://") || !strings.Contains(url, "/scratch-") || !strings.Contains(sas, "sig=") {
		t.Fatalf("test grant = %s", g)
	}
	if !strings.Contains(cred, "CREATE CREDENTIAL ["+url+"]") || !strings.Contains(cred, "'"+sas+"'") {
		t.Fatalf("credential_sql = %q", cred)
	}
	entries, err := ts.db.ListAudit(context.Background(), db.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "device.test_grants" && e.Status == 201 && e.TargetID == g.str("container") {
			return
		}
	}
	t.Fatalf("no audited test grant in %+v", entries)
}
