package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
)

// rangeBody is a range query answer of series series with points points
// each, 10s apart from 2024-01-01T00:00:00Z, values with full float64 digits.
func rangeBody(series, points int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for s := range series {
		if s > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"metric":{"__name__":"http_request_duration_seconds","pod":"pod-%d","service":"checkout"},"values":[`, s)
		for p := range points {
			if p > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `[%d,"%s"]`, 1704067200+10*p, strconv.FormatFloat(r.ExpFloat64()/10, 'f', -1, 64))
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// cannedClient answers every request with the same body, without a network:
// what is measured is client_golang's decoding and our conversion.
type cannedClient struct{ body []byte }

func (c cannedClient) URL(ep string, _ map[string]string) *url.URL {
	return &url.URL{Scheme: "http", Host: "prometheus.invalid", Path: ep}
}

func (c cannedClient) Do(_ context.Context, req *http.Request) (*http.Response, []byte, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Request: req}, c.body, nil
}

func benchmarkDecode(b *testing.B, series, points int, aggregate string, querier func(api.Client) rangeQuerier) {
	body := rangeBody(series, points)
	cfg := configs.DefaultPrometheus()
	cfg.URL = "http://prometheus.invalid"
	src := newSource(cfg, querier(cannedClient{body}), nil, nil)
	start := time.Unix(1704067200, 0)
	q := metrics.Query{Metric: "latency", Role: metrics.Canary, Expr: "x", Aggregate: aggregate,
		Start: start, End: start.Add(time.Duration(points-1) * 10 * time.Second), Step: 10 * time.Second}
	ctx := context.Background()

	s, err := src.Fetch(ctx, q)
	if err != nil || s.Len() != points || s.Gaps != 0 {
		b.Fatalf("Fetch: %d points, %d gaps, %v; want %d points", s.Len(), s.Gaps, err, points)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Fetch(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRangeResponse decodes range query answers into Samples,
// with client_golang's decoding (old) and with decodeRange (new).
func BenchmarkDecodeRangeResponse(b *testing.B) {
	queriers := []struct {
		name    string
		querier func(api.Client) rangeQuerier
	}{
		{"old", func(c api.Client) rangeQuerier { return clientGolangQuerier{api: v1.NewAPI(c)} }},
		{"new", func(c api.Client) rangeQuerier { return &apiQuerier{client: c} }},
	}
	for _, bm := range []struct {
		name           string
		series, points int
		aggregate      string
	}{
		{"small/100", 1, 100, ""},
		{"medium/1000", 1, 1000, ""},
		{"large/10000", 1, 10000, ""},
		{"large/10x1000-sum", 10, 1000, "sum"},
		{"wide/1000x10-sum", 1000, 10, "sum"},
	} {
		for _, q := range queriers {
			b.Run(bm.name+"/"+q.name, func(b *testing.B) { benchmarkDecode(b, bm.series, bm.points, bm.aggregate, q.querier) })
		}
	}
}

// BenchmarkFetchLoopback10000 is the whole path for 10,000 points: HTTP over
// loopback to an httptest server, decoding, conversion.
func BenchmarkFetchLoopback10000(b *testing.B) {
	body := rangeBody(1, 10000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	cfg := configs.DefaultPrometheus()
	cfg.URL = srv.URL
	src, err := New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	start := time.Unix(1704067200, 0)
	q := metrics.Query{Metric: "latency", Role: metrics.Canary, Expr: "x", Start: start, End: start.Add(9999 * 10 * time.Second), Step: 10 * time.Second}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Fetch(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

var _ api.Client = cannedClient{}
