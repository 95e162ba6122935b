package app

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/bus/bustest"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestCluster runs two replicas on a real 3-server JetStream cluster
// (in-process, joined by routes) with R3 assets, kills the server that
// leads the stream while analyses are in flight, then kills a replica
// between persisting judgements and publishing them: every analysis ends
// with the right outcome, each one's verdicts are on the stream once, in
// sequence, without a gap, and the judgements due at the stream's leader
// loss wait out the election instead of failing their interval.
func TestCluster(t *testing.T) {
	cl := bustest.StartCluster(t, 3)
	clock := newFakeClock()
	cfg := writeConfig(t, t.TempDir(), strings.Replace(testConfig, "global:\n", "global:\n  nats:\n    replicas: 3\n", 1))

	// A freezes at its third judgements, after persisting them and before
	// publishing them, until it dies.
	var (
		frozenMu sync.Mutex
		frozen   = map[string]bool{}
	)
	froze := make(chan string, 8)
	freeze := func(ctx context.Context, _, id string, seq int) bool {
		if seq != 3 {
			return true
		}
		frozenMu.Lock()
		frozen[id] = true
		frozenMu.Unlock()
		froze <- id
		<-ctx.Done()
		return false
	}
	urls := cl.URLs()
	a := startApp(t, cl.Servers[0], clock, cfg, func(o *Options, h *hooks) {
		o.InstanceID, o.NATSURL = "A", urls
		h.judged, h.keepLeases = freeze, true
	})
	b := startApp(t, cl.Servers[0], clock, cfg, func(o *Options, _ *hooks) { o.InstanceID, o.NATSURL = "B", urls })
	c := connectURL(t, urls)
	verdicts := published(c)

	// The streams (verdicts, analyses, audit) are R3, and healthy once
	// every replica caught up.
	cl.WaitFor("R3 streams with every replica current", func() bool {
		var ready struct{ Assets []bus.Health }
		if httpJSON(t, "GET", b.url+"/-/ready", "", &ready) != http.StatusOK || len(ready.Assets) != 3 {
			return false
		}
		for _, h := range ready.Assets {
			if h.Replicas != 3 || h.Current != 3 {
				return false
			}
		}
		return true
	})

	want := map[string]string{} // id -> outcome
	create := func(on *testApp, id, version, outcome string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"service":%q,"namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":%q}}`, id, id, version)
		if code := httpJSON(t, "POST", on.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
			t.Fatalf("POST %s: %d", id, code)
		}
		want[id] = outcome
	}
	create(a, "a1", "v2", "succeeded")
	create(a, "a2", "v2", "succeeded")
	create(a, "a3", "bad2", "rolled_back")
	create(b, "b1", "v2", "succeeded")
	create(b, "b2", "v2", "succeeded")
	create(b, "b3", "bad2", "rolled_back")

	seqs := map[string][]int{}
	collect := func(n int) time.Duration {
		t.Helper()
		began := time.Now()
		for range n {
			v := next(t, verdicts)
			seqs[v.AnalysisID] = append(seqs[v.AnalysisID], v.Seq)
			if v.Verdict == analysis.Rollback && want[v.AnalysisID] != "rolled_back" {
				t.Errorf("%s rolled back: %s", v.AnalysisID, v.Reason)
			}
		}
		return time.Since(began)
	}
	clock.Advance(time.Minute)
	collect(6) // the bad canaries roll back at once

	// The server leading the stream goes away: the next judgements meet
	// the election and wait it out.
	leader := bus.StreamHealth(t.Context(), c.js, "CANARY")[0].Leader
	if leader == "" {
		t.Fatal("the stream has no leader")
	}
	cl.Kill(leader)
	t.Logf("killed %s, the stream's leader", leader)
	clock.Advance(time.Minute)
	if held := collect(4); held > bus.ElectionWait {
		t.Errorf("verdicts held up %s by the leader's loss, more than the %s an election may take", held, bus.ElectionWait)
	} else {
		t.Logf("verdicts of the interval after the leader's loss came %s late", held.Round(time.Millisecond))
	}
	if got := value(t, a.rmetrics.NatsErrors) + value(t, b.rmetrics.NatsErrors); got != 0 {
		t.Errorf("%v NATS errors counted: the election was not waited out", got)
	}

	// A dies with its third judgements persisted and not published; B
	// ends its own, then takes A's over once their leases expire and
	// publishes what A judged.
	clock.Advance(time.Minute)
	for range 2 {
		select {
		case <-froze:
		case <-time.After(waitTimeout):
			t.Fatal("A never reached its third judgements")
		}
	}
	collect(2) // B's own
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	clock.Advance(time.Minute)
	collect(2)

	for id, outcome := range want {
		r := c.waitRecord(id, func(r *record.Record) bool { return r.Settled() })
		if r.State() != outcome {
			t.Errorf("%s ended %s, want %s", id, r.State(), outcome)
		}
		wantSeqs := []int{1, 2, 3}
		if outcome == "rolled_back" {
			wantSeqs = []int{1}
		}
		if !slices.Equal(seqs[id], wantSeqs) {
			t.Errorf("%s: verdicts %v on the stream, want %v", id, seqs[id], wantSeqs)
		}
	}
	if got := streamCount(t, c, message.VerdictPrefix+">"); got != 14 {
		t.Errorf("the stream holds %d verdicts, want 14", got)
	}
	frozenMu.Lock()
	defer frozenMu.Unlock()
	if !frozen["a1"] || !frozen["a2"] {
		t.Errorf("A froze at %v, want a1 and a2", frozen)
	}
}
