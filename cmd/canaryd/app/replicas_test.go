package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/message"
)

// judgements records who judged what, across instances.
type judgements struct {
	mu   sync.Mutex
	by   map[string]string // "<id>-<seq>" -> owner
	dups []string
}

func (j *judgements) hook(_ context.Context, owner, id string, seq int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := fmt.Sprintf("%s-%d", id, seq)
	if prev, ok := j.by[k]; ok {
		j.dups = append(j.dups, fmt.Sprintf("%s by %s and %s", k, prev, owner))
	}
	j.by[k] = owner
	return true
}

// streamCount returns how many messages the stream holds on subjects
// matching filter.
func streamCount(t *testing.T, c *client, filter string) uint64 {
	t.Helper()
	st, err := c.js.Stream(t.Context(), "CANARY")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func TestReplicasShareWork(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	cfg := writeConfig(t, t.TempDir(), testConfig)
	j := &judgements{by: map[string]string{}}
	tweak := func(id string) func(*Options, *hooks) {
		return func(o *Options, h *hooks) { o.InstanceID = id; h.judged = j.hook }
	}
	a := startApp(t, s, clock, cfg, tweak("A"))
	startApp(t, s, clock, cfg, tweak("B"))
	c := connect(t, s)
	verdicts := published(c)

	const n = 8
	for i := range n {
		c.publishEvent(event(fmt.Sprintf("r%d", i), "v2"))
	}
	for i := range n {
		c.waitRecord(fmt.Sprintf("r%d", i), nil)
	}
	seen := map[string]int{}
	round := func(seq int) {
		t.Helper()
		clock.Advance(time.Minute)
		for range n {
			v := next(t, verdicts)
			if v.Seq != seq || v.Verdict != analysis.Promote {
				t.Fatalf("round %d: verdict %s seq %d %s", seq, v.AnalysisID, v.Seq, v.Verdict)
			}
			seen[v.AnalysisID]++
		}
	}
	round(1)
	j.mu.Lock()
	owners := map[string]int{}
	for _, o := range j.by {
		owners[o]++
	}
	j.mu.Unlock()
	t.Logf("first round judged by: %v", owners)

	// A stops gracefully: B takes its analyses over at its next scan.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	round(2)
	round(3)
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		if r := c.waitRecord(id, func(r *record.Record) bool { return r.Settled() }); r.State() != "succeeded" {
			t.Errorf("%s ended %s", id, r.State())
		}
		if seen[id] != 3 {
			t.Errorf("%s: %d verdicts, want 3", id, seen[id])
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.dups) > 0 {
		t.Errorf("judged twice: %v", j.dups)
	}
	if len(j.by) != 3*n {
		t.Errorf("%d judgements, want %d", len(j.by), 3*n)
	}
	if got := streamCount(t, c, message.VerdictPrefix+">"); got != 3*n {
		t.Errorf("stream holds %d verdicts, want %d", got, 3*n)
	}
}

// TestCrashResume kills an instance between persisting a judgement and
// publishing it, or between publishing it and recording that: another
// instance resumes the analysis once the lease expires, and the stream
// holds every verdict exactly once.
func TestCrashResume(t *testing.T) {
	for _, at := range []string{"before publish", "after publish"} {
		t.Run(at, func(t *testing.T) {
			s := startNATS(t)
			clock := newFakeClock()
			cfg := writeConfig(t, t.TempDir(), testConfig)
			reached := make(chan struct{})
			crash := func(ctx context.Context, _, id string, seq int) bool {
				if id != "c1" || seq != 2 {
					return true
				}
				close(reached)
				<-ctx.Done() // frozen until the process dies
				return false
			}
			a := startApp(t, s, clock, cfg, func(o *Options, h *hooks) {
				o.InstanceID = "A"
				h.keepLeases = true
				if at == "before publish" {
					h.judged = crash
				} else {
					h.published = crash
				}
			})
			j := &judgements{by: map[string]string{}}
			startApp(t, s, clock, cfg, func(o *Options, h *hooks) { o.InstanceID = "B"; h.judged = j.hook })
			c := connect(t, s)
			verdicts := published(c)

			body := `{"id":"c1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
			if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
				t.Fatalf("POST: %d", code)
			}
			clock.Advance(time.Minute)
			if v := next(t, verdicts); v.Seq != 1 {
				t.Fatalf("first verdict seq %d", v.Seq)
			}
			clock.Advance(time.Minute)
			select {
			case <-reached:
			case <-time.After(waitTimeout):
				t.Fatal("A never judged c1 twice")
			}
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			if err := a.Stop(ctx); err != nil { // keeps its leases: a crash
				t.Fatal(err)
			}
			r := c.waitRecord("c1", nil)
			if r.Seq != 2 || r.Published != 1 || r.Lease.Owner != "A" {
				t.Fatalf("after the crash: seq %d, published %d, owner %s", r.Seq, r.Published, r.Lease.Owner)
			}
			// The lease holds until the third judgement is due plus the
			// grace period; B resumes after that.
			clock.Advance(time.Minute)
			clock.Advance(time.Minute)
			for seq := 2; seq <= 3; seq++ {
				v := next(t, verdicts)
				if v.Seq != seq || v.Verdict != analysis.Promote {
					t.Fatalf("after resuming: verdict seq %d %s, want seq %d promote", v.Seq, v.Verdict, seq)
				}
			}
			r = c.waitRecord("c1", func(r *record.Record) bool { return r.Settled() })
			if r.State() != "succeeded" || r.Lease.Owner != "B" {
				t.Errorf("ended %s owned by %s", r.State(), r.Lease.Owner)
			}
			if got := streamCount(t, c, message.VerdictPrefix+">"); got != 3 {
				t.Errorf("stream holds %d verdicts, want 3", got)
			}
			j.mu.Lock()
			defer j.mu.Unlock()
			if _, ok := j.by["c1-2"]; ok {
				t.Error("B judged the second interval again instead of publishing A's judgement")
			}
		})
	}
}
