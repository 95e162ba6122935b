package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage"

	"github.com/canaryd/canaryd/metrics/embedded"
)

// instant runs an instant query at ts through the HTTP API and returns the
// vector as label string -> value.
func instant(t *testing.T, u, query string, ts time.Time) map[string]float64 {
	t.Helper()
	a, status := call(t, http.MethodGet, u+"/api/v1/query", url.Values{"query": {query}, "time": {formatSeconds(ts)}})
	if status != http.StatusOK || a.Status != "success" {
		t.Fatalf("query %s: HTTP %d %+v", query, status, a)
	}
	var data struct {
		ResultType string       `json:"resultType"`
		Result     model.Vector `json:"result"`
	}
	if err := json.Unmarshal(a.Data, &data); err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s", query, data.ResultType)
	}
	out := make(map[string]float64, len(data.Result))
	for _, s := range data.Result {
		out[s.Metric.String()] = float64(s.Value)
	}
	return out
}

// serveMetrics serves reg's /metrics with client_golang's handler on a
// loopback port and returns its URL.
func serveMetrics(t *testing.T, reg *prom.Registry) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String() + "/metrics"
}

func TestScrape(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	svc := newService()
	// A label the target also sets: kept as exported_service, as with
	// Prometheus's honor_labels: false.
	inner := prom.NewGauge(prom.GaugeOpts{Name: "demo_build", Help: "Build.", ConstLabels: prom.Labels{"service": "inner"}})
	svc.reg.MustRegister(inner)
	inner.Set(7)
	metricsURL := serveMetrics(t, svc.reg)
	target := map[string]string{"service": "checkout", "track": "canary"}

	svc.inflight.Set(4)
	if err := src.Scrape(context.Background(), metricsURL, at(0), target); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	got := instant(t, u, `{__name__=~"up|demo_build|demo_inflight"}`, at(0))
	want := map[string]float64{
		`up{service="checkout", track="canary"}`:                                   1,
		`demo_inflight{service="checkout", track="canary"}`:                        4,
		`demo_build{exported_service="inner", service="checkout", track="canary"}`: 7,
	}
	assertVector(t, got, want)

	// The target goes away: the scrape fails, up drops to 0 and its series
	// go stale at once, although the lookback delta still covers them.
	closed := closedURL(t)
	err := src.Scrape(context.Background(), closed, at(1), target)
	if err == nil {
		t.Fatal("scrape of a closed port succeeded")
	}
	got = instant(t, u, `{__name__=~"up|demo_build|demo_inflight"}`, at(1).Add(time.Second))
	assertVector(t, got, map[string]float64{`up{service="checkout", track="canary"}`: 0})
	// Before the failure the old values are still there.
	got = instant(t, u, `demo_inflight`, at(1).Add(-time.Second))
	assertVector(t, got, map[string]float64{`demo_inflight{service="checkout", track="canary"}`: 4})
}

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/metrics"
}

func assertVector(t *testing.T, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
		return
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !near(g, w) {
			t.Errorf("%s: got %v (present %v), want %v", k, g, ok, w)
		}
	}
}

func TestIngestStaleness(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	target := map[string]string{"service": "checkout"}
	both := "a 1\nb 2\n"
	onlyA := "a 3\n"
	for i, body := range []string{both, onlyA} {
		if err := src.Ingest(at(i), target, strings.NewReader(body), ""); err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
	}
	// b was not in the second scrape: it ends there, within the lookback.
	assertVector(t, instant(t, u, `{__name__=~"a|b"}`, at(1).Add(time.Second)), map[string]float64{`a{service="checkout"}`: 3})
	assertVector(t, instant(t, u, `{__name__=~"a|b"}`, at(1).Add(-time.Second)), map[string]float64{`a{service="checkout"}`: 1, `b{service="checkout"}`: 2})

	// Another target's series are not touched by this target's scrapes.
	if err := src.Ingest(at(2), map[string]string{"service": "other"}, strings.NewReader("a 9\n"), ""); err != nil {
		t.Fatal(err)
	}
	if err := src.Ingest(at(2), target, strings.NewReader(onlyA), ""); err != nil {
		t.Fatal(err)
	}
	assertVector(t, instant(t, u, `a`, at(2)), map[string]float64{`a{service="checkout"}`: 3, `a{service="other"}`: 9})
}

