package sqlsim

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// CreateSyntheticDatabase makes a database of about size bytes of page-like
// data in FULL recovery, for benchmarks: its pages are generated, not stored.
func (in *Instance) CreateSyntheticDatabase(ctx context.Context, name string, size int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.st.Databases[strings.ToLower(name)]; ok {
		return fmt.Errorf("database %s already exists", name)
	}
	x := &execCtx{s: &session{in: in}}
	d := x.newDatabase(name)
	d.Pages = max(size/pageSize, 128)
	in.st.Databases[strings.ToLower(name)] = d
	return in.save()
}

// Main is `sqlvault sqlsim`: one instance until ctx ends.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sqlsim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:1433", "TDS address")
	data := fs.String("data", "sqlsim-data", "directory for the instance's state")
	sa := fs.String("sa-password", os.Getenv("SQLSIM_SA_PASSWORD"), "password of the sa login (env SQLSIM_SA_PASSWORD)")
	trust := fs.String("trust-ca", "", "PEM file of CAs trusted for BACKUP/RESTORE URLs (the host's trusted root store)")
	hosts := fs.String("hosts", "", "NAME=IP[,NAME=IP]: names resolved as the hosts file would")
	instance := fs.String("instance-name", "MSSQLSERVER", "instance name")
	machine := fs.String("machine-name", "SQLSIM", "machine name")
	port := fs.Int("allow-device-port", 0, "also allow this port in backup URLs (SQL Server allows 443 only)")
	var logins loginFlags
	fs.Var(&logins, "login", "extra login NAME:PASSWORD[:sysadmin], repeatable")
	tlsOn := fs.Bool("tls", true, "offer TLS on the TDS port (self-signed certificate)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sa == "" {
		return errors.New("--sa-password is required")
	}
	cfg := Config{Addr: *addr, DataDir: *data, SAPassword: *sa, InstanceName: *instance, MachineName: *machine,
		AllowedDevicePort: *port, Logins: logins, Hosts: map[string]string{}, TLS: *tlsOn}
	if *trust != "" {
		pem, err := os.ReadFile(*trust)
		if err != nil {
			return err
		}
		cfg.TrustCA = x509.NewCertPool()
		if !cfg.TrustCA.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *trust)
		}
	}
	for _, h := range strings.Split(*hosts, ",") {
		if name, ip, ok := strings.Cut(strings.TrimSpace(h), "="); ok {
			cfg.Hosts[strings.ToLower(name)] = ip
		}
	}
	in, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sqlsim %s listening on %s (data %s)\n", in.ServerName(), in.Addr(), *data)
	<-ctx.Done()
	return in.Close()
}

type loginFlags []Login

func (l *loginFlags) String() string { return fmt.Sprint(len(*l)) }

func (l *loginFlags) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 {
		return errors.New("want NAME:PASSWORD[:sysadmin]")
	}
	*l = append(*l, Login{Name: parts[0], Password: parts[1], Sysadmin: len(parts) > 2 && parts[2] == "sysadmin"})
	return nil
}
