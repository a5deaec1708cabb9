package main

import (
	"context"
	"fmt"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// pointLabel is the manifest label the coordinator writes on every
// recovery point (coordinator.PointLabels); vault list reads it too.
const pointLabel = "sqlvault.point"

// refuseEmptyCatalog stops a start on a catalog that lists no recovery
// point beside a vault that holds some: the catalog was lost or replaced,
// and serving it would schedule new chains over backups nobody can see.
// --new-catalog starts anyway, on purpose.
func refuseEmptyCatalog(ctx context.Context, catalog *db.DB, v *vault.Vault, startOver bool) error {
	if startOver {
		return nil
	}
	known, err := catalog.AllBlobs(ctx)
	if err != nil || len(known) > 0 {
		return err
	}
	ms, err := v.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list the vault: %w", err)
	}
	points := 0
	for _, m := range ms {
		if _, ok := m.Labels[pointLabel]; ok {
			points++
		}
	}
	if points == 0 {
		return nil
	}
	return engine.Errorf(engine.CodeCatalogEmptyOnVault,
		"the catalog %s lists no recovery point but the vault holds %d backup files: run `sqlvault vault rebuild-catalog` with the same --data and --vault to list them again, "+
			"or start with --new-catalog to begin a new catalog knowingly", catalog.Path(), points)
}
