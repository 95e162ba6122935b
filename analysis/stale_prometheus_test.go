package analysis_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
	"github.com/canaryd/canaryd/metrics/companion"
	"github.com/canaryd/canaryd/metrics/prometheus"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

const staleLiveTemplate = `
templates:
  - name: live
    interval: 10s
    step: 1s
    steps: [10, 50, 100]
    judgements_per_step: 3
    min_samples: 5
    max_sample_age: 3s
    max_canary_stale: 20s
    metrics:
      - {name: latency, query: 'sum(stale_test_latency{track="{{.Role}}"})', allowed_change: 0.2}
`

// exporter serves one role's gauge on /metrics, a new value at every scrape.
func exporter(t *testing.T, role string) *httptest.Server {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(uint64(len(role)), 1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		v := 1 + 0.02*r.Float64()
		mu.Unlock()
		fmt.Fprintf(w, "# TYPE stale_test_latency gauge\nstale_test_latency{track=%q} %g\n", role, v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStaleRealPrometheus runs the judge on what a real Prometheus,
// scraping two real targets every second, answers when an interval is
// judged before its scrapes arrive, when Prometheus is stopped and
// restarted, and when the canary's target stops being scraped: none of
// those judgements promotes or rolls back, the canary gone ends the
// rollout with lifetime_outcome once it has been stale for
// max_canary_stale, and replaying the recording of those judgements
// decides the same.
func TestStaleRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of real scraping")
	}
	tmpl := loadTemplate(t, staleLiveTemplate)
	baseline, canary := exporter(t, "baseline"), exporter(t, "canary")
	srv := promtest.StartScraping(t, []string{strings.TrimPrefix(baseline.URL, "http://"), strings.TrimPrefix(canary.URL, "http://")},
		time.Second, promtest.Options{})
	cfg := configs.DefaultPrometheus()
	cfg.URL = srv.URL
	cfg.MaxRetries = 0
	src, err := prometheus.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	provider := batch.New(src, batch.Options{Window: time.Millisecond})
	ctx := context.Background()
	target := analysis.Target{Service: "s", Namespace: "n", Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}}

	// until polls (not sleeps) until Prometheus has scraped both roles
	// within the last second and the clock has reached at.
	until := func(at time.Time) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			now := time.Now()
			if now.After(deadline) {
				t.Fatalf("prometheus has no fresh data at %s", at)
			}
			if !now.Before(at) {
				in, err := analysis.Fetch(ctx, src, companion.Of, tmpl, target, 0, now.Add(-3*time.Second), now, nil)
				if err == nil && in[0].Err == nil && in[0].Baseline.LastSample > now.Add(-2*time.Second).UnixMilli() {
					return
				}
			}
			time.Sleep(100 * time.Millisecond) // polling Prometheus, not synchronising
		}
	}
	judge := analysis.NewJudge(tmpl)
	st := judge.NewState()
	rec := &metrics.Recording{}
	var live []analysis.Judgement
	look := func(name string, end time.Time) analysis.Judgement {
		t.Helper()
		end = end.Truncate(time.Second)
		k := len(live)
		in, err := analysis.Fetch(ctx, provider, companion.Of, tmpl, target, k, end.Add(-10*time.Second), end, rec)
		if err != nil || in[0].Err != nil {
			t.Fatalf("%s: fetch: %v %v", name, err, in[0].Err)
		}
		var out analysis.Judgement
		if err := judge.Judge(st, in, &out); err != nil {
			t.Fatal(err)
		}
		judge.Explain(&out)
		m := out.Metrics[0]
		t.Logf("%s: %s; %d baseline, %d canary points, %d pairs, %d dropped; %s", name, out.Verdict, m.NBaseline, m.NCanary, m.NPairs, m.Dropped, m.Reason)
		live = append(live, out)
		return out
	}
	stale := func(name string, out analysis.Judgement, reason string) {
		t.Helper()
		if m := out.Metrics[0]; out.Verdict != analysis.Hold || m.Classification != analysis.Stale || !strings.Contains(m.Reason, reason) {
			t.Errorf("%s: %s, %s: %s; want a stale hold saying %q", name, out.Verdict, m.Classification, m.Reason, reason)
		}
	}

	// Healthy: judged on fresh points.
	t0 := time.Now()
	until(t0.Add(16 * time.Second))
	if out := look("healthy", time.Now().Add(-time.Second)); out.Metrics[0].Classification == analysis.Stale || out.Metrics[0].NPairs < 8 {
		t.Fatalf("healthy: %s with %d pairs: %s", out.Metrics[0].Classification, out.Metrics[0].NPairs, out.Metrics[0].Reason)
	}

	// Judged 6 s before the interval's end: its last steps only repeat
	// the newest samples.
	out := look("before its scrapes", time.Now().Add(6*time.Second))
	stale("before its scrapes", out, "sample is")
	if out.CanaryStale != 0 {
		t.Errorf("before its scrapes: both roles are late, yet the canary counts as gone (%s)", out.CanaryStale)
	}

	// Prometheus down for 9 s, then back.
	srv.Restart(t, 9*time.Second)
	back := time.Now()
	until(back)
	stale("prometheus restarted", look("prometheus restarted", back), "sample")

	// The canary's target gone: two intervals of it.
	until(time.Now().Add(12 * time.Second))
	if out := look("healthy again", time.Now().Add(-time.Second)); out.Metrics[0].Classification == analysis.Stale {
		t.Fatalf("healthy again: %s", out.Metrics[0].Reason)
	}
	canary.Close()
	down := time.Now()
	until(down.Add(11 * time.Second))
	out = look("canary gone", down.Add(10*time.Second))
	stale("canary gone", out, "canary")
	if out.CanaryStale != 10*time.Second || out.Expire {
		t.Fatalf("canary gone: stale for %s, expire %v", out.CanaryStale, out.Expire)
	}
	until(down.Add(21 * time.Second))
	out = look("canary still gone", down.Add(20*time.Second))
	stale("canary still gone", out, "canary")
	if !out.Expire || !strings.Contains(out.Reason, "stale for 20s") {
		t.Fatalf("canary still gone: expire %v: %s", out.Expire, out.Reason)
	}

	// Replay of the recording decides the same at every interval.
	var b bytes.Buffer
	if _, err := rec.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	read, err := metrics.ReadRecording(&b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := analysis.Replay(ctx, tmpl, read)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Intervals) != len(live) {
		t.Fatalf("replay judged %d intervals, live %d", len(res.Intervals), len(live))
	}
	for i, r := range res.Intervals {
		l := live[i]
		if r.Verdict != l.Verdict || r.Metrics[0].Classification != l.Metrics[0].Classification || r.Expire != l.Expire || r.Reason != l.Reason {
			t.Errorf("interval %d: replay %s %s (%s), live %s %s (%s)", i, r.Verdict, r.Metrics[0].Classification, r.Reason,
				l.Verdict, l.Metrics[0].Classification, l.Reason)
		}
	}
	if res.Final.Verdict != analysis.Verdict(tmpl.LifetimeOutcome) || res.Final.Interval != len(live)-1 {
		t.Errorf("replay final %+v; want the lifetime's %s at interval %d", res.Final, tmpl.LifetimeOutcome, len(live)-1)
	}
}
