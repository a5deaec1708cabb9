package coordinator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestAlertWebhookRetries: a new alert is POSTed to the webhook, retried
// after a 503, and sent once however often its cause repeats.
func TestAlertWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	got := make(chan coordinator.WebhookPayload, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var p coordinator.WebhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		got <- p
	}))
	defer hook.Close()
	s := newStackWith(t, func(c *coordinator.Config) { c.Webhook, c.WebhookBackoff = hook.URL, 10*time.Millisecond },
		sqlsim.Login{Name: "svc", Password: "Svc-Passw0rd1"})
	srv, job, err := s.coord.RegisterServer(s.ctx, coordinator.ServerInput{Host: "127.0.0.1", Port: s.sim.Port(), Username: "svc", Password: "Svc-Passw0rd1"})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(job)
	again, _ := s.coord.Rediscover(s.ctx, srv.ID)
	s.wait(again)
	select {
	case p := <-got:
		if p.Alert.Code != string(engine.CodeNoSysadmin) || p.Action == "" || p.Alert.ServerID == nil {
			t.Errorf("webhook payload = %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called")
	}
	time.Sleep(200 * time.Millisecond) // room for a wrongly repeated send to arrive
	if n := calls.Load(); n != 2 {
		t.Errorf("webhook called %d times, want 2 (one 503, one success)", n)
	}
}
