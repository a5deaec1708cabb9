package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestNotifyFormKeepsRulesWithTheirWebhook: emptying the first of two
// webhooks on the form makes the second webhook:1; its rule moves with
// it instead of the emptied one's rule landing on it.
func TestNotifyFormKeepsRulesWithTheirWebhook(t *testing.T) {
	f := url.Values{
		"webhook_url":    {"", "https://hooks.example/b", ""},
		"webhook_format": {"teams", "slack", "generic"},
		// the page showed webhook:1 (now emptied) and webhook:2
		"rule_webhook:1_mode": {"filter"}, "rule_webhook:1_severity": {"warning"},
		"rule_webhook:2_mode": {"filter"}, "rule_webhook:2_severity": {"critical"}, "rule_webhook:2_jobs": {"on"},
		"rule_email_mode": {"all"}, "rule_email_summary": {"on"},
	}
	req := httptest.NewRequest(http.MethodPost, "/settings/notifications", strings.NewReader(f.Encode()))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
	c := echo.New().NewContext(req, httptest.NewRecorder())
	cfg, err := notifyForm(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Format != "slack" || cfg.Email != nil {
		t.Fatalf("channels = %+v", cfg)
	}
	var got []string
	for _, r := range cfg.Rules {
		got = append(got, r.Channel+":"+strings.Join(r.Severities, "+"))
		if r.Channel == "webhook:1" && (!r.JobFailures || len(r.Severities) != 1 || r.Severities[0] != "critical") {
			t.Errorf("webhook:1 got rule %+v, want the second webhook's", r)
		}
		if r.Channel == "email" && !r.DailySummary {
			t.Errorf("email rule %+v lost its daily summary", r)
		}
	}
	if strings.Join(got, " ") != "email:critical+error+warning webhook:1:critical" {
		t.Fatalf("rules = %v", got)
	}
}
