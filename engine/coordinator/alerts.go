package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// raise opens an alert (once per cause) and, for a new one, notifies the
// webhook in the background.
func (c *Coordinator) raise(ctx context.Context, a db.Alert) {
	a, opened, err := c.cfg.DB.RaiseAlert(ctx, a)
	if err != nil {
		c.log.Error("raise alert", "code", a.Code, "err", err)
		return
	}
	if opened && c.cfg.Webhook != "" {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.notify(a); err != nil {
				c.log.Warn("alert webhook", "alert", a.ID, "err", err)
			}
		}()
	}
}

// WebhookPayload is what the alert webhook receives.
type WebhookPayload struct {
	Alert  db.Alert `json:"alert"`
	Action string   `json:"action"` // the recommended action for its code
	Source string   `json:"source"`
}

// notify POSTs the alert, retrying with backoff on failure or a 5xx (a
// 4xx means the receiver refuses it; retrying would not help).
func (c *Coordinator) notify(a db.Alert) error {
	body, _ := json.Marshal(WebhookPayload{Alert: a, Action: engine.Code(a.Code).Action(), Source: "sqlvault"})
	client := &http.Client{Timeout: 10 * time.Second}
	wait := c.cfg.WebhookBackoff
	if wait <= 0 {
		wait = 2 * time.Second
	}
	var last error
	for attempt := 1; attempt <= 5; attempt++ {
		resp, err := client.Post(c.cfg.Webhook, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return nil
			}
			last = fmt.Errorf("webhook answered %s", resp.Status)
			if resp.StatusCode < 500 {
				return last
			}
		} else {
			last = err
		}
		time.Sleep(wait)
		wait *= 2
	}
	return last
}
