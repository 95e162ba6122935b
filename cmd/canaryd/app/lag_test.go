package app

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
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
	a := startEmbedded(t, writeConfig(t, t.TempDir(), fmt.Sprintf(lagConfig, promURL)))
	c := connectURL(t, a.natsClientURL())
	verdicts := published(c)
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

// delayedCollector exposes demo_latency_seconds for each service and
// version with an explicit timestamp delay before the scrape, as a target
// behind a federation, a push gateway or a remote-write hop does:
// Prometheus keeps the timestamps (honor_timestamps), so a sample taken at
// t becomes queryable only at t + delay.
type delayedCollector struct {
	desc   *prometheus.Desc
	delay  time.Duration
	levels map[[2]string]float64
}

func (c *delayedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *delayedCollector) Collect(ch chan<- prometheus.Metric) {
	at := time.Now().Add(-c.delay)
	for k, level := range c.levels {
		ch <- prometheus.NewMetricWithTimestamp(at, prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, level, k[0], k[1]))
	}
}

// measuredLagConfig judges the same series every 15s twice: with a
// max_lag, and without.
const measuredLagConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: measured
    interval: 15s
    max_lag: 25s
    steps: [50, 100]
    min_samples: 5
    metrics: &metrics
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
  - name: unmeasured
    interval: 15s
    steps: [50, 100]
    min_samples: 5
    metrics: *metrics
`

// TestMeasuredLag runs the daemon against a real Prometheus scraping,
// every 2s, a target whose samples are 6s old when scraped: every
// window's last 6s arrive after the window ends. The template with a
// max_lag waits for them: each judgement after the first sees the newest
// sample of both roles less than a scrape interval old at its window's end,
// and is made 4s to max_lag after the window ended, the wait observed in
// canaryd_judgement_data_wait_seconds. The template without judges when
// due, on windows whose newest sample is at least 4s old: the partial data
// max_lag is for.
func TestMeasuredLag(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&delayedCollector{
		desc:   prometheus.NewDesc("demo_latency_seconds", "Request latency.", []string{"service", "version"}, nil),
		delay:  6 * time.Second,
		levels: map[[2]string]float64{{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100},
	})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	prom := promtest.StartScraping(t, []string{strings.TrimPrefix(srv.URL, "http://")}, 2*time.Second, promtest.Options{})
	a := startEmbedded(t, writeConfig(t, t.TempDir(), fmt.Sprintf(measuredLagConfig, prom.URL)))
	c := connectURL(t, a.natsClientURL())
	verdicts := published(c)
	for _, tmpl := range []string{"measured", "unmeasured"} {
		c.publishEvent(message.Event{ID: tmpl, Service: "checkout", Namespace: "shop", Template: tmpl,
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
	}
	if r := c.waitRecord("measured", nil); r.MaxLag != 25*time.Second {
		t.Fatalf("the analysis' max_lag is %s, want the template's 25s", r.MaxLag)
	}
	for ended := 0; ended < 2; {
		if v := next(t, verdicts); v.Final {
			ended++
		}
	}
	base := "http://" + a.Addr() + "/api/v1/analyses/"
	judged := 0
	for _, id := range []string{"measured", "unmeasured"} {
		for _, rec := range auditOf(t, base, id, 100).Records {
			v, w := rec.Verdict, rec.Window
			if v == nil || w == nil {
				continue
			}
			waited := v.IssuedAt.Sub(w.End)
			t.Logf("%s #%d %s, issued %s after its window: %s", id, v.Seq, v.Verdict, waited.Round(time.Millisecond), v.Reason)
			if v.Seq == 1 {
				continue // its window may begin before Prometheus's first scrape
			}
			for _, m := range v.Metrics {
				for role, f := range map[string]analysis.Freshness{"baseline": m.BaselineFreshness, "canary": m.CanaryFreshness} {
					age := time.Duration(float64(f.LastSampleAge) * float64(time.Second))
					switch {
					case !f.Known():
						t.Errorf("%s #%d: %s %s: freshness unknown", id, v.Seq, role, m.Name)
					case id == "measured" && age >= 3*time.Second:
						t.Errorf("%s #%d: %s %s judged with its newest sample %s old at the window's end: the last scrapes were not waited for", id, v.Seq, role, m.Name, age)
					case id == "unmeasured" && age < 4*time.Second:
						t.Errorf("%s #%d: %s %s: newest sample %s old at the window's end, want at least 4s without max_lag", id, v.Seq, role, m.Name, age)
					}
				}
			}
			if id == "measured" {
				judged++
				if waited < 4*time.Second || waited > 25*time.Second+5*time.Second {
					t.Errorf("measured #%d issued %s after its window ended, want between 4s (the data's arrival) and max_lag", v.Seq, waited)
				}
			}
		}
	}
	if judged == 0 {
		t.Fatal("no judgement of the measured analysis in its audit trail")
	}
	h := scrape(t, "http://"+a.Addr()).matching("canaryd_judgement_data_wait_seconds")
	if len(h) != 1 || h[0].GetHistogram().GetSampleCount() < uint64(judged) || h[0].GetHistogram().GetSampleSum() < 4*float64(judged) {
		t.Errorf("canaryd_judgement_data_wait_seconds: %v, want at least %d waits of 4s or more", h, judged)
	}
	if late := scrape(t, "http://"+a.Addr()).matching("canaryd_judgement_data_late_total"); len(late) != 1 || late[0].GetCounter().GetValue() != 0 {
		t.Errorf("canaryd_judgement_data_late_total: %v, want 0: every window's data arrived within max_lag", late)
	}
}
