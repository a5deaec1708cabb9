package mssql

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
)

func TestPermissionScriptInstanceDefault(t *testing.T) {
	s := PermissionScript(ScriptOptions{Login: "svc", InstanceName: "SQL$EXP`\"2"})
	if want := "[string]$InstanceName = \"SQL`$EXP```\"2\","; !strings.Contains(s, want) {
		t.Errorf("script lacks %s:\n%.600s", want, s)
	}
}

// hostileNames are names an attacker who can create logins or register
// servers might choose: every quote PowerShell knows, shell and PowerShell
// expansion, control characters (C0, CR, LF, NUL, DEL, C1), a GO line, and
// non-ASCII whose UTF-8 bytes read in Windows-1252 include a quote.
var hostileNames = []string{
	"plain",
	"bk'up",
	"a\u2018b\u2019c\u201ad\u201be",
	"a\"b\u201cc\u201dd\u201ee",
	"$(Remove-Item C:\\ -Recurse)`$x${y}",
	"x'; Remove-Item C:\\; '",
	"x\u2019; Remove-Item C:\\; \u2019",
	"x\u201d; Remove-Item C:\\; \u201c",
	"l1\nGO\nDROP DATABASE master\n",
	"cr\rnul\x00bell\x07del\x7fc1\u0085\u009b",
	"\u0112\u0113 \u0100\u0102", // C4 92, C4 93: ’ and “ in Windows-1252
	"emoji \U0001F600 end",
	"]] [x] '' ``",
}

// psSingle evaluates a psString expression: '…' literals (a quote
// character doubled stands for itself, alone it ends the literal) joined
// by + with [char]0xNNNN values, optionally in parentheses.
func psSingle(t *testing.T, expr string) string {
	t.Helper()
	quotes := "'\u2018\u2019\u201a\u201b"
	rs := []rune(strings.TrimSuffix(strings.TrimPrefix(expr, "("), ")"))
	var out []uint16
	for i := 0; i < len(rs); {
		switch {
		case rs[i] == ' ' || rs[i] == '+':
			i++
		case strings.ContainsRune(quotes, rs[i]):
			i++
			for {
				if i >= len(rs) {
					t.Fatalf("unterminated literal in %q", expr)
				}
				if strings.ContainsRune(quotes, rs[i]) {
					if i+1 < len(rs) && strings.ContainsRune(quotes, rs[i+1]) {
						out = append(out, utf16.Encode([]rune{rs[i]})...)
						i += 2
						continue
					}
					i++
					break
				}
				out = append(out, utf16.Encode([]rune{rs[i]})...)
				i++
			}
		case strings.HasPrefix(string(rs[i:]), "[char]0x"):
			n, err := strconv.ParseUint(string(rs[i+8:i+12]), 16, 16)
			if err != nil {
				t.Fatalf("bad [char] in %q", expr)
			}
			out = append(out, uint16(n))
			i += 12
		default:
			t.Fatalf("%q: unexpected %q at %d: code outside the literal", expr, rs[i], i)
		}
	}
	return string(utf16.Decode(out))
}

// psDouble evaluates a psDQString literal: a backtick escapes the next
// character, $([char]0xNNNN) is a character, any other $ would expand and
// any unescaped double-quote character ends the literal.
func psDouble(t *testing.T, lit string) string {
	t.Helper()
	rs := []rune(lit)
	quotes := "\"\u201c\u201d\u201e"
	if len(rs) < 2 || !strings.ContainsRune(quotes, rs[0]) {
		t.Fatalf("%q is not a double-quoted literal", lit)
	}
	var out []uint16
	i := 1
	for ; i < len(rs); i++ {
		switch {
		case rs[i] == '`':
			i++
			out = append(out, utf16.Encode([]rune{rs[i]})...)
		case strings.HasPrefix(string(rs[i:]), "$([char]0x"):
			n, err := strconv.ParseUint(string(rs[i+10:i+14]), 16, 16)
			if err != nil || rs[i+14] != ')' {
				t.Fatalf("bad subexpression in %q", lit)
			}
			out = append(out, uint16(n))
			i += 14
		case rs[i] == '$':
			t.Fatalf("%q: unescaped $ at %d would expand", lit, i)
		case strings.ContainsRune(quotes, rs[i]):
			if i != len(rs)-1 {
				t.Fatalf("%q: the literal ends at %d, code follows", lit, i)
			}
			return string(utf16.Decode(out))
		default:
			out = append(out, utf16.Encode([]rune{rs[i]})...)
		}
	}
	t.Fatalf("%q: unterminated", lit)
	return ""
}

// onlySafeRunes: besides printable ASCII only the quote characters (raw,
// escaped) may appear; the bytes of those read in Windows-1252 hold no
// quote of either kind.
func onlySafeRunes(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if (r < 0x20 || r >= 0x7f) && !strings.ContainsRune("\u2018\u2019\u201a\u201b\u201c\u201d\u201e", r) {
			t.Fatalf("%s %q holds %U raw", what, s, r)
		}
	}
}

