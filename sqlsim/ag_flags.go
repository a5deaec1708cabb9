package sqlsim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// agFlagSet is `sqlvault sqlsim --ag ...`: the instance as a replica of a
// group whose other replicas run in other processes (ag_peer.go).
type agFlagSet struct {
	name, role, listen, secret, pref, listener, mode *string
	priority                                         *int
	timeout                                          *time.Duration
	peers                                            stringList
}

func agFlags(fs *flag.FlagSet) *agFlagSet {
	f := &agFlagSet{
		name:     fs.String("ag", "", "availability group NAME this instance is a replica of, with replicas in other processes"),
		role:     fs.String("ag-role", "secondary", "role when the group is new: primary or secondary (a restart keeps the saved role)"),
		listen:   fs.String("ag-listen", "127.0.0.1:5022", "HOST:PORT of this replica's peer endpoint (port 0 picks one)"),
		secret:   fs.String("ag-secret", os.Getenv("SQLSIM_AG_SECRET"), "secret every replica of the group shares (env SQLSIM_AG_SECRET)"),
		pref:     fs.String("ag-preference", "secondary", "automated backup preference: primary, secondary_only, secondary or none"),
		listener: fs.String("ag-listener", "", "HOST:PORT of the group listener shown in sys.availability_group_listeners"),
		priority: fs.Int("ag-priority", 50, "this replica's BACKUP_PRIORITY (0..100) when the group is new"),
		mode:     fs.String("ag-availability-mode", "synchronous_commit", "synchronous_commit (the primary waits for this replica at each commit) or asynchronous_commit"),
		timeout:  fs.Duration("ag-health-timeout", 10*time.Second, "a primary silent this long has failed: the first connected secondary by priority takes over"),
	}
	fs.Var(&f.peers, "ag-peer", "HOST:PORT of another replica's --ag-listen, repeatable")
	return f
}

// join makes in a replica when --ag is given; nil otherwise.
func (f *agFlagSet) join(in *Instance, stdout io.Writer) (*Group, error) {
	if *f.name == "" {
		return nil, nil
	}
	role := strings.ToLower(*f.role)
	if role != "primary" && role != "secondary" {
		return nil, fmt.Errorf("--ag-role %q: want primary or secondary", *f.role)
	}
	if *f.secret == "" {
		return nil, errors.New("--ag needs --ag-secret (or SQLSIM_AG_SECRET): peers prove they belong to the group with it")
	}
	mode := strings.ToLower(*f.mode)
	if mode != "synchronous_commit" && mode != "asynchronous_commit" {
		return nil, fmt.Errorf("--ag-availability-mode %q: want synchronous_commit or asynchronous_commit", *f.mode)
	}
	if *f.priority < 0 || *f.priority > 100 {
		return nil, fmt.Errorf("--ag-priority %d: want 0..100", *f.priority)
	}
	g, err := JoinGroup(in, *f.name, PeerConfig{Listen: *f.listen, Peers: f.peers, Secret: *f.secret, Primary: role == "primary",
		Priority: *f.priority, Preference: *f.pref, Listener: *f.listener, HealthTimeout: *f.timeout,
		Async: mode == "asynchronous_commit"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "sqlsim %s availability group %s peer endpoint %s\n", in.ServerName(), *f.name, g.PeerAddr())
	return g, nil
}
