package embedded_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics/embedded"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// oracleStart is the first sample time of oracleSeries.
var oracleStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// oracleSeries returns twenty minutes of OpenMetrics samples, one every
// 15s, from a fixed random stream: counters (one with a reset, one with
// fractional increments), gauges (one with a 150s gap), and classic
// histograms, for a baseline and a canary track.
func oracleSeries() string {
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 81
	ts := func(i int) int64 { return oracleStart.Add(time.Duration(i) * interval).Unix() }
	var b strings.Builder

	b.WriteString("# TYPE req counter\n")
	for _, track := range []string{"baseline", "canary"} {
		for _, code := range []string{"200", "500"} {
			v := 0.0
			for i := range n {
				switch {
				case track == "canary" && code == "500" && i == 40:
					v = 0 // a restart
				case code == "500":
					v += float64(rng.IntN(3)) + rng.Float64()
				default:
					v += float64(rng.IntN(40))
				}
				fmt.Fprintf(&b, "req_total{track=%q,code=%q} %s %d\n", track, code, fmtFloat(v), ts(i))
			}
		}
	}

	b.WriteString("# TYPE mem gauge\n")
	for _, track := range []string{"baseline", "canary"} {
		for i := range n {
			if track == "canary" && i >= 20 && i < 30 {
				continue // a gap shorter than the lookback delta
			}
			fmt.Fprintf(&b, "mem{track=%q} %s %d\n", track, fmtFloat(100+10*rng.NormFloat64()), ts(i))
		}
	}

	b.WriteString("# TYPE lat histogram\n")
	bounds := []string{"0.05", "0.1", "0.25", "0.5", "1", "+Inf"}
	for _, track := range []string{"baseline", "canary"} {
		counts := make([]float64, len(bounds))
		sum := 0.0
		for i := range n {
			cum := 0.0
			for j := range bounds {
				k := float64(rng.IntN(10))
				if track == "canary" && j >= 3 {
					k += float64(rng.IntN(5)) // the canary is slower
				}
				counts[j] += k
				sum += k * []float64{0.03, 0.07, 0.2, 0.4, 0.8, 1.5}[j]
			}
			for j, le := range bounds {
				cum += counts[j]
				fmt.Fprintf(&b, "lat_bucket{track=%q,le=%q} %s %d\n", track, le, fmtFloat(cum), ts(i))
			}
			fmt.Fprintf(&b, "lat_count{track=%q} %s %d\n", track, fmtFloat(cum), ts(i))
			fmt.Fprintf(&b, "lat_sum{track=%q} %s %d\n", track, fmtFloat(sum), ts(i))
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

func fmtFloat(v float64) string { return fmt.Sprintf("%g", v) }

// oracleQueries are what canaryd's templates ask: rates, ratios,
// quantiles, aggregations over time. Ranges are not multiples of the 15s
// sample interval and the evaluation times are 7s off the samples, so that
// no sample sits on a window's edge: there Prometheus 2 (left-closed
// windows, the oracle here) and 3 (left-open) differ by design.
var oracleQueries = []string{
	`rate(req_total[50s])`,
	`increase(req_total[2m10s])`,
	`sum by (track) (rate(req_total{code="500"}[2m10s])) / sum by (track) (rate(req_total[2m10s]))`,
	`mem`,
	`avg_over_time(mem[2m10s])`,
	`max_over_time(mem[50s])`,
	`quantile_over_time(0.9, mem[2m10s])`,
	`stddev_over_time(mem[2m10s])`,
	`deriv(mem[2m10s])`,
	`histogram_quantile(0.99, sum by (le, track) (rate(lat_bucket[2m10s])))`,
	`histogram_quantile(0.5, sum by (le, track) (rate(lat_bucket[50s])))`,
	`sum by (track) (rate(lat_sum[2m10s])) / sum by (track) (rate(lat_count[2m10s]))`,
	`sum(rate(req_total[2m10s])) by (code)`,
	`mem offset 1m`,
	`absent(nothing)`,
}

// TestAgainstPrometheus loads the same samples into a real Prometheus
// server and into the source, runs the same range and instant queries on
// both through client_golang and requires the same series, times and values
// (within 1e-9 relative: Prometheus 3 sums some series with compensated
// summation), then the same status and error type for bad requests.
func TestAgainstPrometheus(t *testing.T) {
	series := oracleSeries()
	oracle := promtest.Start(t, series, promtest.Options{})
	src := newSource(t, embedded.Options{})
	if err := src.Ingest(oracleStart, nil, strings.NewReader(series), "application/openmetrics-text; version=1.0.0; charset=utf-8"); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	ours := start(t, src)
	t.Run("range", func(t *testing.T) { rangeAgainst(t, oracle.URL, ours) })
	t.Run("instant", func(t *testing.T) { instantAgainst(t, oracle.URL, ours) })
	t.Run("errors", func(t *testing.T) { errorsAgainst(t, oracle.URL, ours) })
}

// rangeAgainst runs oracleQueries as range queries on both servers.
func rangeAgainst(t *testing.T, oracleURL, ours string) {
	r := v1.Range{Start: oracleStart.Add(5*time.Minute + 7*time.Second), End: oracleStart.Add(19*time.Minute + 7*time.Second), Step: 30 * time.Second}
	for _, q := range oracleQueries {
		t.Run(q, func(t *testing.T) {
			want := queryRange(t, oracleURL, q, r)
			got := queryRange(t, ours, q, r)
			if len(want) == 0 {
				t.Fatalf("the oracle returned nothing")
			}
			compareMatrices(t, got, want)
		})
	}
}

// instantAgainst compares instant queries, whose answers are vectors and
// scalars.
func instantAgainst(t *testing.T, oracleURL, ours string) {
	at := oracleStart.Add(12*time.Minute + 7*time.Second)
	for _, q := range []string{`rate(req_total[50s])`, `sum by (track) (mem)`, `scalar(sum(mem))`, `count(mem)`, `vector(1)`, `nothing`} {
		t.Run(q, func(t *testing.T) {
			want, got := instantValue(t, oracleURL, q, at), instantValue(t, ours, q, at)
			if want.Type() != got.Type() {
				t.Fatalf("got %s, want %s", got.Type(), want.Type())
			}
			switch w := want.(type) {
			case model.Vector:
				g := got.(model.Vector)
				toMatrix := func(v model.Vector) model.Matrix {
					m := make(model.Matrix, len(v))
					for i, s := range v {
						m[i] = &model.SampleStream{Metric: s.Metric, Values: []model.SamplePair{{Timestamp: s.Timestamp, Value: s.Value}}}
					}
					return m
				}
				compareMatrices(t, toMatrix(g), toMatrix(w))
			case *model.Scalar:
				g := got.(*model.Scalar)
				if g.Timestamp != w.Timestamp || !near(float64(g.Value), float64(w.Value)) {
					t.Errorf("got %v, want %v", g, w)
				}
			default:
				t.Fatalf("unexpected %s", want.Type())
			}
		})
	}
}

func instantValue(t *testing.T, u, q string, at time.Time) model.Value {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: u})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _, err := v1.NewAPI(c).Query(context.Background(), q, at)
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return v
}

func queryRange(t *testing.T, u, q string, r v1.Range) model.Matrix {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: u})
	if err != nil {
		t.Fatal(err)
	}
	v, _, _, err := v1.NewAPI(c).QueryRange(context.Background(), q, r)
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		t.Fatalf("%s: %s, not a matrix", u, v.Type())
	}
	return m
}

