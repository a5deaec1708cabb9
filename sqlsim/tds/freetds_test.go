package tds

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tsqlPath finds FreeTDS's tsql. Without it the test skips, unless CI is
// set: CI installs freetds-bin, so there a missing tsql is a failure.
func tsqlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tsql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tsql (Debian package freetds-bin) is required when CI is set")
		}
		t.Skip("tsql not installed: apt-get install -y freetds-bin to run the independent-client test")
	}
	return p
}

// runTSQL runs a batch through tsql against the server, with a
// freetds.conf that pins TDS 7.4 and the given encryption setting.
func runTSQL(t *testing.T, ts *testServer, encryption, password, batch string) (string, error) {
	t.Helper()
	tsql := tsqlPath(t)
	dir := t.TempDir()
	conf := fmt.Sprintf("[sqlsim]\n\thost = 127.0.0.1\n\tport = %d\n\ttds version = 7.4\n\tencryption = %s\n", ts.port, encryption)
	if ts.caFile != "" {
		conf += "\tca file = " + ts.caFile + "\n"
	}
	confPath := filepath.Join(dir, "freetds.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsql, "-S", "sqlsim", "-U", "sa", "-P", password)
	cmd.Env = append(os.Environ(), "FREETDSCONF="+confPath, "HOME="+dir, "TDSDUMP=")
	cmd.Stdin = strings.NewReader(batch + "\ngo\nexit\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestFreeTDS proves the protocol with a second, independent client
// implementation (FreeTDS, C, GnuTLS), plaintext and encrypted.
func TestFreeTDS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tlsOn      bool
		encryption string
		encrypted  bool
	}{
		{"plaintext", false, "off", false},
		{"request_no_cert", false, "request", false},
		{"request_login_only", true, "request", false}, // FreeTDS sends ENCRYPT_OFF
		{"require", true, "require", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.tlsOn)
			out, err := runTSQL(t, ts, tc.encryption, "Secret#1", "select types\ngo\nselect variants")
			if err != nil {
				t.Fatalf("tsql: %v\n%s", err, out)
			}
			for _, want := range []string{"héllo", "12345678901234567890123", "-1234.567", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "(2 rows affected)",
				"15.0.2000.5\t1\t1099511627776\t1\t2.5"} {
				if !strings.Contains(out, want) {
					t.Errorf("tsql output lacks %q:\n%.2000s", want, out)
				}
			}
			if got := ts.h.lastLogin(); got.Encrypted != tc.encrypted || got.User != "sa" {
				t.Errorf("login %+v, want encrypted=%v", got, tc.encrypted)
			}
		})
	}
}

func TestFreeTDSLoginFailed(t *testing.T) {
	ts := startServer(t, false)
	out, _ := runTSQL(t, ts, "off", "wrong", "select 1")
	if !strings.Contains(out, "Msg 18456 (severity 14, state 1)") || !strings.Contains(out, "Login failed for user 'sa'.") {
		t.Fatalf("tsql output does not report the failed login:\n%s", out)
	}
}
