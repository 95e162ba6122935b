// Package bustest runs real NATS servers for tests: a JetStream cluster of
// several servers in one process, joined by routes on loopback, each
// storing under its own temporary directory.
package bustest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long the cluster may take to reach a state (to
// form, to notice a lost server): a guard against hangs, not a
// synchronisation device. The race detector on two loaded cores makes
// elections slow, hence the margin.
const readyTimeout = 90 * time.Second

// Cluster is a JetStream cluster of in-process servers.
type Cluster struct {
	t       testing.TB
	Servers []*server.Server
}

// StartCluster starts n servers (n ≥ 3 for a quorum after a loss) named
// n1…nN, joined by routes, and waits until JetStream has a meta leader
// that every server follows. They shut down when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	// A name of its own: were another test's server to take one of these
	// route ports between their pick and their use, the clusters could not
	// join.
	name := fmt.Sprintf("canaryd-test-%d", rand.Uint64())
	// Every server routes to every other, so each needs the others'
	// route ports before it starts: take free ones from the kernel.
	ports := make([]int, n)
	routes := make([]*url.URL, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])}
	}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(),
			NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		if !s.ReadyForConnections(readyTimeout) {
			t.Fatalf("server %s not ready", s.Name())
		}
	}
	c.WaitFor("a JetStream meta leader followed by every server", func() bool {
		leader := false
		for _, s := range c.Servers {
			if !s.JetStreamIsCurrent() {
				return false
			}
			// Only the leader knows its peers.
			if s.JetStreamIsLeader() {
				leader = len(s.JetStreamClusterPeers()) == n
			}
		}
		return leader
	})
	return c
}

// URLs returns the running servers' client URLs, separated by commas.
func (c *Cluster) URLs() string {
	var us []string
	for _, s := range c.Servers {
		if s.Running() {
			us = append(us, s.ClientURL())
		}
	}
	return strings.Join(us, ",")
}

// Server returns the server named name, nil if none.
func (c *Cluster) Server(name string) *server.Server {
	for _, s := range c.Servers {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// Kill shuts the server named name down at once, as a lost machine.
func (c *Cluster) Kill(name string) {
	c.t.Helper()
	s := c.Server(name)
	if s == nil {
		c.t.Fatalf("no server %s", name)
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// WaitFor polls cond until it holds, failing the test after readyTimeout.
// The servers expose their cluster state only through calls, so this
// polls them; what is polled is the condition itself.
func (c *Cluster) WaitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
