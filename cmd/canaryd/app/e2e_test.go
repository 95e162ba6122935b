package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// latencyCollector exposes demo_latency_seconds for each service and
// version, a new value around its level (±5%) at every scrape.
type latencyCollector struct {
	mu     sync.Mutex
	rng    *rand.Rand
	desc   *prometheus.Desc
	levels map[[2]string]float64 // {service, version} -> level
}

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, level := range c.levels {
		v := level * (1 + 0.05*(2*c.rng.Float64()-1))
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k[0], k[1])
	}
}

// serveLatency serves the series of levels on a real /metrics endpoint.
func serveLatency(t *testing.T, levels map[[2]string]float64) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&latencyCollector{
		rng:    rand.New(rand.NewPCG(1, 2)),
		desc:   prometheus.NewDesc("demo_latency_seconds", "Request latency.", []string{"service", "version"}, nil),
		levels: levels,
	})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startScrapingPrometheus runs the prometheus binary scraping targets
// every second and returns its URL. promtest serves fixed historical
// series; the daemon's end-to-end test needs live scrapes.
func startScrapingPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus not on PATH; install Debian's prometheus package (make test-deps)")
		}
		t.Skip("prometheus not on PATH; install Debian's prometheus package (make test-deps)")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: canaryd-e2e
    static_configs:
      - targets: [%s]
`, strings.Join(targets, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for try := 1; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		var out syncBuffer
		cmd := exec.Command(bin,
			"--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-done
		}
		url := "http://" + addr
		if err := waitHTTP(url+"/-/ready", done); err == nil {
			t.Cleanup(stop)
			return url
		} else {
			stop()
			if try < 5 && strings.Contains(out.String(), "address already in use") {
				continue
			}
			t.Fatalf("prometheus not ready: %v\n%s", err, out.String())
		}
	}
}

// waitHTTP polls url until it answers 200 or the process exits: there is
// no event to wait on for another process' readiness.
func waitHTTP(url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// e2eConfig judges demo_latency_seconds every 5s over two steps.
const e2eConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: latency
    interval: 5s
    steps: [50, 100]
    min_samples: 5
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// TestEndToEnd runs the daemon on the wall clock with its embedded NATS
// server and a real Prometheus scraping real /metrics endpoints: a good
// canary is promoted through every step, a bad one rolled back, and both
// are visible on NATS and over HTTP.
func TestEndToEnd(t *testing.T) {
	target := serveLatency(t, map[[2]string]float64{
		{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100,
		{"search", "v1"}: 0.200, {"search", "v2"}: 0.400,
	})
	promURL := startScrapingPrometheus(t, target)
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(e2eConfig, promURL))

	a, err := New(Options{
		ConfigFile:        cfg,
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
	if a.natsClientURL() == "" {
		t.Fatal("embedded NATS has no client URL")
	}
	c := connectURL(t, a.natsClientURL())
	verdicts := stored[Verdict](c, verdictPrefix+">")
	base := "http://" + a.Addr()
	if code := httpJSON(t, "GET", base+"/-/ready", "", nil); code != http.StatusOK {
		t.Fatalf("ready: %d", code)
	}

	for _, svc := range []string{"checkout", "search"} {
		e := Event{ID: svc + "-1", Service: svc, Namespace: "shop", Template: "latency",
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}}
		c.publishEvent(e)
	}
	last := map[string]Verdict{}
	history := map[string][]Verdict{}
	for len(last) < 2 || !last["checkout-1"].Final || !last["search-1"].Final {
		v := next(t, verdicts)
		history[v.AnalysisID] = append(history[v.AnalysisID], v)
		last[v.AnalysisID] = v
		t.Logf("%s seq %d: %s weight %v -> %v: %s", v.AnalysisID, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Reason)
	}

	good := history["checkout-1"]
	if v := good[len(good)-1]; v.Outcome != rollout.Succeeded || v.Verdict != analysis.Promote || v.NextWeight != 100 {
		t.Errorf("good canary ended %s %s -> %v", v.Outcome, v.Verdict, v.NextWeight)
	}
	promotes := 0
	for i, v := range good {
		if v.Seq != i+1 || v.Verdict == analysis.Rollback {
			t.Errorf("good canary verdict %d: seq %d %s", i, v.Seq, v.Verdict)
		}
		if v.Verdict == analysis.Promote {
			promotes++
		}
	}
	if promotes != 2 {
		t.Errorf("good canary promoted %d times, want 2 (one per step)", promotes)
	}
	bad := history["search-1"]
	if v := bad[len(bad)-1]; v.Outcome != rollout.RolledBack || v.Verdict != analysis.Rollback || v.NextWeight != 0 {
		t.Errorf("bad canary ended %s %s -> %v", v.Outcome, v.Verdict, v.NextWeight)
	}
	if m := bad[len(bad)-1].Metrics; len(m) != 1 || m[0].Classification != analysis.High {
		t.Errorf("bad canary's evidence: %+v", m)
	}

	for id, want := range map[string]analysis.Verdict{"checkout-1": analysis.Promote, "search-1": analysis.Rollback} {
		var v Verdict
		if code := httpJSON(t, "GET", base+"/api/v1/analyses/"+id+"/verdict", "", &v); code != http.StatusOK || v.Verdict != want || v.Seq != last[id].Seq {
			t.Errorf("%s over HTTP: %d %s seq %d, want %s seq %d", id, code, v.Verdict, v.Seq, want, last[id].Seq)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(t, resp)
	for _, want := range []string{`canaryd_verdicts_total{verdict="rollback"} 1`, "canaryd_analyses_active 0", "canaryd_config_last_reload_successful 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
