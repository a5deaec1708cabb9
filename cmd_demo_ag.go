package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// The demo's availability group: SalesAG, its database CustomersDB on
// SQLPROD01 (primary) and SQLPROD03 (secondary, the preferred backup
// replica by priority), backup preference secondary, and its listener
// served on this machine and registered as SalesAG-listener.
const (
	demoGroup    = "SalesAG"
	demoGroupDB  = "CustomersDB"
	demoListener = "SalesAG-listener"
	// demoListenerHost is the listener's dns_name: a name the portal's
	// own machine resolves, so the registration by it is the listener.
	demoListenerHost = "localhost"
	// demoPolicyName is the fast demo policy seedDemo creates.
	demoPolicyName = "Demo: hourly full, logs every minute"
)

// startDemoGroup forms the group over the instances of this run; the
// database exists from an earlier run or is created now.
func startDemoGroup(ctx context.Context, primary, secondary *sqlsim.Instance, log *slog.Logger) (*sqlsim.Group, error) {
	conn, err := sa(primary)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var n int
	conn.QueryRowContext(ctx, "SELECT count(*) FROM sys.databases WHERE name = @p1", demoGroupDB).Scan(&n)
	if n == 0 {
		for _, q := range []string{"CREATE DATABASE " + demoGroupDB,
			"USE " + demoGroupDB + "; CREATE TABLE Customers (id int, name nvarchar(40), joined_at datetime2)",
			"INSERT INTO " + demoGroupDB + ".dbo.Customers VALUES (1, N'first customer', SYSUTCDATETIME())"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	g, err := sqlsim.NewGroup(demoGroup, demoListenerHost+":1433", "secondary", primary, secondary)
	if err != nil {
		return nil, err
	}
	// The listener forwards to whichever replica is primary; its port
	// (sys.availability_group_listeners.port) is the one bound here.
	l, err := g.ServeListener("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("availability group listener: %w", err)
	}
	go func() { <-ctx.Done(); l.Close() }()
	g.SetPriority(primary, 50)
	g.SetPriority(secondary, 60)
	if err := g.AddDatabase(ctx, demoGroupDB); err != nil {
		log.Debug("demo group database", "err", err) // joined in an earlier run
	}
	return g, nil
}

// seedDemoGroup registers SQLPROD03 and protects the group database under
// the demo policy, once: one backup item for the group, its logs on the
// preferred replica. The listener is registered too, or pointed at this
// run's port.
func seedDemoGroup(ctx context.Context, c *coordinator.Coordinator, g *sqlsim.Group, third *sqlsim.Instance) error {
	if g == nil {
		return nil
	}
	servers, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(servers, func(s db.Server) bool { return s.Name == "SQLPROD03" }) { // else seeded in an earlier run
		if err := seedDemoReplica(ctx, c, third); err != nil {
			return err
		}
	}
	return seedDemoListener(ctx, c, g, servers)
}

// seedDemoListener registers the group's listener, or on a later run
// points the registration at the port it has now.
func seedDemoListener(ctx context.Context, c *coordinator.Coordinator, g *sqlsim.Group, servers []db.Server) error {
	_, p, _ := strings.Cut(g.ListenerAddr(), ":")
	port, _ := strconv.Atoi(p)
	in := coordinator.ServerInput{Name: demoListener, Host: demoListenerHost, Port: port, Username: demoSvcLogin, Password: demoSvcPass}
	for _, s := range servers {
		if s.Name != demoListener {
			continue
		}
		if s.Port == port {
			return nil
		}
		_, _, err := c.UpdateServer(ctx, s.ID, in)
		return err
	}
	_, job, err := c.RegisterServer(ctx, in)
	if err != nil {
		return fmt.Errorf("register %s: %w", demoListener, err)
	}
	return waitJob(ctx, c, job, demoJobLimit)
}

// seedDemoReplica registers SQLPROD03 and protects the group database.
func seedDemoReplica(ctx context.Context, c *coordinator.Coordinator, third *sqlsim.Instance) error {
	policies, err := c.Policies(ctx)
	if err != nil || len(policies) == 0 {
		return err
	}
	policyID := policies[0].ID
	for _, p := range policies {
		if p.Name == demoPolicyName {
			policyID = p.ID
		}
	}
	srv, job, err := c.RegisterServer(ctx, coordinator.ServerInput{Name: "SQLPROD03", Host: "127.0.0.1", Port: third.Port(),
		Username: demoSvcLogin, Password: demoSvcPass})
	if err != nil {
		return fmt.Errorf("register SQLPROD03: %w", err)
	}
	if err := waitJob(ctx, c, job, demoJobLimit); err != nil {
		return err
	}
	dbs, err := c.Databases(ctx, srv.ID)
	if err != nil {
		return err
	}
	for _, d := range dbs {
		if d.Name == demoGroupDB {
			_, _, err := c.Protect(ctx, d.ID, policyID)
			return err
		}
	}
	return fmt.Errorf("%s not discovered on SQLPROD03", demoGroupDB)
}

// groupWorkload adds a customer on the group's primary now and then, so
// its log backups carry something.
func groupWorkload(ctx context.Context, g *sqlsim.Group, id int) {
	p := g.Primary()
	if p == nil {
		return
	}
	conn, err := sa(p)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.dbo.Customers VALUES (%d, N'customer %d', SYSUTCDATETIME())", demoGroupDB, id, id))
}
