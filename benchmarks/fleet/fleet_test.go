package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/companion"
)

// TestMain lets the test binary stand in for the harness's child process:
// run starts os.Executable() with -serve-source.
func TestMain(m *testing.M) {
	if slices.Contains(os.Args[1:], "-serve-source") {
		if err := serveSource(); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func TestAlternatives(t *testing.T) {
	tests := []struct {
		re   string
		want []string
		err  bool
	}{
		{re: `a`, want: []string{"a"}},
		{re: `svc-1|svc-2`, want: []string{"svc-1", "svc-2"}},
		{re: `a\.b|c\|d|`, want: []string{"a.b", "c|d", ""}},
		{re: `a.*`, err: true},
		{re: `a\`, err: true},
	}
	for _, tt := range tests {
		got, err := alternatives(tt.re)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("alternatives(%q) = %q, %v; want %q (error %v)", tt.re, got, err, tt.want, tt.err)
		}
	}
}

func TestReadQuery(t *testing.T) {
	const expr = `sum by (le, service) (rate(x_bucket{service=~"a|b",track="canary"}[1m])) / sum(y{service=~"a|b"})`
	q, fresh, err := readJoined(expr)
	if err != nil || fresh != nil {
		t.Fatal(fresh, err)
	}
	if q.metric != "x_bucket" || q.track != "canary" || !q.batched || !slices.Equal(q.services, []string{"a", "b"}) || q.timestamps {
		t.Errorf("readJoined = %+v", q)
	}
	c, err := companion.Of(expr)
	if err != nil {
		t.Fatal(err)
	}
	q, fresh, err = readJoined(companion.Join(expr, c))
	if err != nil || fresh == nil {
		t.Fatal(fresh, err)
	}
	if q.metric != "x_bucket" || q.timestamps || !fresh.timestamps || !slices.Equal(fresh.services, []string{"a", "b"}) {
		t.Errorf("readJoined(joined) = %+v, %+v", q, *fresh)
	}
	if _, _, err := readJoined(`sum(x)`); err == nil {
		t.Error("a query without a service matcher: no error")
	}
}

func TestRecorderDue(t *testing.T) {
	start := time.Unix(1000, 0)
	r := newRecorder(3, 10*time.Second, 1, time.Now)
	r.started(0, start)                      // due 1000, 1010, ..., in [1005, 1035]: 1010..1030
	r.started(1, start.Add(7*time.Second))   // 1007, 1017, 1027
	r.started(2, start.Add(100*time.Second)) // after the window
	r.window(start.Add(5*time.Second), 30*time.Second)
	if got := r.due(); got != 6 {
		t.Errorf("due = %d, want 6", got)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var l latencies
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := l.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*latencyGrowth {
			t.Errorf("quantile(%g) = %s, want %s within 2%% above", c.q, got, c.want)
		}
	}
}

// TestRun runs the whole harness briefly on a compressed clock: every
// judgement due is made and published, each analysis' queries shared.
func TestRun(t *testing.T) {
	o := options{analyses: 20, interval: 10 * time.Second, duration: 30 * time.Second, metrics: 4, points: 10,
		batch: true, freshness: true, align: true, factor: 10, drain: 10 * time.Second, workers: 4, out: t.TempDir() + "/r.jsonl", apiRate: 20}
	var out bytes.Buffer
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"analyses":20`) {
		t.Errorf("result file holds %s", b)
	}
	for _, want := range []string{"missing 0", "NATS 0, query 0, Prometheus provider 0, source 0", "(0 failed), one at a time while judging", "list_service"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestFreshnessOff checks that -freshness=false drops each query's
// companion before the provider, and is refused where the harness has no
// provider of its own.
func TestFreshnessOff(t *testing.T) {
	o := options{analyses: 1, interval: 10 * time.Second, duration: time.Second, metrics: 1, points: 10, factor: 1, daemonProvider: true}
	if err := o.validate(); err == nil {
		t.Error("-freshness=false with -daemon-provider accepted")
	}
	var got metrics.Query
	c := &counted{Provider: providerFunc(func(_ context.Context, q metrics.Query) (metrics.Samples, error) {
		got = q
		return metrics.Samples{}, nil
	}), noFreshness: true}
	if _, err := c.Fetch(context.Background(), metrics.Query{Expr: "x", Freshness: "max(timestamp(x))"}); err != nil || got.Freshness != "" || got.Expr != "x" || c.n.Load() != 1 {
		t.Errorf("provider got %+v, %v (%d counted)", got, err, c.n.Load())
	}
}

type providerFunc func(context.Context, metrics.Query) (metrics.Samples, error)

func (f providerFunc) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	return f(ctx, q)
}
