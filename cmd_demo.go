package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// The demo's simulated instances and their logins.
const (
	demoDeviceName = "sqlvault-demo.local"
	demoSAPassword = "Demo-Sa-Passw0rd!"
	demoSvcLogin   = "sqlvault_svc"
	demoSvcPass    = "Demo-Svc-Passw0rd!"
)

// runDemo runs the server with two simulated SQL Server instances, sample
// databases under a fast demo policy and a light workload, in a data
// directory it names, so a newcomer sees backups within a minute.
func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o serveOptions
	o.register(fs, "127.0.0.1:8080")
	fresh := fs.Bool("fresh", false, "delete the demo data directory and start over")
	simOnly := fs.Bool("sqlsim-only", false, "run only the simulated instances, for a separate `sqlvault serve` (needs --trust-ca and --device-ip)")
	trustCA := fs.String("trust-ca", "", "with --sqlsim-only: the serve's device CA certificate (GET /api/v1/device/ca.crt)")
	deviceIP := fs.String("device-ip", "127.0.0.1", "with --sqlsim-only: the IP the device name resolves to")
	devicePort := fs.Int("device-port", 443, "with --sqlsim-only: the device's port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !isSet(fs, "data") && os.Getenv("SQLVAULT_DATA") == "" {
		o.data = filepath.Join(os.TempDir(), "sqlvault-demo")
	}
	if *fresh {
		if err := os.RemoveAll(o.data); err != nil {
			return err
		}
	}
	log := newLogger(o.logFormat)
	if *simOnly {
		return runDemoSims(ctx, o, *trustCA, *deviceIP, *devicePort, stdout)
	}
	if os.Getenv("SQLVAULT_ADMIN_PASSWORD") == "" {
		os.Setenv("SQLVAULT_ADMIN_PASSWORD", "demo")
	}
	if !isSet(fs, "device-name") && os.Getenv("SQLVAULT_DEVICE_NAME") == "" {
		o.deviceName = demoDeviceName
	}
	if !isSet(fs, "device-addr") && os.Getenv("SQLVAULT_DEVICE_ADDR") == "" {
		o.deviceAddr = demoDeviceAddr()
	}
	// Demo-only allowance: the demo's own instances accept the device's
	// port even when it is not 443, so URLs may follow the listener.
	o.anyDevicePort = true
	if !isSet(fs, "device-public-port") {
		o.devicePublicPort = 0
	}
	// Demo-only allowance: hourly fulls and logs every minute.
	o.limits = policy.Limits{MinLogMinutes: 1, AllowHourly: true}
	a, err := startApp(ctx, o, log, stdout)
	if err != nil {
		return err
	}
	defer a.close()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.eng.device.CACertPEM())
	devAddr := a.device.Addr().(*net.TCPAddr)
	sims, err := startDemoSims(ctx, o.data, pool, devAddr.IP.String(), devAddr.Port, o.deviceName, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sims {
			s.Close()
		}
	}()
	group, err := startDemoGroup(ctx, sims[0], sims[2], log)
	if err != nil {
		log.Warn("demo availability group not formed", "err", err)
	}
	if err := seedDemo(ctx, a.coord, sims, log); err != nil {
		return err
	}
	if err := seedDemoGroup(ctx, a.coord, group, sims[2]); err != nil {
		return err
	}
	go workload(ctx, sims[0], group, log)
	fmt.Fprintf(stdout, "\nsqlvault demo is running.\n  Portal:  http://%s\n  Sign in: admin / %s (a password set in an earlier run still holds)\n  Data:    %s (reused next time; --fresh starts over)\n  SQL:     SQLPROD01 on %s, SQLPROD02 on %s, SQLPROD03 on %s (sa / %s); availability group %s on SQLPROD01 and SQLPROD03\n  Stop:    Ctrl-C\n\n",
		a.portal.Addr(), os.Getenv("SQLVAULT_ADMIN_PASSWORD"), o.data, sims[0].Addr(), sims[1].Addr(), sims[2].Addr(), demoSAPassword, demoGroup)
	return a.srv.Serve(ctx, a.portal)
}

// demoDeviceAddr binds the device on 443 of a loopback address when the
// user may, else on a free port that the demo's own instances are allowed
// to use (real SQL Server takes 443 only).
func demoDeviceAddr() string {
	if l, err := net.Listen("tcp", "127.0.0.1:443"); err == nil {
		l.Close()
		return "127.0.0.1:443"
	}
	return "127.0.0.1:0"
}

