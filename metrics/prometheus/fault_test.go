package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/prometheus"
)

// okBody is a Prometheus range query answer: one series, three points.
const okBody = `{"status":"success","data":{"resultType":"matrix","result":[
	{"metric":{"__name__":"up","job":"checkout"},"values":[[1704067200,"1"],[1704067260,"NaN"],[1704067320,"0.5"]]}]}}`

// faultQuery is the query every fault test sends.
var faultQuery = metrics.Query{
	Metric: "latency_p99",
	Role:   metrics.Canary,
	Expr:   `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{track="canary"}[1m])))`,
	Start:  time.Unix(1704067200, 0),
	End:    time.Unix(1704067320, 0),
	Step:   time.Minute,
}

// respond writes a status and a body.
func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// sequence answers the n-th request with handlers[n], repeating the last.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(handlers)-1)
		handlers[i](w, r)
	}
}

// counted serves h, counting the requests that reach the API path.
type counted struct {
	h        http.Handler
	requests atomic.Int32
}

func (c *counted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the form as Prometheus does; until the body is read the server
	// does not notice a client that hangs up.
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/api/v1/query_range" {
		c.requests.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// sourceWithRegistry is newSource with its own registry, to read its metrics.
func sourceWithRegistry(t *testing.T, url string, edit func(*configs.Prometheus)) (*prometheus.Source, *prom.Registry) {
	t.Helper()
	cfg := configs.DefaultPrometheus()
	cfg.URL = url
	cfg.MinBackoff = model.Duration(time.Millisecond)
	cfg.MaxBackoff = model.Duration(2 * time.Millisecond)
	if edit != nil {
		edit(&cfg)
	}
	reg := prom.NewRegistry()
	src, err := prometheus.New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(src.Close)
	return src, reg
}

// metricValue returns the value of a counter or gauge on reg whose labels
// include the given name=value pairs.
func metricValue(t *testing.T, reg *prom.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func TestFaults(t *testing.T) {
	// A Prometheus error answer, as the real server writes it for a parse error.
	const badData = `{"status":"error","errorType":"bad_data","error":"1:25: parse error: unexpected \"}\""}`
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		kind      error
		requests  int32    // requests that reach the server
		want      []string // in the error message
		errorKind string   // label of canaryd_prometheus_query_errors_total
		retries   float64
	}{
		{
			name:     "500 then success",
			handler:  sequence(respond(500, "internal error"), respond(200, okBody)),
			requests: 2, retries: 1,
		},
		{
			name:     "429 twice then success",
			handler:  sequence(respond(429, "slow down"), respond(429, "slow down"), respond(200, okBody)),
			requests: 3, retries: 2,
		},
		{
			name:    "503 on every attempt",
			handler: respond(503, "<html><body>Service Unavailable</body></html>"),
			kind:    prometheus.ErrServer, requests: 3, retries: 2, errorKind: "server_error",
			want: []string{"query latency_p99 for canary", "prometheus server error (HTTP 503, 3 attempts)", "Service Unavailable", "server's logs"},
		},
		{
			name:    "429 on every attempt",
			handler: respond(429, "slow down"),
			kind:    prometheus.ErrRateLimited, requests: 3, retries: 2, errorKind: "rate_limited",
			want: []string{"query latency_p99 for canary", "(HTTP 429, 3 attempts)", "slow down", "max_concurrency"},
		},
		{
			name:    "400 bad query",
			handler: respond(400, badData),
			kind:    prometheus.ErrBadQuery, requests: 1, errorKind: "bad_query",
			want: []string{"query latency_p99 for canary", "rejected the query (HTTP 400)", "bad_data: 1:25: parse error", "fix the metric's query: " + faultQuery.Expr},
		},
		{
			name:    "422 execution error",
			handler: respond(422, `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`),
			kind:    prometheus.ErrBadQuery, requests: 1, errorKind: "bad_query",
			want: []string{"HTTP 422", "many-to-many", faultQuery.Expr},
		},
		{
			name:    "401 unauthorized",
			handler: respond(401, "Unauthorized"),
			kind:    prometheus.ErrUnauthorized, requests: 1, errorKind: "unauthorized",
			want: []string{"refused the request (HTTP 401)", "credentials"},
		},
		{
			name:    "garbage body",
			handler: respond(200, "<html>Welcome to the proxy</html>"),
			kind:    prometheus.ErrBadResponse, requests: 1, errorKind: "bad_response",
			want: []string{"bad response from prometheus (HTTP 200): invalid character '<'", "base URL"},
		},
		{
			name:    "404 not the API",
			handler: respond(404, "404 page not found"),
			kind:    prometheus.ErrBadResponse, requests: 1, errorKind: "bad_response",
			want: []string{"HTTP 404", "404 page not found", "base URL"},
		},
		{
			name:    "vector instead of matrix",
			handler: respond(200, `{"status":"success","data":{"resultType":"vector","result":[]}}`),
			kind:    prometheus.ErrBadResponse, requests: 1, errorKind: "bad_response",
			want: []string{"returned a vector, not a matrix"},
		},
		{
			name: "native histograms",
			handler: respond(200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"lat"},
				"histograms":[[1704067200,{"count":"2","sum":"0.3","buckets":[[0,"0.1","0.2","2"]]}]]}]}}`),
			kind: prometheus.ErrBadQuery, requests: 1, errorKind: "bad_query",
			want: []string{"native histograms", "histogram_quantile"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &counted{h: tt.handler}
			srv := httptest.NewServer(c)
			defer srv.Close()
			src, reg := sourceWithRegistry(t, srv.URL, func(c *configs.Prometheus) { c.MaxRetries = 2 })

			s, err := src.Fetch(context.Background(), faultQuery)
			if got := c.requests.Load(); got != tt.requests {
				t.Errorf("server saw %d requests, want %d", got, tt.requests)
			}
			if got := metricValue(t, reg, "canaryd_prometheus_query_retries_total"); got != tt.retries {
				t.Errorf("retries counter = %v, want %v", got, tt.retries)
			}
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if !slices.Equal(s.Times, []int64{1704067200000, 1704067260000, 1704067320000}) || !closeTo(s.Values, []float64{1, math.NaN(), 0.5}) || s.NaN != 1 {
					t.Errorf("Fetch = %+v", s)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Fetch error = %v, want %v", err, tt.kind)
			}
			t.Logf("the user sees: %v", err)
			var qe *prometheus.QueryError
			if !errors.As(err, &qe) || qe.Metric != faultQuery.Metric || qe.Role != metrics.Canary || qe.Query != faultQuery.Expr {
				t.Errorf("error is not a QueryError naming the query: %#v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := metricValue(t, reg, "canaryd_prometheus_query_errors_total", "kind", tt.errorKind); got != 1 {
				t.Errorf("errors counter for %s = %v, want 1", tt.errorKind, got)
			}
		})
	}
}

func TestServerDown(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()

	src, reg := sourceWithRegistry(t, url, nil)
	_, err = src.Fetch(context.Background(), faultQuery)
	if !errors.Is(err, prometheus.ErrUnreachable) {
		t.Fatalf("Fetch = %v, want ErrUnreachable", err)
	}
	t.Logf("the user sees: %v", err)
	for _, w := range []string{"query latency_p99 for canary", "prometheus unreachable", "connection refused", "is Prometheus running at " + url} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if got := metricValue(t, reg, "canaryd_prometheus_query_retries_total"); got != 0 {
		t.Errorf("retried %v times, want 0", got)
	}
}

func TestSlowerThanTimeout(t *testing.T) {
	release := make(chan struct{})
	c := &counted{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the client gave up
		case <-release:
		}
	})}
	srv := httptest.NewServer(c)
	defer srv.Close()
	defer close(release)

	src, _ := sourceWithRegistry(t, srv.URL, func(c *configs.Prometheus) {
		c.Timeout = model.Duration(50 * time.Millisecond)
		c.MaxRetries = 1
	})
	_, err := src.Fetch(context.Background(), faultQuery)
	if !errors.Is(err, prometheus.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch = %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
	}
	t.Logf("the user sees: %v", err)
	if got := c.requests.Load(); got != 2 {
		t.Errorf("server saw %d requests, want 2 (a timeout is retried)", got)
	}
	for _, w := range []string{"query latency_p99 for canary", "timed out after 50ms (2 attempts)", "global.prometheus.timeout", faultQuery.Expr} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestCallerCancels(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	c := &counted{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})}
	srv := httptest.NewServer(c)
	defer srv.Close()
	defer close(release)
	src, reg := sourceWithRegistry(t, srv.URL, nil)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := src.Fetch(ctx, faultQuery)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, want context.Canceled", err)
	}
	if got := c.requests.Load(); got != 1 {
		t.Errorf("server saw %d requests, want 1 (cancellation is not retried)", got)
	}
	if got := metricValue(t, reg, "canaryd_prometheus_query_errors_total", "kind", "canceled"); got != 1 {
		t.Errorf("errors counter for canceled = %v, want 1", got)
	}
}

func TestWarningsKept(t *testing.T) {
	srv := httptest.NewServer(respond(200, `{"status":"success","warnings":["PromQL warning: metric might not be a counter"],"infos":["PromQL info: a note"],
		"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1704067200,"3"]]}]}}`))
	defer srv.Close()
	src, _ := sourceWithRegistry(t, srv.URL, nil)
	s, err := src.Fetch(context.Background(), faultQuery)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PromQL warning: metric might not be a counter", "info: PromQL info: a note"}
	if strings.Join(s.Warnings, "|") != strings.Join(want, "|") || s.Gaps != 2 || s.Len() != 1 {
		t.Errorf("Fetch = %+v, want warnings %q and 2 gaps", s, want)
	}
}

