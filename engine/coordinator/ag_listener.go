package coordinator

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
)

// A server registered by a group's listener reaches whichever replica is
// primary, a different instance after each failover
// (learn.microsoft.com/sql/database-engine/availability-groups/windows/
// listeners-client-connectivity-application-failover). Its identity is
// therefore the group's, not the instance's: the key below, known from
// sys.availability_group_listeners (dns_name, port) matching the address
// registered. It is not a replica: discovery shows only the group's
// databases on it, and a backup uses it for the primary when the primary
// has no registration of its own.

const listenerKeyPrefix = "AG LISTENER "

func listenerKey(groupID string) string { return listenerKeyPrefix + strings.ToUpper(groupID) }

func isListenerKey(key string) bool { return strings.HasPrefix(key, listenerKeyPrefix) }

// identity is the instance key of a registration at host:port: the
// listener's when host:port is a listener of a group the instance hosts,
// else the instance's own (instanceKey).
func identity(ctx context.Context, conn *mssql.Conn, host string, port int, info mssql.Instance) string {
	if g, ok := listenerGroup(ctx, conn, host, port); ok {
		return listenerKey(g.GroupID)
	}
	return instanceKey(info)
}

// listenerGroup is the group whose listener host:port is, if any.
func listenerGroup(ctx context.Context, conn *mssql.Conn, host string, port int) (mssql.AvailabilityGroup, bool) {
	groups, err := conn.AvailabilityGroups(ctx)
	if err != nil {
		return mssql.AvailabilityGroup{}, false
	}
	for _, g := range groups {
		if listenerMatches(g.Listener, host, port) {
			return g, true
		}
	}
	return mssql.AvailabilityGroup{}, false
}

// listenerMatches says whether host:port names listener (dns_name:port):
// the same port, and the DNS name itself, a fully qualified form of it, or
// an address it resolves to (clients may use any of these).
func listenerMatches(listener, host string, port int) bool {
	name, p, ok := strings.Cut(listener, ":")
	if name == "" || !ok || p != strconv.Itoa(port) {
		return false
	}
	first, _, _ := strings.Cut(host, ".")
	if strings.EqualFold(host, name) || (net.ParseIP(host) == nil && strings.EqualFold(first, name)) {
		return true
	}
	if net.ParseIP(host) == nil {
		return false
	}
	addrs, _ := net.LookupHost(name)
	for _, a := range addrs {
		if net.ParseIP(a).Equal(net.ParseIP(host)) {
			return true
		}
	}
	return false
}

// checkListener is checkIdentity for a listener registration: whatever
// replica answers must host the group whose listener it was registered as.
func (c *Coordinator) checkListener(ctx context.Context, s db.Server) error {
	conn, err := c.conn(ctx, s)
	if err != nil {
		return err
	}
	g, ok := listenerGroup(ctx, conn, s.Host, s.Port)
	if ok && listenerKey(g.GroupID) == s.InstanceKey {
		return nil
	}
	msg := fmt.Sprintf("%s:%d was registered as an availability group listener, but the instance answering there no longer reports that listener",
		s.Host, s.Port)
	c.cfg.DB.SetServerStatus(ctx, s.ID, db.StatusUnhealthy, string(engine.CodeAGListenerMismatch), msg)
	c.raise(ctx, db.Alert{Code: string(engine.CodeAGListenerMismatch), Message: s.Name + ": " + msg, ServerID: &s.ID})
	return engine.Errorf(engine.CodeAGListenerMismatch, "%s", msg)
}

// listenerDatabases keeps, for a listener registration, the databases of
// its group only: the primary's other databases belong to that instance,
// not to the address, and move away at the next failover.
func listenerDatabases(ctx context.Context, conn *mssql.Conn, s db.Server, found []mssql.Database) ([]mssql.Database, error) {
	if !isListenerKey(s.InstanceKey) {
		return found, nil
	}
	groups, err := conn.AvailabilityGroups(ctx)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, g := range groups {
		if listenerKey(g.GroupID) == s.InstanceKey {
			for _, d := range g.Databases {
				in[strings.ToLower(d.Name)] = true
			}
		}
	}
	var out []mssql.Database
	for _, d := range found {
		if in[strings.ToLower(d.Name)] {
			out = append(out, d)
		}
	}
	return out, nil
}

// viaListener lets the group's listener registration stand in for the
// replica it reaches now (the primary) when that replica has no
// registration of its own, so a group registered only by its listener
// still backs up on its primary.
func (c *Coordinator) viaListener(ctx context.Context, g db.AG, m db.AGMembership, reps []db.GroupReplicaDatabase) []db.GroupReplicaDatabase {
	s, err := c.cfg.DB.ServerByInstanceKey(ctx, listenerKey(g.GroupID))
	if err != nil {
		return reps
	}
	row, err := c.cfg.DB.GroupDatabaseOn(ctx, s.ID, m)
	if err != nil || row == nil {
		return reps
	}
	_, info, err := c.connectSysadmin(ctx, s)
	if err != nil {
		return reps
	}
	for i, r := range reps {
		if r.Replica.ServerID == nil && strings.EqualFold(r.Replica.Name, info.ServerName) {
			reps[i].Replica.ServerID, reps[i].Database = &s.ID, row
		}
	}
	return reps
}

// listenerServer is the registration of a group's listener, if any.
func (c *Coordinator) listenerServer(ctx context.Context, g db.AG) *int64 {
	s, err := c.cfg.DB.ServerByInstanceKey(ctx, listenerKey(g.GroupID))
	if err != nil {
		return nil
	}
	return &s.ID
}
