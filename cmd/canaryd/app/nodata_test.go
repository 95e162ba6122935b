package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// lockedBuffer is a log sink the daemon's goroutines can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoDataWarned runs an analysis against a real Prometheus whose series
// carry version="stable" and "canary" while the event's versions are v1 and
// v2: every query matches nothing. Each judgement holds and says so with
// the query, canaryd_metric_no_data_total counts every judgement, and the
// log warns once, not at every judgement.
func TestNoDataWarned(t *testing.T) {
	clock := newFakeClock()
	var om strings.Builder
	om.WriteString("# TYPE latency_seconds gauge\n")
	for _, version := range []string{"stable", "canary"} {
		for ts := clock.Now().Add(-5 * time.Minute); ts.Before(clock.Now().Add(10 * time.Minute)); ts = ts.Add(2 * time.Second) {
			fmt.Fprintf(&om, "latency_seconds{service=\"web\",version=%q} 0.25 %d\n", version, ts.Unix())
		}
	}
	prom := promtest.Start(t, om.String(), promtest.Options{})
	s := startNATS(t)
	var logs lockedBuffer
	cfg := strings.Replace(testConfig, "http://127.0.0.1:9", prom.URL, 1)
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), cfg), func(o *Options, _ *hooks) {
		o.Provider = nil // the config's Prometheus
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("e1", "v2"))
	c.waitRecord("e1", nil)
	const judgements = 3
	for k := 1; k <= judgements; k++ {
		clock.Advance(time.Minute)
		v := next(t, verdicts)
		want := `hold: no data for latency (baseline and canary): the query matched no series (query: latency_seconds{service="web",version="v2"}); no metric could be judged, so there is no score`
		if v.Verdict != analysis.Hold || v.Reason != want {
			t.Errorf("judgement %d: %s: %s\nwant hold: %s", k, v.Verdict, v.Reason, want)
		}
	}
	if got := value(t, a.rmetrics.NoData.WithLabelValues("web", "latency")); got != judgements {
		t.Errorf("canaryd_metric_no_data_total{template=\"web\",metric=\"latency\"} = %v, want %d", got, judgements)
	}
	if got := value(t, a.rmetrics.QueryErrors); got != 0 {
		t.Errorf("canaryd_query_errors_total = %v, want 0: the queries succeeded", got)
	}
	warnings := strings.Count(logs.String(), "metric query matched no series")
	if warnings != 1 || !strings.Contains(logs.String(), `roles="baseline and canary"`) || !strings.Contains(logs.String(), "analysis_id=e1") {
		t.Errorf("%d no-data warnings, want 1 with the roles and the analysis id; log:\n%s", warnings, logs.String())
	}
}