// startDemoSims starts SQLPROD01 (sa is sysadmin), SQLPROD02 (whose
// sqlvault login is not) and SQLPROD03 (the availability group's
// secondary), resolving the device name and trusting its CA.
func startDemoSims(ctx context.Context, data string, ca *x509.CertPool, ip string, port int, name string, log *slog.Logger) ([]*sqlsim.Instance, error) {
	allowed := 0
	if port != 443 {
		allowed = port
	}
	var out []*sqlsim.Instance
	for _, machine := range []string{"SQLPROD01", "SQLPROD02", "SQLPROD03"} {
		cfg := sqlsim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(data, "sqlsim", machine), SAPassword: demoSAPassword,
			TrustCA: ca, Hosts: map[string]string{strings.ToLower(name): ip}, AllowedDevicePort: allowed, MachineName: machine,
			Logins: []sqlsim.Login{{Name: demoSvcLogin, Password: demoSvcPass, Sysadmin: machine != "SQLPROD02"}}, Logger: log}
		in, err := sqlsim.Start(ctx, cfg)
		if err != nil {
			return out, fmt.Errorf("start %s: %w", machine, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// seedDemo fills the instances, registers them, and protects the sample
// databases under the demo policy; it does nothing on a later run.
func seedDemo(ctx context.Context, c *coordinator.Coordinator, sims []*sqlsim.Instance, log *slog.Logger) error {
	if ps, err := c.Policies(ctx); err != nil || len(ps) > 0 {
		if err != nil {
			return err
		}
		return reconnectDemo(ctx, c, sims)
	}
	if err := fillDemo(ctx, sims); err != nil {
		return err
	}
	p, err := c.CreatePolicy(ctx, policy.Policy{Name: demoPolicyName,
		Full:         policy.FullSchedule{Frequency: "hourly", Time: "00:00", Timezone: "UTC"},
		Differential: policy.DiffSchedule{Enabled: true, Time: "00:30"},
		Log:          policy.LogSchedule{Enabled: true, EveryMinutes: 1},
		Retention:    policy.Retention{DailyDays: 7, DifferentialDays: 7, LogDays: 2}})
	if err != nil {
		return err
	}
	if _, err := c.CreatePolicy(ctx, policy.Policy{Name: "Production: weekly full, daily differential, 15-minute logs",
		Full:         policy.FullSchedule{Frequency: "weekly", Days: []string{"sunday"}, Time: "22:00", Timezone: "UTC"},
		Differential: policy.DiffSchedule{Enabled: true, Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}, Time: "22:00"},
		Log:          policy.LogSchedule{Enabled: true, EveryMinutes: 15},
		Retention:    policy.Retention{DailyDays: 30, WeeklyWeeks: 12, MonthlyMonths: 12, DifferentialDays: 14, LogDays: 14}}); err != nil {
		return err
	}
	for i, in := range sims[:2] {
		name := []string{"SQLPROD01", "SQLPROD02"}[i]
		srv, job, err := c.RegisterServer(ctx, coordinator.ServerInput{Name: name, Host: "127.0.0.1", Port: in.Port(),
			Username: demoSvcLogin, Password: demoSvcPass})
		if err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
		if i == 1 {
			continue // its login lacks sysadmin: the portal shows why and the script
		}
		if err := waitJob(ctx, c, job, demoJobLimit); err != nil {
			return err
		}
		dbs, err := c.Databases(ctx, srv.ID)
		if err != nil {
			return err
		}
		for _, d := range dbs {
			switch d.Name {
			case "SalesDB", "HRDB", "ReportingDB":
				if _, _, err := c.Protect(ctx, d.ID, p.ID); err != nil {
					return err
				}
			}
		}
	}
	if err := demoVerify(ctx, c, p); err != nil {
		return err
	}
	log.Info("demo seeded", "policy", p.Name)
	return nil
}

// reconnectDemo points the registered demo servers at this run's
// instances, whose ports are picked anew each start.
func reconnectDemo(ctx context.Context, c *coordinator.Coordinator, sims []*sqlsim.Instance) error {
	servers, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		i, ok := map[string]int{"SQLPROD01": 0, "SQLPROD02": 1, "SQLPROD03": 2}[s.Name]
		if !ok || s.Port == sims[i].Port() {
			continue
		}
		if _, _, err := c.UpdateServer(ctx, s.ID, coordinator.ServerInput{Host: "127.0.0.1", Port: sims[i].Port(),
			Username: demoSvcLogin, Password: demoSvcPass}); err != nil {
			return fmt.Errorf("reconnect %s: %w", s.Name, err)
		}
	}
	return nil
}

func sa(in *sqlsim.Instance) (*sql.DB, error) {
	return sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@%s?encrypt=disable", demoSAPassword, in.Addr()))
}

// fillDemo creates the sample databases with a few thousand rows.
func fillDemo(ctx context.Context, sims []*sqlsim.Instance) error {
	stmts := map[int][]string{
		0: {
			"CREATE DATABASE SalesDB", "CREATE DATABASE HRDB", "CREATE DATABASE ReportingDB",
			"ALTER DATABASE ReportingDB SET RECOVERY SIMPLE",
			"USE SalesDB; CREATE TABLE Orders (id int, customer nvarchar(40), amount int, placed_at datetime2)",
			"USE HRDB; CREATE TABLE Employees (id int, name nvarchar(40), salary int, updated_at datetime2)",
			"USE ReportingDB; CREATE TABLE DailyTotals (day int, total int)",
		},
		1: {"CREATE DATABASE FinanceDB", "USE FinanceDB; CREATE TABLE Ledger (id int, amount int)"},
	}
	for i, list := range stmts {
		conn, err := sa(sims[i])
		if err != nil {
			return err
		}
		defer conn.Close()
		for _, q := range list {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	conn, err := sa(sims[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	for batch := 0; batch < 30; batch++ {
		var orders, emps []string
		for i := 0; i < 100; i++ {
			id := batch*100 + i + 1
			orders = append(orders, fmt.Sprintf("(%d, N'customer %d', %d, SYSUTCDATETIME())", id, id%97, 10+id%500))
			emps = append(emps, fmt.Sprintf("(%d, N'employee %d', %d, SYSUTCDATETIME())", id, id, 40000+id%30000))
		}
		for _, q := range []string{"INSERT INTO SalesDB.dbo.Orders VALUES " + strings.Join(orders, ", "),
			"INSERT INTO HRDB.dbo.Employees VALUES " + strings.Join(emps, ", ")} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("fill: %w", err)
			}
		}
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO ReportingDB.dbo.DailyTotals VALUES (1, 100), (2, 200), (3, 300)")
	return err
}

// workload keeps inserting orders and updating salaries on SQLPROD01, so
// log backups have something to carry and point-in-time restores differ.
func workload(ctx context.Context, in *sqlsim.Instance, group *sqlsim.Group, log *slog.Logger) {
	conn, err := sa(in)
	if err != nil {
		return
	}
	defer conn.Close()
	next := 100000 + int(time.Now().Unix()%100000)*10
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next++
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO SalesDB.dbo.Orders VALUES (%d, N'customer %d', %d, SYSUTCDATETIME())",
			next, next%97, 10+rand.IntN(500))); err != nil && ctx.Err() == nil {
			log.Debug("demo workload", "err", err)
		}
		conn.ExecContext(ctx, fmt.Sprintf("UPDATE HRDB.dbo.Employees SET salary = salary + 1, updated_at = SYSUTCDATETIME() WHERE id = %d", 1+rand.IntN(3000)))
		if group != nil && next%5 == 0 {
			groupWorkload(ctx, group, next)
		}
	}
}

// runDemoSims runs only the demo's instances, for a separate serve.
func runDemoSims(ctx context.Context, o serveOptions, caFile, ip string, port int, stdout io.Writer) error {
	if caFile == "" {
		return fmt.Errorf("--sqlsim-only needs --trust-ca: the device CA of your serve (GET /api/v1/device/ca.crt)")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	log := newLogger(o.logFormat)
	sims, err := startDemoSims(ctx, o.data, pool, ip, port, o.deviceName, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range sims {
			s.Close()
		}
	}()
	conn, err := sa(sims[0])
	if err == nil {
		var n int
		if conn.QueryRowContext(ctx, "SELECT count(*) FROM sys.databases WHERE name = 'SalesDB'").Scan(&n); n == 0 {
			err = fillDemo(ctx, sims)
		}
		conn.Close()
	}
	if err != nil {
		return err
	}
	go workload(ctx, sims[0], nil, log)
	fmt.Fprintf(stdout, "Simulated instances (device %s -> %s:%d):\n  SQLPROD01 %s  login %s / %s (sysadmin)\n  SQLPROD02 %s  login %s / %s (not sysadmin)\nRegister them in your portal. Ctrl-C stops.\n",
		o.deviceName, ip, port, sims[0].Addr(), demoSvcLogin, demoSvcPass, sims[1].Addr(), demoSvcLogin, demoSvcPass)
	<-ctx.Done()
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
