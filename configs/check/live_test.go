package check_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/check"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// exampleSeries is a service as it is often labelled: the tracks are
// "stable" and "canary", while the example config's queries select
// track="{{.Role}}", i.e. "baseline" and "canary". Only CPU and request
// counters exist, all with code 200.
func exampleSeries(start time.Time) string {
	var b strings.Builder
	b.WriteString("# TYPE process_cpu_seconds counter\n")
	for _, track := range []string{"stable", "canary"} {
		for i := range 41 {
			fmt.Fprintf(&b, "process_cpu_seconds_total{service=\"checkout\",namespace=\"shop\",track=%q} %d %d\n", track, 3*i, start.Unix()+int64(15*i))
		}
	}
	b.WriteString("# TYPE http_requests counter\n")
	for _, track := range []string{"stable", "canary"} {
		for i := range 41 {
			fmt.Fprintf(&b, "http_requests_total{service=\"checkout\",namespace=\"shop\",track=%q,code=\"200\"} %d %d\n", track, 100*i, start.Unix()+int64(15*i))
		}
	}
	return b.String()
}

// TestLive runs the example config's queries against a real Prometheus whose
// series do not match them, and checks that each empty result says why.
func TestLive(t *testing.T) {
	start := time.Unix(1704067200, 0)
	srv := promtest.Start(t, exampleSeries(start), promtest.Options{})
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.LoadFile("../example.yml")
	if err != nil {
		t.Fatal(err)
	}
	target := analysis.Target{Service: "checkout", Namespace: "shop", Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}}
	results := check.Live(context.Background(), v1.NewAPI(client), cfg, target, start.Add(10*time.Minute))
	got := map[string]check.Result{}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s %s: %v", r.Metric, r.Role, r.Err)
		}
		got[r.Metric+" "+string(r.Role)] = r
	}
	if len(results) != 12 {
		t.Errorf("%d results, want 2 for each of the 6 metrics", len(results))
	}
	for _, c := range []struct {
		query  string
		series int
		why    []string
	}{
		{"cpu canary", 1, nil},
		{"cpu baseline", 0, []string{
			`process_cpu_seconds_total{namespace="shop",service="checkout",track="baseline"}: no series with track="baseline"; track has: canary, stable`,
		}},
		{"error_ratio canary", 0, []string{
			`http_requests_total{code=~"5..",namespace="shop",service="checkout",track="canary"}: no series with code=~"5.."; code has: 200`,
		}},
		{"memory canary", 0, []string{
			`process_resident_memory_bytes{namespace="shop",service="checkout",track="canary"}: no series named process_resident_memory_bytes in the window`,
		}},
	} {
		r, ok := got[c.query]
		if !ok {
			t.Errorf("%s: no result", c.query)
			continue
		}
		if r.Series != c.series || !slices.Equal(r.Why, c.why) {
			t.Errorf("%s: %d series, why:\n%s\nwant %d series, why:\n%s", c.query, r.Series, strings.Join(r.Why, "\n"), c.series, strings.Join(c.why, "\n"))
		}
	}
}

// TestLiveSLO runs an SLO's queries once, one a window, as the daemon
// would before a promotion, and says why one matches nothing.
func TestLiveSLO(t *testing.T) {
	start := time.Unix(1704067200, 0)
	srv := promtest.Start(t, exampleSeries(start), promtest.Options{})
	client, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(`templates:
  - name: web
    slo:
      window: 1h
      burn_windows: [{long: 10m, short: 1m, threshold: 14.4}]
      error_ratio: 'sum(rate(http_requests_total{service="{{.Service}}",code=~"5.."}[{{.Window}}])) / sum(rate(http_requests_total{service="{{.Service}}"}[{{.Window}}]))'
    metrics: [{name: m, query: 'up{service="{{.Service}}",track="{{.Role}}"}'}]
`)
	if err != nil {
		t.Fatal(err)
	}
	target := analysis.Target{Service: "checkout", Namespace: "shop", Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}}
	var got []string
	for _, r := range check.Live(context.Background(), v1.NewAPI(client), cfg, target, start.Add(10*time.Minute)) {
		if r.Role != metrics.Service {
			continue
		}
		if r.Err != nil {
			t.Errorf("%s: %v", r.Metric, r.Err)
		}
		got = append(got, fmt.Sprintf("%s %d %s", r.Metric, r.Series, strings.Join(r.Why, "; ")))
	}
	want := []string{
		`slo_1h 0 http_requests_total{code=~"5..",service="checkout"}: no series with code=~"5.."; code has: 200`,
		`slo_10m 0 http_requests_total{code=~"5..",service="checkout"}: no series with code=~"5.."; code has: 200`,
		`slo_1m 0 http_requests_total{code=~"5..",service="checkout"}: no series with code=~"5.."; code has: 200`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("SLO results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
