package sqlsim

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// ServeListener plays the group's listener at addr (e.g. "127.0.0.1:0"):
// each TCP connection is forwarded to the replica that is primary when it
// connects, and cut when the primary changes, as Microsoft documents:
// "existing connections to the listener are disconnected and new
// connections are routed to the new primary replica"
// (/sql/database-engine/availability-groups/windows/listeners-client-connectivity-application-failover).
// sys.availability_group_listeners.port becomes the port bound; its
// dns_name stays the name NewGroup was given. Close the listener to stop.
func (g *Group) ServeListener(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.listener == "" {
		g.listener = g.name + "-listener"
	}
	g.port = l.Addr().(*net.TCPAddr).Port
	g.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
	return l, nil
}

// forward pipes one client connection to the current primary.
func (g *Group) forward(client net.Conn) {
	p := g.Primary()
	if p == nil {
		client.Close() // no primary: the listener is offline
		return
	}
	server, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port())))
	if err != nil {
		client.Close()
		return
	}
	var once sync.Once
	cut := func() { once.Do(func() { client.Close(); server.Close() }) }
	go func() { io.Copy(client, server); cut() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		// Checked before each request goes on: a failover since the last
		// one disconnects the client instead.
		if n > 0 && g.Primary() != p {
			break
		}
		if n > 0 {
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	cut()
}

// ListenerAddr is dns_name:port of the group's listener, "" without one.
func (g *Group) ListenerAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.listener == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", g.listener, g.port)
}
