package prometheus

import (
	"context"
	"net/http"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// TestDecodeRealAnswers sends range queries to a real Prometheus and checks
// that every answer is decoded in one pass (none falls back to
// client_golang) to exactly what client_golang makes of it.
func TestDecodeRealAnswers(t *testing.T) {
	srv := promtest.StartFile(t, promtest.RepoFile(t, "testdata/prometheus/series.om"), promtest.Options{LookbackDelta: 30 * time.Second})
	q, err := newAPIQuerier(srv.URL, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1704067200, 0)
	whole := v1.Range{Start: start, End: start.Add(9 * time.Minute), Step: time.Minute}
	tests := []struct {
		name string
		expr string
		r    v1.Range
	}{
		{"every series", `{__name__=~"canaryd_test_.+"}`, whole},
		{"nothing", `nonexistent_metric`, whole},
		{"NaN and infinities", `label_replace(canaryd_test_gauge / 0, "k", "inf", "", "") or label_replace(-canaryd_test_gauge / 0, "k", "-inf", "", "")` +
			` or label_replace(canaryd_test_gauge * 0 / 0, "k", "nan", "", "")`, whole},
		{"fractional timestamps", `canaryd_test_gauge`, v1.Range{Start: start.Add(123 * time.Millisecond), End: start.Add(5 * time.Minute), Step: 10*time.Second + 500*time.Millisecond}},
		{"escaped label values", `label_replace(vector(1), "q", "a\"b\\c/é 😀\n\t\u0001<>&", "", "")`, whole},
		{"quantiles", `histogram_quantile(0.9, sum by (le) (rate(canaryd_test_latency_seconds_bucket[2m])))`, whole},
		{"rates", `rate(canaryd_test_gauge[2m])`, whole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := q.send(context.Background(), tt.expr, tt.r, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
			}
			if _, _, _, ok := decodeMatrix(body); !ok {
				t.Errorf("answer not decoded in one pass: %s", body)
			}
			got := checkDecode(t, resp.StatusCode, body)
			if got.err != nil {
				t.Fatalf("decode: %v", got.err)
			}
			t.Logf("%d bytes: %.200s", len(body), body)
		})
	}
}
