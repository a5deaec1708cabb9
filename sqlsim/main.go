package sqlsim

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
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
	trust := fs.String("trust-ca", "", "PEM file of CAs trusted for BACKUP/RESTORE URLs (windows: the host's trusted root store; linux: copied into DATA/security/ca-certificates)")
	hostOS := fs.String("host-os", HostWindows, "operating system SQL Server plays: windows or linux")
	version := fs.String("product-version", DefaultProductVersion, "SQL Server version played, e.g. 12.0.6024.0, 13.0.6300.2, 15.0.4355.3, 16.0.4145.4")
	zone := fs.String("time-zone", "UTC", "IANA time zone of the simulated host (GETDATE, msdb times and STOPAT are its local time)")
	hosts := fs.String("hosts", "", "NAME=IP[,NAME=IP]: names resolved as the hosts file would")
	instance := fs.String("instance-name", "MSSQLSERVER", "instance name")
	machine := fs.String("machine-name", "SQLSIM", "machine name")
	port := fs.Int("allow-device-port", 0, "also allow this port in backup URLs (SQL Server allows 443 only)")
	var logins loginFlags
	fs.Var(&logins, "login", "extra login NAME:PASSWORD[:sysadmin], repeatable")
	tlsOn := fs.Bool("tls", true, "offer TLS on the TDS port (self-signed certificate)")
	var synth syntheticFlags
	fs.Var(&synth, "synthetic", "NAME=SIZE: create a database of SIZE (e.g. 2GiB, 500MiB, bytes) of generated pages at start, repeatable")
	cutAt := fs.Int("fault-cut-at-percent", 0, "fault: drop the client connection when a backup reaches this percent")
	delay := fs.Duration("fault-device-delay", 0, "fault: pause this long before each block written to or read from a URL")
	var corrupt stringList
	fs.Var(&corrupt, "fault-corrupt-page", "fault: database DB has a damaged data page (DBCC CHECKDB 8928/8939, RESTORE WITH CHECKSUM 3183); repeatable")
	agf := agFlags(fs) // ag_flags.go
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sa == "" {
		return errors.New("--sa-password is required")
	}
	cfg := Config{Addr: *addr, DataDir: *data, SAPassword: *sa, InstanceName: *instance, MachineName: *machine,
		AllowedDevicePort: *port, Logins: logins, Hosts: map[string]string{}, TLS: *tlsOn,
		SyntheticDatabases: synth, Fault: Fault{CutAtPercent: *cutAt, DeviceDelay: *delay, CorruptPages: corrupt},
		ProductVersion: *version, TimeZone: *zone}
	var err error
	if cfg.HostOS, err = ParseHostOS(*hostOS); err != nil {
		return err
	}
	if *trust != "" {
		pem, err := os.ReadFile(*trust)
		if err != nil {
			return err
		}
		cfg.TrustCA = x509.NewCertPool()
		if !cfg.TrustCA.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *trust)
		}
		if cfg.HostOS == HostLinux {
			cfg.TrustCA, cfg.TrustCAPEM = nil, pem // SQLPAL reads its store, not the OS's
		}
	}
	for _, h := range strings.Split(*hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		name, ip, ok := strings.Cut(h, "=")
		if !ok || net.ParseIP(ip) == nil {
			return fmt.Errorf("--hosts: %q is not NAME=IP", h)
		}
		cfg.Hosts[strings.ToLower(name)] = ip
	}
	in, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	g, err := agf.join(in, stdout)
	if err != nil {
		in.Close()
		return err
	}
	fmt.Fprintf(stdout, "sqlsim %s listening on %s (data %s)\n", in.ServerName(), in.Addr(), *data)
	<-ctx.Done()
	if g != nil {
		g.Close()
	}
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

type syntheticFlags []SyntheticDatabase

func (f *syntheticFlags) String() string { return fmt.Sprint(len(*f)) }

func (f *syntheticFlags) Set(v string) error {
	name, size, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want NAME=SIZE")
	}
	n, err := ParseSize(size)
	if err != nil {
		return err
	}
	*f = append(*f, SyntheticDatabase{Name: name, Size: n})
	return nil
}

// ParseSize reads a size such as 2GiB, 500MiB, 64KiB (or GB, MB, KB, all
// powers of 1024, as SQL Server counts) or a plain number of bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	up := strings.ToUpper(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(up, u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit (KiB, MiB, GiB, TiB)", s)
	}
	return int64(n * float64(mult)), nil
}
