package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/vdi"
)

// A test grant opens a scratch container on the device for a while, so a
// DBA can try BACKUP TO URL by hand from SSMS, or a benchmark can drive
// the device from outside the process. What is written there is never a
// recovery point: nothing in the catalog names it, it carries no labels
// (so the immutable vault does not keep it), and it is deleted when the
// grant ends, or at the next start if the server stopped first.

// scratchPrefix starts every scratch container's name; job containers
// start with "job-", so the two never meet.
const scratchPrefix = "scratch-"

// MaxTestGrant is the longest a test grant may live.
const MaxTestGrant = 24 * time.Hour

// TestGrant is an open scratch container and how to reach it.
type TestGrant struct {
	Container     string    `json:"container"`
	URL           string    `json:"url"`
	SAS           string    `json:"sas"`
	CredentialSQL string    `json:"credential_sql"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// OpenTestGrant opens a fresh scratch container for ttl (1 minute to
// MaxTestGrant) and schedules its deletion when the grant ends.
func (c *Coordinator) OpenTestGrant(ttl time.Duration) (TestGrant, error) {
	if ttl < time.Minute || ttl > MaxTestGrant {
		return TestGrant{}, invalid("minutes", "a test grant lives 1 to %d minutes", int(MaxTestGrant/time.Minute))
	}
	return c.openTestGrant(ttl), nil
}

// openTestGrant opens the grant without checking ttl (tests use seconds).
func (c *Coordinator) openTestGrant(ttl time.Duration) TestGrant {
	b := make([]byte, 8)
	rand.Read(b)
	container := scratchPrefix + hex.EncodeToString(b)
	g := c.cfg.Device.NewGrant(container, vdi.GrantBackup, ttl)
	url := c.cfg.Device.ContainerURL(container)
	time.AfterFunc(ttl, func() {
		g.Revoke()
		if err := c.deleteScratch(context.Background(), container); err != nil {
			c.log.Warn("test grant: scratch blobs not deleted; the next start deletes them", "container", container, "err", err)
		}
	})
	return TestGrant{
		Container: container, URL: url, SAS: g.SAS, ExpiresAt: c.cfg.Now().Add(ttl).UTC(),
		CredentialSQL: fmt.Sprintf("CREATE CREDENTIAL %s WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = %s;",
			mssql.QuoteName(url), mssql.QuoteString(g.SAS)),
	}
}

// deleteScratch deletes what was written to one scratch container, or
// with container "" to every one: at start no grant is alive any more.
func (c *Coordinator) deleteScratch(ctx context.Context, container string) error {
	prefix := scratchPrefix
	if container != "" {
		prefix = container + "/"
	}
	ms, err := c.cfg.Vault.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if len(m.Labels) > 0 || !strings.HasPrefix(m.Blob, scratchPrefix) {
			continue // never a recovery point's blob, whatever its name
		}
		if err := c.cfg.Vault.DeleteBlob(ctx, m.Blob); err != nil {
			return err
		}
	}
	return nil
}
