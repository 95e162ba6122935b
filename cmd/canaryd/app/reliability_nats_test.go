package app

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// restartableNATS is a NATS server with JetStream on a fixed port and
// store directory, so that it can be shut down and started again as the
// same server.
type restartableNATS struct {
	t    *testing.T
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

func startRestartableNATS(t *testing.T) *restartableNATS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &restartableNATS{t: t, opts: server.Options{
		ServerName: "restartable", Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *restartableNATS) start() {
	n.t.Helper()
	opts := n.opts // NewServer keeps and changes its options
	s, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats not ready")
	}
	n.mu.Lock()
	n.srv = s
	n.mu.Unlock()
}

func (n *restartableNATS) stop() {
	n.mu.Lock()
	s := n.srv
	n.srv = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (n *restartableNATS) current() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// TestReliabilityNATSRestart restarts the NATS server (same port, same
// JetStream store) in the middle of running analyses, with judgements
// falling due and deploy events published while it is down. The daemon
// reconnects and loses nothing: every deploy event is analysed, every
// analysis finishes, and each of its verdicts is on the stream exactly
// once, numbered 1 to seq without a gap.
func TestReliabilityNATSRestart(t *testing.T) {
	n := startRestartableNATS(t)
	clock := newFakeClock()
	a := startApp(t, n.current(), clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, n.current())
	ctx := t.Context()
	kv, err := c.js.KeyValue(ctx, "canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("before-%d", i)
		ids = append(ids, id)
		c.publishEvent(event(id, "v2"))
	}
	for _, id := range ids {
		c.waitRecord(id, nil)
	}
	clock.Advance(time.Minute)
	// Every first verdict is on the stream (the record says so only at
	// its next write).
	waitFor(t, "the first verdicts", func() bool {
		return streamCount(t, c, message.VerdictPrefix+">") == uint64(len(ids))
	})

	n.stop()
	// While NATS is down a judgement falls due for every analysis; keep
	// it down until persisting each of them has failed.
	clock.Advance(time.Minute)
	waitFor(t, "the judgements to fail to persist", func() bool {
		return value(t, a.rmetrics.NatsErrors) >= float64(len(ids))
	})
	n.start()
	// Deploy events stored while the daemon is still reconnecting (a
	// producer of its own, connected to the new server at once).
	p := connect(t, n.current())
	for i := range 3 {
		id := fmt.Sprintf("during-%d", i)
		ids = append(ids, id)
		p.publishEvent(event(id, "v2"))
	}

	// Drive the clock until every analysis is over and its verdicts are
	// all published; the daemon retries on the clock, so it must move.
	settled := func() bool {
		for _, id := range ids {
			e, err := kv.Get(ctx, record.KeyPrefix+id)
			if err != nil {
				return false
			}
			var r record.Record
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				t.Fatal(err)
			}
			if !r.Settled() {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !settled() {
		if time.Now().After(deadline) {
			t.Fatal("analyses not finished 60s after NATS came back")
		}
		clock.Advance(5 * time.Second)
		<-tick.C
	}
	if !a.Ready() {
		t.Error("daemon not ready after NATS came back")
	}

	// Every verdict exactly once: the stream holds as many verdicts as
	// the analyses issued, and they are seq 1..n of each analysis.
	want := 0
	seqs := map[string]int{}
	for _, id := range ids {
		r := c.waitRecord(id, nil)
		if r.State() != "succeeded" || r.Seq != 3 {
			t.Errorf("%s: %s after %d verdicts, want succeeded after 3", id, r.State(), r.Seq)
		}
		seqs[id] = r.Seq
		want += r.Seq
	}
	if got := streamCount(t, c, message.VerdictPrefix+">"); got != uint64(want) {
		t.Errorf("the stream holds %d verdicts, want %d (one per judgement)", got, want)
	}
	verdicts := published(c)
	seen := map[string]bool{}
	for range want {
		v := next(t, verdicts)
		k := fmt.Sprintf("%s-%d", v.AnalysisID, v.Seq)
		if seen[k] {
			t.Errorf("verdict %s published twice", k)
		}
		seen[k] = true
		if v.Seq < 1 || v.Seq > seqs[v.AnalysisID] || v.Verdict != analysis.Promote {
			t.Errorf("verdict %s: %s, want a promote with seq in 1..%d", k, v.Verdict, seqs[v.AnalysisID])
		}
	}
	cons, err := c.js.Consumer(ctx, "CANARY", bus.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("deploy consumer: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
	}
	if got := value(t, a.rmetrics.Events.WithLabelValues("started")); got != float64(len(ids)) {
		t.Errorf("analyses started: %v, want %d", got, len(ids))
	}
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
