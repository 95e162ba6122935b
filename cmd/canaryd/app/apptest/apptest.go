// Package apptest holds what the daemon's tests share: a real /metrics
// endpoint serving latency series, and a real Prometheus server scraping
// it (promtest.StartScraping).
package apptest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
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
	return promtest.StartScraping(t, targets, time.Second, promtest.Options{}).URL
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
