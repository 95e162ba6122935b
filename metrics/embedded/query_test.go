package embedded_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics/embedded"
)

// t0 is the simulated time of the first scrape; scrapes follow every 15s.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const interval = 15 * time.Second

// at returns the time of scrape i.
func at(i int) time.Time { return t0.Add(time.Duration(i) * interval) }

// service is a simulated service instrumented with client_golang: a
// request counter, an in-flight gauge and a latency histogram on its own
// registry.
type service struct {
	reg      *prom.Registry
	requests *prom.CounterVec
	inflight prom.Gauge
	latency  prom.Histogram
}

func newService() *service {
	s := &service{
		reg: prom.NewRegistry(),
		requests: prom.NewCounterVec(prom.CounterOpts{
			Name: "demo_requests_total", Help: "Requests served.",
		}, []string{"code"}),
		inflight: prom.NewGauge(prom.GaugeOpts{Name: "demo_inflight", Help: "Requests in flight."}),
		latency: prom.NewHistogram(prom.HistogramOpts{
			Name: "demo_request_duration_seconds", Help: "Request latency.",
			Buckets: []float64{0.1, 0.25, 0.5, 1},
		}),
	}
	s.reg.MustRegister(s.requests, s.inflight, s.latency)
	return s
}

// loadFleet ingests nine scrapes (t0 to t0+2m) of two services through the
// Gatherer path and returns the source. Per 15s interval:
//
//	canary:   +3 requests, inflight 2.5*i, latencies 5×0.05 3×0.2 1×0.4 1×0.8
//	baseline: +6 requests, inflight 1,     latencies 10×0.05
func loadFleet(t *testing.T) *embedded.Source {
	t.Helper()
	src := newSource(t, embedded.Options{})
	canary, baseline := newService(), newService()
	for i := range 9 {
		canary.requests.WithLabelValues("200").Add(3)
		canary.inflight.Set(2.5 * float64(i))
		for _, v := range []float64{0.05, 0.05, 0.05, 0.05, 0.05, 0.2, 0.2, 0.2, 0.4, 0.8} {
			canary.latency.Observe(v)
		}
		baseline.requests.WithLabelValues("200").Add(6)
		baseline.inflight.Set(1)
		for range 10 {
			baseline.latency.Observe(0.05)
		}
		if err := src.IngestGatherer(at(i), map[string]string{"service": "checkout", "track": "canary"}, canary.reg); err != nil {
			t.Fatalf("ingest canary scrape %d: %v", i, err)
		}
		if err := src.IngestGatherer(at(i), map[string]string{"service": "checkout", "track": "baseline"}, baseline.reg); err != nil {
			t.Fatalf("ingest baseline scrape %d: %v", i, err)
		}
	}
	return src
}

