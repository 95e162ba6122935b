package app

import (
	"fmt"
	"hash/fnv"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics/embedded"
)

// staleConfig judges latency_seconds every minute over three steps from
// the Prometheus at %s; samples more than 10 s old only repeat, and a
// canary stale for 3 minutes while its baseline is fresh ends the
// rollout with lifetime_outcome.
const staleConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: web
    interval: 1m
    steps: [10, 50, 100]
    min_samples: 10
    max_sample_age: 10s
    max_canary_stale: 3m
    lifetime_outcome: rollback
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// TestStaleCanaryNeverDecides runs the daemon with the real Prometheus
// provider against Prometheus's TSDB and PromQL engine (package
// metrics/embedded), in which the canary's target stops being scraped a
// minute into the analysis: its last sample is a healthy one, which
// PromQL repeats at every step for its 5-minute lookback. Those repeats
// would promote the canary to 100%; instead every judgement from then on
// holds at the current weight with the reason, and once the canary has
// been stale for max_canary_stale the rollout ends as its lifetime would
// (rollback), saying why.
func TestStaleCanaryNeverDecides(t *testing.T) {
	clock := newFakeClock()
	from := clock.Now()
	src, err := embedded.New(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	for _, version := range []string{"v1", "v2"} {
		lbls := map[string]string{"__name__": "latency_seconds", "service": "web", "version": version}
		last := from.Add(15 * time.Minute)
		if version == "v2" {
			last = from.Add(time.Minute) // the canary's target gone
		}
		for ts := from.Add(-5 * time.Minute); !ts.After(last); ts = ts.Add(2 * time.Second) {
			h := fnv.New64a()
			fmt.Fprint(h, version, ts.UnixMilli())
			u := float64(h.Sum64()%1_000_000)/1_000_000*2 - 1
			if err := src.Append(ts, lbls, 100*(1+0.05*u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	prom := httptest.NewServer(src.Handler())
	t.Cleanup(prom.Close)

	s := startNATS(t)
	startApp(t, s, clock, writeConfig(t, t.TempDir(), fmt.Sprintf(staleConfig, prom.URL)), func(o *Options, _ *hooks) {
		o.Provider = nil // the real Prometheus provider of the config
	})
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("s1", "v2"))
	c.waitRecord("s1", nil)

	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Verdict != analysis.Promote || v.NextWeight != 50 {
		t.Fatalf("first judgement, on fresh data: %s to %v (%s)", v.Verdict, v.NextWeight, v.Reason)
	}
	for seq := 2; seq <= 3; seq++ {
		clock.Advance(time.Minute)
		v := next(t, verdicts)
		if v.Seq != seq || v.Verdict != analysis.Hold || v.Weight != 50 || v.NextWeight != 50 || v.Final {
			t.Fatalf("judgement %d on repeats of the canary's last sample: %s %v -> %v final %v (%s), want a hold at 50",
				seq, v.Verdict, v.Weight, v.NextWeight, v.Final, v.Reason)
		}
		m := v.Metrics[0]
		if m.Classification != analysis.Stale || !strings.Contains(m.Reason, "stale: the last canary sample is") ||
			!strings.Contains(v.Reason, "canary stale for") {
			t.Fatalf("judgement %d: %s: %s; verdict reason %q", seq, m.Classification, m.Reason, v.Reason)
		}
		if f := m.CanaryFreshness; f.Points == 0 || f.Fresh >= f.Points || f.LastSampleAge < 60 || m.BaselineFreshness.Fresh != m.BaselineFreshness.Points {
			t.Fatalf("judgement %d: the verdict's freshness evidence: baseline %+v, canary %+v", seq, m.BaselineFreshness, f)
		}
	}
	clock.Advance(time.Minute)
	v := next(t, verdicts)
	if v.Seq != 4 || v.Verdict != analysis.Rollback || v.NextWeight != 0 || !v.Final ||
		v.Reason != "rollback: the canary's series have been stale for 3m while the baseline's are fresh (max_canary_stale 3m), so the rollout ends with its lifetime_outcome, rollback; waiting on latency (stale)" {
		t.Fatalf("judgement 4, the canary stale for max_canary_stale: %s %v -> %v final %v (%s), want the lifetime's rollback",
			v.Verdict, v.Weight, v.NextWeight, v.Final, v.Reason)
	}
}
