package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// lagConfig judges demo_latency_seconds every 5s with a telemetry lag of
// 7s: longer than the interval.
const lagConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: lagged
    interval: 5s
    lag: 7s
    steps: [50, 100]
    min_samples: 5
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// TestTelemetryLag runs the daemon on the wall clock against a real
// Prometheus with a lag longer than the interval: every window is judged
// no sooner than lag after it ends (its queries end lag before they are
// made), the windows stay the consecutive intervals from the start, and
// the canary is promoted through its steps on complete data, no metric
// ever judged stale.
func TestTelemetryLag(t *testing.T) {
	target := apptest.ServeLatency(t, map[[2]string]float64{{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100})
	promURL := apptest.StartScrapingPrometheus(t, target)
	a, err := New(Options{
		ConfigFile:        writeConfig(t, t.TempDir(), fmt.Sprintf(lagConfig, promURL)),
		ListenAddress:     "127.0.0.1:0",
		StoragePath:       t.TempDir(),
		NATSListenAddress: "127.0.0.1:0",
		Logger:            testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	c := connectURL(t, a.natsClientURL())
	verdicts := stored[record.Verdict](c, message.VerdictPrefix+">")
	c.publishEvent(message.Event{ID: "lag-1", Service: "checkout", Namespace: "shop", Template: "lagged",
		Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
	r := c.waitRecord("lag-1", nil)
	if r.Lag != 7*time.Second {
		t.Fatalf("the analysis' lag is %s, want the template's 7s", r.Lag)
	}
	var last record.Verdict
	for !last.Final {
		last = next(t, verdicts)
		windowEnd := r.Start.Add(time.Duration(last.Seq) * r.Interval)
		t.Logf("#%d %s %v -> %v, window ended %s before: %s", last.Seq, last.Verdict, last.Weight, last.NextWeight,
			last.IssuedAt.Sub(windowEnd), last.Reason)
		if last.IssuedAt.Before(windowEnd.Add(7 * time.Second)) {
			t.Errorf("verdict #%d issued %s, less than the lag after its window ended (%s)", last.Seq, last.IssuedAt, windowEnd)
		}
		// The first window may begin before Prometheus's first scrape of
		// the targets: it holds (no data, or series that start late).
		for _, m := range last.Metrics[:len(last.Metrics)*min(last.Seq-1, 1)] {
			if m.Classification == analysis.Stale {
				t.Errorf("verdict #%d: %s judged stale despite the lag: %s", last.Seq, m.Name, m.Reason)
			}
		}
	}
	if last.Outcome != rollout.Succeeded {
		t.Errorf("ended %s: %s", last.Outcome, last.Reason)
	}
}