func compareMatrices(t *testing.T, got, want model.Matrix) {
	t.Helper()
	byLabels := make(map[string]*model.SampleStream, len(got))
	for _, s := range got {
		byLabels[s.Metric.String()] = s
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := byLabels[w.Metric.String()]
		if !ok {
			t.Errorf("missing series %s", w.Metric)
			continue
		}
		if len(g.Values) != len(w.Values) {
			t.Errorf("%s: got %d points, want %d", w.Metric, len(g.Values), len(w.Values))
			continue
		}
		for i := range w.Values {
			gv, wv := float64(g.Values[i].Value), float64(w.Values[i].Value)
			same := gv == wv || (math.IsNaN(gv) && math.IsNaN(wv)) ||
				math.Abs(gv-wv) <= 1e-9*math.Max(math.Abs(gv), math.Abs(wv))
			if g.Values[i].Timestamp != w.Values[i].Timestamp || !same {
				t.Errorf("%s point %d: got %v@%v, want %v@%v", w.Metric, i, gv, g.Values[i].Timestamp, wv, w.Values[i].Timestamp)
			}
		}
	}
}

// errorsAgainst sends the same bad requests to both servers and requires
// the same HTTP status and error type (messages differ between versions).
func errorsAgainst(t *testing.T, oracleURL, ours string) {

	s, e := formatSeconds(oracleStart.Add(5*time.Minute)), formatSeconds(oracleStart.Add(10*time.Minute))
	for _, tc := range []struct {
		name string
		path string
		form url.Values
	}{
		{"parse error", "/api/v1/query_range", url.Values{"query": {"rate(req_total[1m]"}, "start": {s}, "end": {e}, "step": {"15"}}},
		{"unknown function", "/api/v1/query_range", url.Values{"query": {"no_such_function(mem)"}, "start": {s}, "end": {e}, "step": {"15"}}},
		{"missing start", "/api/v1/query_range", url.Values{"query": {"mem"}, "end": {e}, "step": {"15"}}},
		{"end before start", "/api/v1/query_range", url.Values{"query": {"mem"}, "start": {e}, "end": {s}, "step": {"15"}}},
		{"zero step", "/api/v1/query_range", url.Values{"query": {"mem"}, "start": {s}, "end": {e}, "step": {"0"}}},
		{"too many points", "/api/v1/query_range", url.Values{"query": {"mem"}, "start": {s}, "end": {e}, "step": {"0.01"}}},
		{"bad timeout", "/api/v1/query_range", url.Values{"query": {"mem"}, "start": {s}, "end": {e}, "step": {"15"}, "timeout": {"soon"}}},
		{"range vector in a range query", "/api/v1/query_range", url.Values{"query": {"mem[1m]"}, "start": {s}, "end": {e}, "step": {"15"}}},
		{"many-to-many", "/api/v1/query_range", url.Values{"query": {"lat_bucket + on(track) lat_bucket"}, "start": {s}, "end": {e}, "step": {"15"}}},
		{"bad instant time", "/api/v1/query", url.Values{"query": {"mem"}, "time": {"yesterday"}}},
		{"instant parse error", "/api/v1/query", url.Values{"query": {"sum("}, "time": {e}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				want, wantStatus := call(t, method, oracleURL+tc.path, tc.form)
				got, gotStatus := call(t, method, ours+tc.path, tc.form)
				if gotStatus != wantStatus || got.Status != want.Status || got.ErrorType != want.ErrorType {
					t.Errorf("%s: got HTTP %d %s %s (%s), want HTTP %d %s %s (%s)", method,
						gotStatus, got.Status, got.ErrorType, got.Error, wantStatus, want.Status, want.ErrorType, want.Error)
				}
			}
		})
	}
}