func TestIngestParseErrorStoresNothing(t *testing.T) {
	reg := prom.NewRegistry()
	src := newSource(t, embedded.Options{Registerer: reg})
	u := start(t, src)
	target := map[string]string{"service": "checkout"}
	if err := src.Ingest(at(0), target, strings.NewReader("a 1\nb 2\n"), "text/plain; version=0.0.4"); err != nil {
		t.Fatal(err)
	}
	err := src.Ingest(at(1), target, strings.NewReader("a 5\nb{ 6\n"), "text/plain; version=0.0.4")
	if err == nil || !strings.Contains(err.Error(), "parse") {
		t.Fatalf("got %v, want a parse error", err)
	}
	// Nothing of the failed scrape (not even a=5) is stored, and the
	// target's series are stale from its time, as after a failed scrape in
	// Prometheus.
	assertVector(t, instant(t, u, `{__name__=~"a|b"}`, at(1)), map[string]float64{})
	assertVector(t, instant(t, u, `{__name__=~"a|b"}`, at(1).Add(-time.Millisecond)), map[string]float64{`a{service="checkout"}`: 1, `b{service="checkout"}`: 2})
	if got := counterValue(t, reg, "canaryd_embedded_scrapes_failed_total", nil); got != 1 {
		t.Errorf("failed scrapes: %v, want 1", got)
	}
}

func TestIngestFormats(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		want                    map[string]float64
	}{
		{"text", "text/plain; version=0.0.4; charset=utf-8",
			"# HELP x_total Things.\n# TYPE x_total counter\nx_total{code=\"200\"} 12\n",
			map[string]float64{`x_total{code="200", job="demo"}`: 12}},
		{"empty content type is text", "", "x 1.5\n", map[string]float64{`x{job="demo"}`: 1.5}},
		{"openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8",
			"# TYPE x counter\nx_total 3\n# TYPE g gauge\ng 2\n# EOF\n",
			map[string]float64{`x_total{job="demo"}`: 3, `g{job="demo"}`: 2}},
		{"special values", "", "pos +Inf\nneg -Inf\n", map[string]float64{`pos{job="demo"}`: math.Inf(1), `neg{job="demo"}`: math.Inf(-1)}},
		{"empty target label value is no label", "", `x{job=""} 1` + "\n", map[string]float64{`x{job="demo"}`: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, embedded.Options{})
			u := start(t, src)
			if err := src.Ingest(at(0), map[string]string{"job": "demo", "empty": ""}, strings.NewReader(tc.body), tc.contentType); err != nil {
				t.Fatalf("ingest: %v", err)
			}
			assertVector(t, instant(t, u, `{job="demo"}`, at(0)), tc.want)
		})
	}
}

func TestIngestExplicitTimestamps(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	// A sample's own timestamp (ms) wins over the scrape time.
	early := at(0).Add(-30 * time.Second)
	body := "x 1 " + strconv.FormatInt(early.UnixMilli(), 10) + "\ny 2\n"
	if err := src.Ingest(at(0), nil, strings.NewReader(body), ""); err != nil {
		t.Fatal(err)
	}
	assertVector(t, instant(t, u, `timestamp(x)`, at(0)), map[string]float64{`{}`: float64(early.Unix())})
	assertVector(t, instant(t, u, `timestamp(y)`, at(0)), map[string]float64{`{}`: float64(at(0).Unix())})
}

