package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// permanent marks a failure a retry cannot fix (a 4xx answer).
type permanent struct{ error }

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// post sends a webhook body; a 5xx or a network error may pass, a 4xx
// means the receiver refuses it.
func post(ctx context.Context, client *http.Client, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook answered %s", resp.Status)
	if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return permanent{err}
	}
	return err
}

// sendMail delivers one plain-text mail through the configured server.
func sendMail(ctx context.Context, e Email, password string, roots *tls.Config, to []string, subject, body string) error {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return permanent{err}
	}
	if err := m.To(to...); err != nil {
		return permanent{err}
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, body)
	opts := []mail.Option{mail.WithPort(e.Port), mail.WithTimeout(20 * time.Second)}
	switch e.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	tc := &tls.Config{ServerName: e.Host, MinVersion: tls.VersionTLS12}
	if roots != nil {
		tc = roots.Clone()
		tc.ServerName = e.Host
	}
	opts = append(opts, mail.WithTLSConfig(tc))
	if e.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.Username), mail.WithPassword(password))
	}
	c, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return permanent{err}
	}
	return c.DialAndSendWithContext(ctx, m)
}
