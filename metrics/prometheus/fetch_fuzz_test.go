package prometheus_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/prometheus"
)

// fuzzStatuses are the statuses a fuzzed answer comes with: Prometheus's
// own (200, 400, 422, 503) and a proxy's (500, 502, 404).
var fuzzStatuses = []int{200, 400, 422, 500, 503, 502, 404}

// FuzzFetchResponse serves arbitrary bodies as a range query's answer,
// through a real HTTP server, to Source.Fetch. Fetch must not panic; on
// garbage it fails with a *QueryError (no retries here, so at once); when
// it succeeds the samples are coherent: one time per value, increasing
// times, and counts that match the values.
func FuzzFetchResponse(f *testing.F) {
	for _, s := range []struct {
		status byte
		body   string
	}{
		{0, okBody},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[]}}`},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1704067200,"1"]]},{"metric":{"a":"2"},"values":[[1704067200,"2"],[1704067260,"+Inf"]]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1704067200,"1"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"scalar","result":[1704067200,"1"]}}`},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"histograms":[[1704067200,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]]}]}}`},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1704067260,"1"],[1704067200,"2"],[1704067200,"3"]]}]}}`},
		{0, `{"status":"success","warnings":["w"],"infos":["i"],"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1704067200,"x"]]}]}}`},
		{1, `{"status":"error","errorType":"bad_data","error":"parse error"}`},
		{2, `{"status":"error","errorType":"execution","error":"query timed out"}`},
		{4, `<html>Service Unavailable</html>`},
		{0, `{"status":"success"}`},
		{0, `{"status":"success","data":null}`},
		{0, `not json`},
		{0, ``},
	} {
		f.Add(s.status, []byte(s.body), false)
	}
	var (
		status atomic.Int32
		body   atomic.Pointer[[]byte]
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	cfg := configs.DefaultPrometheus()
	cfg.URL = srv.URL
	cfg.MaxRetries = 0
	cfg.Timeout = model.Duration(5 * time.Second)
	src, err := prometheus.New(cfg, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(src.Close)

	f.Fuzz(func(t *testing.T, st byte, b []byte, sum bool) {
		status.Store(int32(fuzzStatuses[int(st)%len(fuzzStatuses)]))
		body.Store(&b)
		q := faultQuery
		if sum {
			q.Aggregate = "sum"
		}
		s, err := src.Fetch(t.Context(), q)
		if err != nil {
			var qe *prometheus.QueryError
			if !errors.As(err, &qe) || qe.Error() == "" {
				t.Fatalf("Fetch failed without a QueryError: %T %v", err, err)
			}
			return
		}
		if status.Load() != http.StatusOK {
			t.Fatalf("Fetch accepted an answer with status %d", status.Load())
		}
		if len(s.Times) != len(s.Values) {
			t.Fatalf("%d times and %d values", len(s.Times), len(s.Values))
		}
		for i := 1; i < len(s.Times); i++ {
			if s.Times[i] <= s.Times[i-1] {
				t.Fatalf("times not increasing at %d: %v", i, s.Times)
			}
		}
		if nan, inf := metrics.CountSpecial(s.Values); nan != s.NaN || inf != s.Inf || s.Gaps < 0 {
			t.Fatalf("counts nan %d inf %d gaps %d, values hold nan %d inf %d", s.NaN, s.Inf, s.Gaps, nan, inf)
		}
	})
}