func TestIngestRefusedSamples(t *testing.T) {
	reg := prom.NewRegistry()
	src := newSource(t, embedded.Options{Registerer: reg})
	u := start(t, src)
	if err := src.Ingest(at(1), nil, strings.NewReader("x 1\n"), ""); err != nil {
		t.Fatal(err)
	}
	// An older scrape: x is out of order and refused, y is new and stored.
	err := src.Ingest(at(0), nil, strings.NewReader("x 2\ny 3\n"), "")
	if !errors.Is(err, storage.ErrOutOfOrderSample) || !strings.Contains(err.Error(), "1 samples refused") {
		t.Fatalf("got %v, want one out-of-order sample", err)
	}
	assertVector(t, instant(t, u, `{__name__=~"x|y"}`, at(1)), map[string]float64{`x`: 1, `y`: 3})
	if got := counterValue(t, reg, "canaryd_embedded_samples_rejected_total", map[string]string{"reason": "out_of_order"}); got != 1 {
		t.Errorf("rejected out_of_order: %v, want 1", got)
	}
}

func TestIngestInvalidInput(t *testing.T) {
	src := newSource(t, embedded.Options{})
	for _, tc := range []struct {
		name   string
		target map[string]string
		body   string
		want   error
	}{
		{"reserved target label", map[string]string{"__name__": "x"}, "a 1\n", embedded.ErrInvalidLabels},
		{"invalid target label value", map[string]string{"job": "\xff"}, "a 1\n", embedded.ErrInvalidLabels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := src.Ingest(at(0), tc.target, strings.NewReader(tc.body), ""); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := src.Ingest(at(0), nil, strings.NewReader("a 1\n"), "application/json"); err == nil {
		t.Error("unsupported content type accepted")
	}
}

func TestEndTarget(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	svc := newService()
	svc.inflight.Set(3)
	metricsURL := serveMetrics(t, svc.reg)
	canary := map[string]string{"service": "checkout", "track": "canary"}
	baseline := map[string]string{"service": "checkout", "track": "baseline"}
	for i := range 2 {
		if err := src.Scrape(context.Background(), metricsURL, at(i), canary); err != nil {
			t.Fatal(err)
		}
		if err := src.Scrape(context.Background(), metricsURL, at(i), baseline); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.EndTarget(at(2), canary); err != nil {
		t.Fatal(err)
	}
	// The canary's series, up included, end at once; the baseline's go on
	// until the lookback delta runs out.
	assertVector(t, instant(t, u, `{__name__=~"up|demo_inflight"}`, at(2).Add(time.Second)), map[string]float64{
		`up{service="checkout", track="baseline"}`:            1,
		`demo_inflight{service="checkout", track="baseline"}`: 3,
	})
	if err := src.EndTarget(at(2), map[string]string{"service": "never-seen"}); err != nil {
		t.Errorf("ending an unknown target: %v", err)
	}
}

// TestIngestProtobuf feeds the delimited protobuf format with a histogram
// that also has native buckets: the classic buckets are stored.
func TestIngestProtobuf(t *testing.T) {
	reg := prom.NewRegistry()
	h := prom.NewHistogram(prom.HistogramOpts{
		Name: "lat_seconds", Help: "Latency.", Buckets: []float64{0.1, 1},
		NativeHistogramBucketFactor: 1.1,
	})
	reg.MustRegister(h)
	for _, v := range []float64{0.05, 0.5, 0.5, 2} {
		h.Observe(v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeProtoDelim)
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	if err := src.Ingest(at(0), map[string]string{"job": "demo"}, &buf, string(format)); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	assertVector(t, instant(t, u, `{__name__=~"lat_seconds_.*"}`, at(0)), map[string]float64{
		`lat_seconds_bucket{job="demo", le="0.1"}`:  1,
		`lat_seconds_bucket{job="demo", le="1.0"}`:  3,
		`lat_seconds_bucket{job="demo", le="+Inf"}`: 4,
		`lat_seconds_count{job="demo"}`:             4,
		`lat_seconds_sum{job="demo"}`:               3.05,
	})
}