// TestConcurrencyLimit holds every request at the server and checks that no
// more than max_concurrency arrive before some are let go.
func TestConcurrencyLimit(t *testing.T) {
	const limit, queries = 2, 6
	var inFlight, peak atomic.Int32
	arrived := make(chan struct{}, queries)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
		respond(200, okBody)(w, r)
	}))
	defer srv.Close()
	src, reg := sourceWithRegistry(t, srv.URL, func(c *configs.Prometheus) { c.MaxConcurrency = limit })

	var wg sync.WaitGroup
	errs := make([]error, queries)
	for i := range queries {
		wg.Go(func() { _, errs[i] = src.Fetch(context.Background(), faultQuery) })
	}
	for range limit {
		<-arrived
	}
	if got := metricValue(t, reg, "canaryd_prometheus_requests_in_flight"); got != limit {
		t.Errorf("requests in flight = %v, want %d", got, limit)
	}
	// Let the requests go one at a time; each lets one more in.
	for range queries {
		release <- struct{}{}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak requests at the server = %d, want %d", p, limit)
	}
}

func TestInvalidQueries(t *testing.T) {
	c := &counted{h: respond(200, okBody)}
	srv := httptest.NewServer(c)
	defer srv.Close()
	src, _ := sourceWithRegistry(t, srv.URL, nil)
	start := time.Unix(1704067200, 0)
	tests := []struct {
		name string
		edit func(*metrics.Query)
		want string
	}{
		{"empty expr", func(q *metrics.Query) { q.Expr = "" }, "empty query"},
		{"zero step", func(q *metrics.Query) { q.Step = 0 }, "step must be positive"},
		{"end before start", func(q *metrics.Query) { q.Start, q.End = q.End, q.Start }, "is before start"},
		{"unknown aggregate", func(q *metrics.Query) { q.Aggregate = "median" }, `unknown aggregate "median"`},
		{"too many points", func(q *metrics.Query) { q.Start, q.End, q.Step = start, start.Add(11001*time.Second), time.Second },
			"11002 points, more than Prometheus answers per series (11001); use a larger step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := faultQuery
			tt.edit(&q)
			_, err := src.Fetch(context.Background(), q)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "latency_p99 for canary") {
				t.Errorf("Fetch = %v, want an error naming the query and containing %q", err, tt.want)
			}
		})
	}
	if n := c.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server; invalid queries must not be sent", n)
	}
	// The largest window Prometheus answers is sent.
	q := faultQuery
	q.Start, q.End, q.Step = start, start.Add(11000*time.Second), time.Second
	if _, err := src.Fetch(context.Background(), q); err != nil {
		t.Errorf("Fetch of 11001 points: %v", err)
	}
}
