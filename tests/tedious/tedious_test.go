// Package tedious checks sqlsim against tedious (a TDS client in
// JavaScript, installed by `npm ci` in this folder), a client sqlvault did
// not write: logins at every TDS version tedious speaks, plaintext, TLS
// and TDS 8.0 strict; every data type in a table, as literals and as RPC
// parameters; batches with errors and their line numbers; messages; T-SQL
// and transaction-manager transactions; several result sets; cancel.
package tedious

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim"
)

const saPassword = "Sa-Passw0rd!"

// node finds node and the installed package; without them the test
// skips, unless CI is set (.ci/run installs both).
func node(t *testing.T) string {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") != "" {
		skip = t.Fatalf
	}
	path, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: the tedious matrix needs Node.js")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "tedious", "package.json")); err != nil {
		skip("tedious is not installed: run `npm ci` in tests/tedious")
	}
	return path
}

type param struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Value   any            `json:"value"`
	Options map[string]int `json:"options,omitempty"`
}

// batch is a SQL batch (cancelled after CancelAfterMs when set) or, with
// TM set, a transaction manager request ([MS-TDS] 2.2.6.9).
type batch struct {
	SQL           string  `json:"sql,omitempty"`
	Params        []param `json:"params,omitempty"`
	CancelAfterMs int     `json:"cancelAfterMs,omitempty"`
	TM            string  `json:"tm,omitempty"`
	TMName        string  `json:"tmName,omitempty"`
}

type tcase struct {
	Name       string  `json:"name"`
	TDSVersion string  `json:"tdsVersion"`
	Encrypt    any     `json:"encrypt"`
	Batches    []batch `json:"batches"`
	Tran       string  `json:"tran,omitempty"`
}

type message struct {
	Number     int    `json:"number"`
	State      int    `json:"state"`
	Class      int    `json:"class"`
	Message    string `json:"message"`
	LineNumber int    `json:"lineNumber"`
}

type column struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Precision int    `json:"precision"`
	Scale     int    `json:"scale"`
	Length    int    `json:"length"` // bytes: TYPE_INFO's maximal length
}

// event is one thing tedious reported, in order.
type event struct {
	Info    *message  `json:"info"`
	Error   *message  `json:"error"`
	Columns []column  `json:"columns"`
	Row     []*string `json:"row"`
	Done    *struct {
		Error *string `json:"error"`
	} `json:"done"`
	Tran   *string `json:"tran"`
	Failed *string `json:"failed"`
}

// run executes the cases in one node process against in.
func run(t *testing.T, in *sqlsim.Instance, cases []tcase) map[string][]event {
	t.Helper()
	js, _ := json.Marshal(cases)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node(t), "matrix.mjs")
	ca := filepath.Join(t.TempDir(), "sqlsim-ca.pem")
	if err := os.WriteFile(ca, in.TLSCertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), fmt.Sprintf("TEDIOUS_PORT=%d", in.Port()), "TEDIOUS_PASSWORD="+saPassword,
		"TEDIOUS_CASES="+string(js), "NODE_EXTRA_CA_CERTS="+ca)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node matrix.mjs: %v\n%s%s", err, out, stderr)
	}
	var got map[string][]event
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	for name, evs := range got {
		for _, e := range evs {
			if e.Failed != nil {
				t.Errorf("%s: %s", name, *e.Failed)
			}
		}
	}
	return got
}

func rows(evs []event) [][]string {
	var out [][]string
	for _, e := range evs {
		if e.Row != nil {
			r := make([]string, len(e.Row))
			for i, v := range e.Row {
				r[i] = "NULL"
				if v != nil {
					r[i] = *v
				}
			}
			out = append(out, r)
		}
	}
	return out
}

func messages(evs []event) (infos, errs []message) {
	for _, e := range evs {
		if e.Info != nil && e.Info.Number != 5701 && e.Info.Number != 5703 {
			infos = append(infos, *e.Info)
		}
		if e.Error != nil {
			errs = append(errs, *e.Error)
		}
	}
	return infos, errs
}

func start(t *testing.T) *sqlsim.Instance { return startIn(t, t.TempDir()) }

// startIn starts sqlsim on the data directory dir.
func startIn(t *testing.T, dir string) *sqlsim.Instance {
	t.Helper()
	in, err := sqlsim.Start(context.Background(), sqlsim.Config{DataDir: dir, SAPassword: saPassword, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}