func newSource(t testing.TB, opts embedded.Options) *embedded.Source {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	src, err := embedded.New(opts)
	if err != nil {
		t.Fatalf("new source: %v", err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return src
}

func start(t testing.TB, src *embedded.Source) string {
	t.Helper()
	u, err := src.Start("")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := src.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return u
}

// rangeCase is a range query and the values it must return at each step
// from start to end.
type rangeCase struct {
	name       string
	expr       string
	start, end time.Time
	want       []float64
}

// rangeCases are computed by hand from loadFleet's schedule.
//
// rate over [1m] at a scrape time t sees the four samples at t-45s..t (the
// window is left-open), an increase of 3 intervals; the first sample is 15s
// (one interval, under Prometheus's 1.1-interval threshold) after the
// window's start, so the increase is extrapolated to the full minute:
//
//	rate = 3*inc * (60/45) / 60 = inc/15
//
// histogram_quantile(q) ranks q*total and interpolates linearly within the
// bucket holding the rank, from the previous bucket's bound. Every bucket's
// rate is scaled alike, so per-interval counts give the answer. Canary
// cumulative counts per interval: le 0.1:5, 0.25:8, 0.5:9, 1:10, +Inf:10.
//
//	q=0.95: rank 9.5 in (0.5, 1]:    0.5 + 0.5*(9.5-9)/(10-9) = 0.75
//	q=0.6:  rank 6 in (0.1, 0.25]:   0.1 + 0.15*(6-5)/(8-5)   = 0.15
//	baseline, q=0.95: rank 9.5 in (0, 0.1]: 0.1*9.5/10        = 0.095
func rangeCases() []rangeCase {
	return []rangeCase{
		{"counter rate canary", `rate(demo_requests_total{track="canary"}[1m])`, at(4), at(8),
			[]float64{0.2, 0.2, 0.2, 0.2, 0.2}},
		{"counter rate baseline", `rate(demo_requests_total{track="baseline"}[1m])`, at(4), at(8),
			[]float64{0.4, 0.4, 0.4, 0.4, 0.4}},
		{"gauge", `demo_inflight{track="canary"}`, at(0), at(8),
			[]float64{0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20}},
		{"gauge between scrapes keeps the last value", `demo_inflight{track="canary"}`, at(1).Add(5 * time.Second), at(3).Add(5 * time.Second),
			[]float64{2.5, 5, 7.5}},
		{"p95 canary", `histogram_quantile(0.95, sum by (le) (rate(demo_request_duration_seconds_bucket{track="canary"}[1m])))`, at(4), at(8),
			[]float64{0.75, 0.75, 0.75, 0.75, 0.75}},
		{"p60 canary", `histogram_quantile(0.6, sum by (le) (rate(demo_request_duration_seconds_bucket{track="canary"}[1m])))`, at(4), at(8),
			[]float64{0.15, 0.15, 0.15, 0.15, 0.15}},
		{"p95 baseline", `histogram_quantile(0.95, sum by (le) (rate(demo_request_duration_seconds_bucket{track="baseline"}[1m])))`, at(4), at(8),
			[]float64{0.095, 0.095, 0.095, 0.095, 0.095}},
		{"p95 of cumulative buckets", `histogram_quantile(0.95, demo_request_duration_seconds_bucket{track="canary"})`, at(8), at(8),
			[]float64{0.75}},
		{"histogram average", `sum(rate(demo_request_duration_seconds_sum{track="canary"}[1m])) / sum(rate(demo_request_duration_seconds_count{track="canary"}[1m]))`, at(4), at(8),
			[]float64{0.205, 0.205, 0.205, 0.205, 0.205}},
	}
}

// steps returns the Unix ms times from start to end at interval.
func steps(start, end time.Time) []int64 {
	var out []int64
	for t := start; !t.After(end); t = t.Add(interval) {
		out = append(out, t.UnixMilli())
	}
	return out
}

// near reports whether got is within a relative 1e-12 of want.
func near(got, want float64) bool {
	return got == want || math.Abs(got-want) <= 1e-12*math.Max(math.Abs(got), math.Abs(want))
}

func TestQueryRangeThroughClientGolang(t *testing.T) {
	src := loadFleet(t)
	client, err := api.NewClient(api.Config{Address: start(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	promAPI := v1.NewAPI(client)
	for _, tc := range rangeCases() {
		t.Run(tc.name, func(t *testing.T) {
			v, warnings, _, err := promAPI.QueryRange(context.Background(), tc.expr, v1.Range{Start: tc.start, End: tc.end, Step: interval})
			if err != nil {
				t.Fatalf("query range: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			m, ok := v.(model.Matrix)
			if !ok || len(m) != 1 {
				t.Fatalf("got %s %v, want a matrix of one series", v.Type(), v)
			}
			wantTimes := steps(tc.start, tc.end)
			if len(m[0].Values) != len(tc.want) {
				t.Fatalf("got %d points %v, want %v", len(m[0].Values), m[0].Values, tc.want)
			}
			for i, p := range m[0].Values {
				if int64(p.Timestamp) != wantTimes[i] || !near(float64(p.Value), tc.want[i]) {
					t.Errorf("point %d: got %v@%d, want %v@%d", i, p.Value, p.Timestamp, tc.want[i], wantTimes[i])
				}
			}
		})
	}
}

// TestQueryRangeLabels checks that target labels are on every series and
// that a grouped query splits by them.
func TestQueryRangeLabels(t *testing.T) {
	src := loadFleet(t)
	client, err := api.NewClient(api.Config{Address: start(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _, err := v1.NewAPI(client).QueryRange(context.Background(), `sum by (service, track) (rate(demo_requests_total[1m]))`,
		v1.Range{Start: at(8), End: at(8), Step: interval})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, ss := range v.(model.Matrix) {
		got[ss.Metric.String()] = float64(ss.Values[0].Value)
	}
	want := map[string]float64{`{service="checkout", track="baseline"}`: 0.4, `{service="checkout", track="canary"}`: 0.2}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if !near(got[k], w) {
			t.Errorf("%s: got %v, want %v", k, got[k], w)
		}
	}
}

// counterValue returns the value of the counter name with labels want
// (a subset of its labels) in reg, failing when there is none.
func counterValue(t *testing.T, reg prom.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if labelValue(m, k) != v {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s%v", name, want)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// apiAnswer is the JSON envelope of the Prometheus HTTP API.
type apiAnswer struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

func TestHandlerErrors(t *testing.T) {
	src := loadFleet(t)
	u := start(t, src)
	s, e := formatSeconds(at(0)), formatSeconds(at(8))
	for _, tc := range []struct {
		name      string
		method    string
		path      string
		form      url.Values
		status    int
		errorType string
		errorHas  string
	}{
		{"parse error", "GET", "/api/v1/query_range", url.Values{"query": {"rate(x[1m]"}, "start": {s}, "end": {e}, "step": {"15"}},
			400, "bad_data", `invalid parameter "query"`},
		{"missing start", "GET", "/api/v1/query_range", url.Values{"query": {"up"}, "end": {e}, "step": {"15"}},
			400, "bad_data", `invalid parameter "start"`},
		{"end before start", "POST", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {e}, "end": {s}, "step": {"15"}},
			400, "bad_data", "end timestamp must not be before start time"},
		{"zero step", "GET", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {s}, "end": {e}, "step": {"0"}},
			400, "bad_data", "zero or negative query resolution step"},
		{"too many points", "GET", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {s}, "end": {e}, "step": {"0.001"}},
			400, "bad_data", "11,000 points"},
		{"bad timeout", "GET", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {s}, "end": {e}, "step": {"15"}, "timeout": {"soon"}},
			400, "bad_data", `invalid parameter "timeout"`},
		{"bad time", "GET", "/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}},
			400, "bad_data", `invalid parameter "time"`},
		{"range query of a range vector", "GET", "/api/v1/query_range", url.Values{"query": {"demo_inflight[1m]"}, "start": {s}, "end": {e}, "step": {"15"}},
			400, "bad_data", "invalid expression type"},
		{"many-to-many", "POST", "/api/v1/query_range", url.Values{"query": {"demo_inflight + on(service) demo_inflight"}, "start": {s}, "end": {e}, "step": {"15"}},
			422, "execution", "many-to-many matching not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, status := call(t, tc.method, u+tc.path, tc.form)
			if status != tc.status || a.Status != "error" || a.ErrorType != tc.errorType || !strings.Contains(a.Error, tc.errorHas) {
				t.Errorf("got HTTP %d %+v, want %d %s containing %q", status, a, tc.status, tc.errorType, tc.errorHas)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodDelete, u+"/api/v1/query_range", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: got HTTP %d, want 405", resp.StatusCode)
	}
}

func formatSeconds(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// call makes a request with form (in the URL for GET, the body for POST)
// and decodes the answer.
func call(t *testing.T, method, u string, form url.Values) (apiAnswer, int) {
	t.Helper()
	var resp *http.Response
	var err error
	switch method {
	case http.MethodGet:
		resp, err = http.Get(u + "?" + form.Encode())
	case http.MethodPost:
		resp, err = http.PostForm(u, form)
	default:
		t.Fatalf("method %s", method)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var a apiAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	return a, resp.StatusCode
}

// TestHandlerTimeout checks that a query over its time limit gets
// Prometheus's timeout answer, HTTP 503. A 1ns limit has passed before the
// engine starts, so the outcome does not depend on timing.
func TestHandlerTimeout(t *testing.T) {
	src := newSource(t, embedded.Options{QueryTimeout: time.Nanosecond})
	if err := src.Append(at(0), map[string]string{"__name__": "x"}, 1); err != nil {
		t.Fatal(err)
	}
	u := start(t, src)
	a, status := call(t, http.MethodGet, u+"/api/v1/query_range",
		url.Values{"query": {"x"}, "start": {formatSeconds(at(0))}, "end": {formatSeconds(at(4))}, "step": {"15"}})
	if status != http.StatusServiceUnavailable || a.Status != "error" || a.ErrorType != "timeout" {
		t.Errorf("got HTTP %d %+v, want 503 timeout", status, a)
	}
}
