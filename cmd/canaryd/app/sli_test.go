package app

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// TestReleaseSLIs runs a healthy and a regressed rollout through a daemon
// and reads the release SLIs on /metrics at every step: rollouts started,
// running by step, ended by outcome, the duration of the healthy one, the
// time to detect and to roll back the regressed one. The overview pages'
// data (GET /api/v1/rollouts) gives the same figures, and every metric
// the shipped alerting and recording rules use is on /metrics.
func TestReleaseSLIs(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)

	created := clock.Now()
	c.publishEvent(event("good", "v2"))
	c.publishEvent(event("bad", "bad-v2"))
	c.waitRecord("good", nil)
	c.waitRecord("bad", nil)
	m := scrape(t, a.url)
	waitFor(t, "both rollouts running at step 1", func() bool {
		m = scrape(t, a.url)
		return m.value("canaryd_rollouts_running", "step", "1") == 2
	})
	if got := m.value("canaryd_rollouts_started_total"); got != 2 {
		t.Errorf("canaryd_rollouts_started_total %v, want 2", got)
	}

	// First judgement: the good canary moves to step 2, the bad one is
	// rolled back.
	clock.Advance(time.Minute)
	judged := clock.Now()
	got := map[string]record.Verdict{}
	for range 2 {
		v := next(t, verdicts)
		got[v.AnalysisID] = v
	}
	if got["good"].Verdict != analysis.Promote || got["bad"].Verdict != analysis.Rollback || !got["bad"].Final {
		t.Fatalf("first verdicts: %+v", got)
	}
	waitFor(t, "the rollback counted and the good rollout at step 2", func() bool {
		m = scrape(t, a.url)
		return m.value("canaryd_rollouts_ended_total", "outcome", "rolled_back") == 1 &&
			m.value("canaryd_rollouts_running", "step", "2") == 1 && m.value("canaryd_rollouts_running", "step", "1") == 0
	})
	bad := c.waitRecord("bad", func(r *record.Record) bool { return r.Settled() })
	// Detection: from the first judged window's start to the rollback
	// verdict. The fake clock stood still while it was published.
	if n, sum := m.histogram("canaryd_rollout_time_to_detect_seconds"); n != 1 || sum != judged.Sub(bad.Start).Seconds() {
		t.Errorf("time to detect: %d observations summing to %v s, want 1 of %v s", n, sum, judged.Sub(bad.Start).Seconds())
	}
	if n, sum := m.histogram("canaryd_rollout_time_to_roll_back_seconds"); n != 1 || sum != 0 {
		t.Errorf("time to roll back: %d observations summing to %v s, want 1 of 0 s", n, sum)
	}
	if n, sum := m.histogram("canaryd_rollout_duration_seconds", "outcome", "rolled_back"); n != 1 || sum != judged.Sub(created).Seconds() {
		t.Errorf("rolled-back rollout's duration: %d observations summing to %v s, want 1 of %v s", n, sum, judged.Sub(created).Seconds())
	}
	if got := m.value("canaryd_rollbacks_unpublished"); got != 0 {
		t.Errorf("canaryd_rollbacks_unpublished %v after the rollback was published, want 0", got)
	}

	// Two more promotes: the good canary reaches 100%.
	for range 2 {
		clock.Advance(time.Minute)
		if v := next(t, verdicts); v.AnalysisID != "good" || v.Verdict != analysis.Promote {
			t.Fatalf("verdict %+v, want good's promote", v)
		}
	}
	ended := clock.Now()
	waitFor(t, "the success counted and nothing running", func() bool {
		m = scrape(t, a.url)
		return m.value("canaryd_rollouts_ended_total", "outcome", "succeeded") == 1 && m.value("canaryd_rollouts_running") == 0
	})
	if n, sum := m.histogram("canaryd_rollout_duration_seconds", "outcome", "succeeded"); n != 1 || sum != ended.Sub(created).Seconds() {
		t.Errorf("successful rollout's duration: %d observations summing to %v s, want 1 of %v s", n, sum, ended.Sub(created).Seconds())
	}
	if n, _ := m.histogram("canaryd_rollout_time_to_detect_seconds"); n != 1 {
		t.Errorf("time to detect observed %d times, want once (for the rollback only)", n)
	}
	for _, o := range []string{"expired", "aborted"} {
		if got := m.value("canaryd_rollouts_ended_total", "outcome", o); got != 0 {
			t.Errorf("canaryd_rollouts_ended_total{outcome=%q} %v, want 0", o, got)
		}
	}

	// The overview pages' data agrees with the metrics.
	c.waitRecord("good", func(r *record.Record) bool { return r.Settled() })
	resp, err := http.Get(a.url + "/api/v1/rollouts")
	if err != nil {
		t.Fatal(err)
	}
	l, err := report.DecodeRolloutList(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]report.Rollout{}
	for _, r := range l.Rollouts {
		byID[r.ID] = r
	}
	g, b := byID["good"], byID["bad"]
	if d, ok := g.Duration(); !ok || d != ended.Sub(created) || g.State != "succeeded" {
		t.Errorf("overview: good %s after %v (%v), want succeeded after %v", g.State, d, ok, ended.Sub(created))
	}
	if d, ok := b.TimeToDetect(); !ok || d != judged.Sub(bad.Start) {
		t.Errorf("overview: bad detected after %v (%v), want %v", d, ok, judged.Sub(bad.Start))
	}
	if d, ok := b.TimeToRollBack(); !ok || d != 0 || len(b.Latest.Failing) != 1 {
		t.Errorf("overview: bad rolled back after %v (%v), failing %v; want 0 and latency", d, ok, b.Latest.Failing)
	}
	for _, page := range []string{"/overview", "/oncall"} {
		resp, err := http.Get(a.url + page)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="analyses/bad"`) {
			t.Errorf("GET %s: %d, link to the rolled-back analysis's report: %v", page, resp.StatusCode, strings.Contains(body, `href="analyses/bad"`))
		}
	}

	// Every metric the shipped rules use exists.
	for _, name := range ruleMetrics(t) {
		if _, ok := m[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")]; !ok {
			t.Errorf("configs/rules uses %s, which canaryd does not expose", name)
		}
	}
}

// ruleMetrics returns the metric names the expressions of the shipped
// rules select, other than the rules' own recordings.
func ruleMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(promtest.RepoFile(t, "configs/rules/canaryd.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("rule %q: %v", r.Expr, err)
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && !strings.Contains(vs.Name, ":") && !slices.Contains(names, vs.Name) {
					names = append(names, vs.Name)
				}
				return nil
			})
		}
	}
	if len(names) < 8 {
		t.Fatalf("found only %v in the rules", names)
	}
	return names
}

// families are the metric families of one scrape of /metrics, by name.
type families map[string]*dto.MetricFamily

func scrape(t *testing.T, base string) families {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// matching returns the metrics of family name whose labels include the
// name-value pairs kv.
func (f families) matching(name string, kv ...string) []*dto.Metric {
	var out []*dto.Metric
	mf := f[name]
	if mf == nil {
		return nil
	}
metric:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == kv[i] && l.GetValue() == kv[i+1])
			}
			if !found {
				continue metric
			}
		}
		out = append(out, m)
	}
	return out
}

// value sums the counters or gauges of family name matching kv.
func (f families) value(name string, kv ...string) float64 {
	var v float64
	for _, m := range f.matching(name, kv...) {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

// histogram sums the observation counts and sums of family name matching
// kv.
func (f families) histogram(name string, kv ...string) (uint64, float64) {
	var (
		n   uint64
		sum float64
	)
	for _, m := range f.matching(name, kv...) {
		n += m.GetHistogram().GetSampleCount()
		sum += m.GetHistogram().GetSampleSum()
	}
	return n, sum
}