// TestPowerShellQuoting: psString and psDQString give back exactly the
// name, whatever it holds, and nothing of it runs as code.
func TestPowerShellQuoting(t *testing.T) {
	for _, name := range hostileNames {
		single, double := psString(name), psDQString(name)
		if got := psSingle(t, single); got != name {
			t.Errorf("psString(%q) = %s evaluates to %q", name, single, got)
		}
		if got := psDouble(t, double); got != name {
			t.Errorf("psDQString(%q) = %s evaluates to %q", name, double, got)
		}
		onlySafeRunes(t, "psString", single)
		onlySafeRunes(t, "psDQString", double)
	}
	for _, q := range []string{"'", "\u2018", "\u2019", "\u201a", "\u201b"} {
		if got := psString("a" + q + "b"); got != "'a"+q+q+"b'" {
			t.Errorf("psString with %U = %s, want the quote doubled", []rune(q)[0], got)
		}
	}
	for _, q := range []string{`"`, "\u201c", "\u201d", "\u201e", "`", "$"} {
		if got := psDQString("a" + q + "b"); got != "\"a`"+q+"b\"" {
			t.Errorf("psDQString with %q = %s, want it escaped with a backtick", q, got)
		}
	}
}

// tsqlEval evaluates N'…' literals joined by + NCHAR(n) +.
func tsqlEval(t *testing.T, expr string) string {
	t.Helper()
	var b strings.Builder
	for len(expr) > 0 {
		switch {
		case strings.HasPrefix(expr, " + "):
			expr = expr[3:]
		case strings.HasPrefix(expr, "N'"):
			i := 2
			for {
				if i >= len(expr) {
					t.Fatalf("unterminated literal")
				}
				if expr[i] == '\'' {
					if i+1 < len(expr) && expr[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					break
				}
				b.WriteByte(expr[i])
				i++
			}
			expr = expr[i+1:]
		case strings.HasPrefix(expr, "NCHAR("):
			end := strings.IndexByte(expr, ')')
			n, err := strconv.Atoi(expr[6:end])
			if err != nil {
				t.Fatalf("bad NCHAR in %q", expr)
			}
			b.WriteRune(rune(n))
			expr = expr[end+1:]
		default:
			t.Fatalf("unexpected %q", expr)
		}
	}
	return b.String()
}

// TestGrantSQLHostileLogins: a login with control characters is spelled
// with NCHAR(), never raw, and names exactly that login.
func TestGrantSQLHostileLogins(t *testing.T) {
	re := regexp.MustCompile(`^DECLARE @login sysname = (.*); DECLARE @sql nvarchar\(max\) = N'ALTER SERVER ROLE \[sysadmin\] ADD MEMBER ' \+ QUOTENAME\(@login\) \+ N';'; EXEC \(@sql\);$`)
	for _, name := range hostileNames {
		g := GrantSQL(name)
		if strings.IndexFunc(g, unicode.IsControl) >= 0 {
			t.Fatalf("GrantSQL(%q) holds a control character: %q", name, g)
		}
		if !hasControl(name) {
			if g != "ALTER SERVER ROLE [sysadmin] ADD MEMBER "+QuoteName(name)+";" {
				t.Errorf("GrantSQL(%q) = %s", name, g)
			}
			continue
		}
		m := re.FindStringSubmatch(g)
		if m == nil {
			t.Fatalf("GrantSQL(%q) = %s, want the NCHAR form", name, g)
		}
		if got := tsqlEval(t, m[1]); got != name {
			t.Errorf("GrantSQL(%q) names %q", name, got)
		}
	}
}

// noRawControl: a script holds line breaks (LF) and nothing else of C0 or
// C1, and no line of a name became a line of the script.
func noRawControl(t *testing.T, what, script string) {
	t.Helper()
	for i, r := range script {
		if unicode.IsControl(r) && r != '\n' {
			t.Fatalf("%s holds %U raw at %d", what, r, i)
		}
	}
	for _, line := range strings.Split(script, "\n") {
		if l := strings.TrimSpace(line); l == "GO" || strings.HasPrefix(l, "DROP DATABASE") {
			t.Fatalf("%s has the line %q from a name", what, line)
		}
	}
}

const testPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

// TestScriptsHostileNames: with hostile login, server and device names both
// scripts keep every name inert: no raw control character, no name line
// as a script line, the PowerShell literals evaluating to the names, and
// the shell script valid for sh.
func TestScriptsHostileNames(t *testing.T) {
	litLogin := regexp.MustCompile(`(?m)^    \[string\]\$LoginName = (.*)$`)
	for _, name := range hostileNames {
		o := ScriptOptions{Login: name, ServerName: name, DeviceName: name, InstanceName: "MSSQLSERVER", DeviceCAPEM: []byte(testPEM)}
		ps := PermissionScript(o)
		noRawControl(t, "PowerShell script for "+strconv.Quote(name), ps)
		m := litLogin.FindStringSubmatch(ps)
		if m == nil || psSingle(t, m[1]) != name {
			t.Fatalf("PowerShell script for %q: login parameter %v", name, m)
		}
		sh := LinuxPermissionScript(o)
		noRawControl(t, "shell script for "+strconv.Quote(name), sh)
		shSyntax(t, sh)
	}
}

func shSyntax(t *testing.T, script string) {
	t.Helper()
	for _, shell := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(shell); err != nil {
			continue
		}
		cmd := exec.Command(shell, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s -n: %v\n%s\n%s", shell, err, out, script)
		}
	}
}

