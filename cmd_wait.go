package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// demoJobLimit bounds each of the demo's setup jobs.
const demoJobLimit = time.Minute

// waitJob waits up to limit for a job to complete, polling the catalog;
// a job that fails or is cancelled is an error naming it.
func waitJob(ctx context.Context, c *coordinator.Coordinator, id int64, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		j, err := c.Job(ctx, id)
		if err != nil {
			return err
		}
		switch j.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("job %d (%s %s) %s: %s", id, j.Operation, j.Kind, j.Status, j.ErrorMessage)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("job %d did not finish within %s", id, limit)
}
