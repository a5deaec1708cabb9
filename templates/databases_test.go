package templates

import (
	"context"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestDatabaseListShowsWhyNotProtectable: the server page's database list
// offers Protect only where protection is possible and shows each
// database's reason beside it.
func TestDatabaseListShowsWhyNotProtectable(t *testing.T) {
	item := int64(9)
	s := ServerView{Server: db.Server{ID: 1, Name: "SQL01"}, Databases: []db.Database{
		{ID: 1, Name: "Sales", State: "ONLINE", RecoveryModel: "FULL"},
		{ID: 2, Name: "Replica", State: "ONLINE", RecoveryModel: "FULL", IsAGSecondary: true},
		{ID: 3, Name: "Off", State: "OFFLINE", RecoveryModel: "FULL"},
		{ID: 4, Name: "Archive", State: "ONLINE", RecoveryModel: "FULL", IsReadOnly: true, ItemID: &item},
		{ID: 5, Name: "Standby", State: "ONLINE", RecoveryModel: "FULL", IsInStandby: true},
	}}
	var b strings.Builder
	err := DatabaseList(Page{Role: "admin", CSRF: "x"}, s, []coordinator.PolicyInfo{{}}).Render(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, r := range strings.Split(b.String(), "<tr data-db=\"")[1:] {
		name, _, _ := strings.Cut(r, "\"")
		rows[name] = r
	}
	for name, want := range map[string][]string{
		"Sales":   {"/databases/1/protect"},
		"Replica": {"Cannot be protected", "availability group secondary: its group is not discovered yet"},
		"Off":     {"Cannot be protected", "offline"},
		"Archive": {"Protected: view backup item", "read-only: full and copy-only full backups only"},
		"Standby": {"Cannot be protected", "standby"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[name], w) {
				t.Errorf("%s row lacks %q: %s", name, w, rows[name])
			}
		}
		if name != "Sales" && strings.Contains(rows[name], "/protect") {
			t.Errorf("%s is offered for protection", name)
		}
		if name == "Sales" && strings.Contains(rows[name], "data-reason") {
			t.Errorf("Sales shows a reason: %s", rows[name])
		}
	}
}