// TestLinuxPermissionScript: the device CA goes into SQL Server's own CA
// store (owned by mssql, mode 644) and SQL Server is restarted, which the
// script says; no fixed /tmp path; shellcheck finds nothing in it.
func TestLinuxPermissionScript(t *testing.T) {
	s := LinuxPermissionScript(ScriptOptions{Login: "bk'up]x", DeviceName: "vault.corp", DeviceCAPEM: []byte(testPEM), ServerName: "SQL02"})
	for _, want := range []string{
		`-Q 'ALTER SERVER ROLE [sysadmin] ADD MEMBER [bk'\''up]]x];'`,
		"STORE=/var/opt/mssql/security/ca-certificates\n",
		`install -o mssql -g mssql -m 644 "$tmp" "$CA"`,
		`chown mssql:mssql "$STORE"`,
		"systemctl restart mssql-server",
		"RESTARTS SQL Server",
		"tmp=$(mktemp)",
		testPEM + "SQLVAULT_CA",
		"exit 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("linux script lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "/tmp/") || strings.Contains(s, "update-ca-certificates") || strings.Contains(s, "update-ca-trust") {
		t.Errorf("linux script writes a fixed /tmp path or the OS trust store:\n%s", s)
	}
	shSyntax(t, s)
	if _, err := exec.LookPath("shellcheck"); err == nil {
		cmd := exec.Command("shellcheck", "-s", "sh", "-")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Log("shellcheck not installed; syntax checked with sh -n only")
	}
}

// TestLinuxPermissionScriptRuns runs the script with sqlcmd, systemctl,
// chown and install replaced by recorders and the store in a temporary
// directory: the grant reaches sqlcmd as one argument, the CA lands in the
// store, SQL Server restarts once, and a second run changes nothing.
func TestLinuxPermissionScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	bin, store, log := filepath.Join(dir, "bin"), filepath.Join(dir, "store"), filepath.Join(dir, "log")
	os.Mkdir(bin, 0o755)
	stubs := map[string]string{
		"sqlcmd":    `for a in "$@"; do printf '%s\n' "$a" >> "$LOG.sqlcmd"; done`,
		"systemctl": `echo "systemctl $*" >> "$LOG"`,
		"chown":     `echo "chown $*" >> "$LOG"`,
		"install":   `echo "install $1 $2 $3 $4 $5 $6" >> "$LOG"; cp "$7" "$8"`,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	login := "ops'\n$(touch " + filepath.Join(dir, "pwned") + ")"
	script := LinuxPermissionScript(ScriptOptions{Login: login, DeviceName: "vault.corp", DeviceCAPEM: []byte(testPEM), ServerName: "SQL02"})
	script = strings.Replace(script, "STORE=/var/opt/mssql/security/ca-certificates", "STORE="+store, 1)
	run := func() string {
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "LOG="+log, "SA_USER=sa")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("script failed: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run()
	if !strings.Contains(out, "interrupts the instance") {
		t.Errorf("the script does not say it restarts SQL Server:\n%s", out)
	}
	if got, _ := os.ReadFile(filepath.Join(store, "sqlvault-device-ca.crt")); string(got) != testPEM {
		t.Fatalf("store file %q", got)
	}
	logged, _ := os.ReadFile(log)
	for _, want := range []string{"systemctl restart mssql-server", "chown mssql:mssql " + store, "install -o mssql -g mssql -m 644"} {
		if !strings.Contains(string(logged), want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
	args, _ := os.ReadFile(log + ".sqlcmd")
	if !strings.Contains(string(args), "-Q\n"+GrantSQL(login)+"\n") {
		t.Errorf("sqlcmd got %q, want -Q %s", args, GrantSQL(login))
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("the login name ran as a command")
	}
	run()
	again, _ := os.ReadFile(log)
	if n := strings.Count(string(again), "systemctl restart"); n != 1 {
		t.Fatalf("%d restarts after two runs, want 1 (the second run finds the CA in place):\n%s", n, again)
	}
}
