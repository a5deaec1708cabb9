package main

import (
	"context"

	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// demoVerify gives the demo policy a verification instance, SQLPROD01
// itself (the copy gets a temporary name, never the source's): each new
// full is restored there, checked with DBCC CHECKDB and its row counts
// within a minute or two of landing.
func demoVerify(ctx context.Context, c *coordinator.Coordinator, p policy.Policy) error {
	servers, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.Name == "SQLPROD01" {
			p.Verify = &policy.Verify{Enabled: true, AfterFull: true, EveryDays: 1, ServerID: s.ID, MaxBytes: 1 << 30}
			_, err := c.UpdatePolicy(ctx, p.ID, p)
			return err
		}
	}
	return nil
}
