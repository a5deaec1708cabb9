package coordinator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// The minute's health check notices a catalog file deleted while serving
// and says so where someone will see it: the webhook, since the alert row
// lands in the deleted file that no restart reads.
func TestHealthCheckAlertsACatalogFileDeletedWhileServing(t *testing.T) {
	got := make(chan coordinator.WebhookPayload, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p coordinator.WebhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		got <- p
	}))
	defer hook.Close()
	s := newStackWith(t, func(c *coordinator.Config) { c.Webhook, c.WebhookBackoff = hook.URL, 10*time.Millisecond })
	s.coord.CheckHealth(s.ctx)
	if err := os.Remove(s.db.Path()); err != nil {
		t.Fatal(err)
	}
	s.coord.CheckHealth(s.ctx)
	select {
	case p := <-got:
		if p.Alert.Code != string(engine.CodeCatalogFileMissing) || !strings.Contains(p.Alert.Message, "deleted") || p.Action == "" {
			t.Errorf("webhook payload = %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the deleted catalog was not reported to the webhook")
	}
}
