package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// OriginalReplica is the replica an "original" restore of a group
// database goes to, and why.
type OriginalReplica struct {
	ServerID   int64  `json:"server_id"`
	ServerName string `json:"server_name"`
	Group      string `json:"group"`
	Primary    bool   `json:"primary"`
	Why        string `json:"why"`
}

// OriginalReplicaOf says where an original restore of a group item would
// go (ok false: not a group item), from the roles last recorded, for the
// wizard; the restore itself asks the replicas again. serverID 0 means
// the primary, else the replica the user picks.
func (c *Coordinator) OriginalReplicaOf(ctx context.Context, itemID, serverID int64) (OriginalReplica, bool, error) {
	it, err := c.item(ctx, itemID)
	if err != nil {
		return OriginalReplica{}, false, err
	}
	m, inGroup, err := c.cfg.DB.ItemAG(ctx, itemID)
	if err != nil || !inGroup {
		return OriginalReplica{}, false, err
	}
	o, err := c.originalReplica(ctx, m, it.DatabaseName, serverID, false)
	return o, true, err
}

// originalTarget settles the server of an original restore: the item's
// own for a standalone database; for a group database the replica the
// user picked (t.ServerID) or else the current primary, not the replica
// the item happened to be protected from, which may be a secondary now.
func (c *Coordinator) originalTarget(ctx context.Context, it db.Item, t *RestoreTarget) error {
	m, inGroup, err := c.cfg.DB.ItemAG(ctx, it.ID)
	if err != nil {
		return err
	}
	if !inGroup {
		t.ServerID = it.ServerID
		return nil
	}
	o, err := c.originalReplica(ctx, m, it.DatabaseName, t.ServerID, true)
	t.ServerID = o.ServerID
	return err
}

// originalReplica picks the replica; live asks each replica its role now.
func (c *Coordinator) originalReplica(ctx context.Context, m db.AGMembership, name string, serverID int64, live bool) (OriginalReplica, error) {
	g, err := c.cfg.DB.AGByID(ctx, m.AGID)
	if err != nil {
		return OriginalReplica{}, err
	}
	reps, err := c.cfg.DB.GroupDatabaseReplicas(ctx, m)
	if err != nil {
		return OriginalReplica{}, err
	}
	primary := func(i int) bool { return strings.EqualFold(reps[i].Replica.Role, "PRIMARY") }
	if live {
		reps = c.viaListener(ctx, g, m, reps)
		cands := c.probeReplicas(ctx, g, name, reps)
		primary = func(i int) bool { return cands[i].primary() }
	}
	for i, r := range reps {
		if r.Replica.ServerID == nil || r.Database == nil {
			continue
		}
		o := OriginalReplica{ServerID: *r.Replica.ServerID, ServerName: r.Replica.Name, Group: g.Name, Primary: primary(i)}
		switch {
		case serverID != 0 && serverID == o.ServerID:
			o.Why = fmt.Sprintf("%s, the replica chosen", o.ServerName)
		case serverID == 0 && o.Primary:
			o.Why = fmt.Sprintf("%s, the primary replica of %s: the copy clients write to", o.ServerName, g.Name)
		default:
			continue
		}
		if !o.Primary {
			o.Why += " (a secondary: only its copy leaves the group)"
		}
		return o, nil
	}
	if o, ok := c.listenerOriginal(ctx, g, m, serverID); ok {
		return o, nil
	}
	if serverID != 0 {
		return OriginalReplica{}, invalid("target.server_id", "server %d holds no copy of this database of availability group %s; choose one of its replicas", serverID, g.Name)
	}
	return OriginalReplica{Group: g.Name}, engine.Errorf(engine.CodeAGNoReplica,
		"no primary replica of availability group %s is registered and reachable; choose the replica to restore over (target.server_id)", g.Name)
}

// originalServer is the server an original restore job restores it on:
// a standalone database's own, whatever the job's target names (a
// multi-database job carries the first database's, which for a group
// database may be its primary, another instance).
func (c *Coordinator) originalServer(ctx context.Context, it db.Item, t RestoreTarget) int64 {
	if _, inGroup, err := c.cfg.DB.ItemAG(ctx, it.ID); err == nil && !inGroup {
		return it.ServerID
	}
	return t.ServerID
}

// listenerOriginal is the group's listener registration as the original
// target, when picked or when no registered replica is the primary: it
// reaches the primary.
func (c *Coordinator) listenerOriginal(ctx context.Context, g db.AG, m db.AGMembership, serverID int64) (OriginalReplica, bool) {
	id := c.listenerServer(ctx, g)
	if id == nil || (serverID != 0 && serverID != *id) {
		return OriginalReplica{}, false
	}
	row, err := c.cfg.DB.GroupDatabaseOn(ctx, *id, m)
	if err != nil || row == nil {
		return OriginalReplica{}, false
	}
	return OriginalReplica{ServerID: *id, ServerName: row.ServerName, Group: g.Name, Primary: true,
		Why: fmt.Sprintf("%s, the listener of %s, which reaches its primary replica", row.ServerName, g.Name)}, true
}
