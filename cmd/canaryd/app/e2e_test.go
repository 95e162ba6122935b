package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

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
	target := apptest.ServeLatency(t, map[[2]string]float64{
		{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100,
		{"search", "v1"}: 0.200, {"search", "v2"}: 0.400,
	})
	promURL := apptest.StartScrapingPrometheus(t, target)
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(e2eConfig, promURL))

	a := startEmbedded(t, cfg)
	if a.natsClientURL() == "" {
		t.Fatal("embedded NATS has no client URL")
	}
	c := connectURL(t, a.natsClientURL())
	verdicts := published(c)
	base := "http://" + a.Addr()
	if code := httpJSON(t, "GET", base+"/-/ready", "", nil); code != http.StatusOK {
		t.Fatalf("ready: %d", code)
	}

	for _, svc := range []string{"checkout", "search"} {
		e := message.Event{ID: svc + "-1", Service: svc, Namespace: "shop", Template: "latency",
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}}
		c.publishEvent(e)
	}
	last := map[string]record.Verdict{}
	history := map[string][]record.Verdict{}
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
		var v record.Verdict
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
	for _, want := range []string{`canaryd_verdicts_total{verdict="rollback"} 1`, "canaryd_analyses_active ", "canaryd_config_last_reload_successful 1", "canaryd_prometheus_request_duration_seconds_count"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
