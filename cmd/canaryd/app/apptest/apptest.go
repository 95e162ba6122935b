// Package apptest holds what the daemon's tests share: a real /metrics
// endpoint serving latency series, and a real Prometheus server scraping
// it (package promtest serves fixed historical series; these tests need
// live scrapes).
package apptest

import (
	"context"
	"errors"
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
)

// readyTimeout bounds the wait for a process to become ready.
const readyTimeout = 60 * time.Second

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

// ServeLatency serves the series of levels on a real /metrics endpoint.
func ServeLatency(t *testing.T, levels map[[2]string]float64) string {
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

// StartScrapingPrometheus runs the prometheus binary scraping targets
// (host:port) every second, stops it in t.Cleanup, and returns its URL.
// Without the binary the test is skipped, or fails when CI is "true".
func StartScrapingPrometheus(t *testing.T, targets ...string) string {
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
		if err := WaitHTTP(url+"/-/ready", done); err == nil {
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

// WaitHTTP polls url until it answers 200 or exited is closed: there is
// no event to wait on for another process' readiness.
func WaitHTTP(url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
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
			return errors.New("process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// syncBuffer collects a process' output for failure messages.
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
