package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
	"github.com/canaryd/canaryd/stats/oracle"
)

// recordedProvider answers each analysis' queries from its own recording,
// found by the service the query names.
type recordedProvider map[string]metrics.Provider

func (p recordedProvider) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	for svc, rp := range p {
		if strings.Contains(q.Expr, `service="`+svc+`"`) {
			return rp.Fetch(ctx, q)
		}
	}
	return metrics.Samples{}, fmt.Errorf("no recording answers %s", q.Expr)
}

// agreementPlans are rollout plans added to the recordings' template, so
// that the agreement covers every way a rollout ends: one step (the
// template's default), steps walked to success, a recording that ends
// before the plan does, and a lifetime that runs out.
var agreementPlans = map[string]string{
	"scenario": "",
	"stepped":  "    steps: [10, 25, 50, 100]\n    judgements_per_step: 2\n",
	"long":     "    steps: [10, 50, 100]\n    judgements_per_step: 4\n",
	"expiring": "    steps: [10, 100]\n    judgements_per_step: 3\n    lifetime: 20m\n    lifetime_outcome: promote\n",
	// Nobody answers: the rollout waits at the gate, holding, until the
	// timeout (3 judgements) rolls it back.
	"gated": "    steps: [10, 50, 100]\n    approvals:\n      - step: 2\n        timeout: 15m\n",
	// Every promotion gated on the service's error budget, which the
	// recording's SLO series (withBudget) say is fine, spent, burning fast
	// or unmeasured, interval by interval.
	"budget": "    steps: [10, 50, 100]\n    slo:\n      error_ratio: 'sum(rate(errors_total{service=\"{{.Service}}\"}[{{.Window}}]))'\n",
	// The same budget series, and a bake of one judgement after the final
	// promote: an odd interval's spent or burning budget rolls back after
	// promotion, an unmeasured one holds, a fine one ends it succeeded.
	"bake": "    steps: [10, 100]\n    bake: 5m\n    slo:\n      error_ratio: 'sum(rate(errors_total{service=\"{{.Service}}\"}[{{.Window}}]))'\n",
}

// withBudget returns a copy of rec with the service's SLO series of the
// budget plan (error ratios over 30d, 1h, 5m, 6h, 30m) in every interval:
// interval k's budget is fine (k%4 even), spent (k%4 == 1), burning fast
// (k%8 == 3) or measured as nothing (k%8 == 7).
func withBudget(rec *metrics.Recording) *metrics.Recording {
	out := &metrics.Recording{Version: rec.Version, Meta: rec.Meta}
	windows := []string{"30d", "1h", "5m", "6h", "30m"}
	for _, iv := range rec.Intervals {
		c := metrics.RecordedInterval{Index: iv.Index, Start: iv.Start, End: iv.End, Metrics: map[string]map[metrics.Role]metrics.Samples{}}
		maps.Copy(c.Metrics, iv.Metrics)
		ratios := map[int][]float64{0: {1e-4, 1e-4, 1e-4, 1e-4, 1e-4}, 1: {2e-3, 2e-3, 2e-3, 2e-3, 2e-3}, 3: {2e-4, 0.02, 0.03, 1e-3, 1e-3}}[iv.Index%2*(iv.Index%4)]
		for i, w := range windows {
			s := metrics.Samples{}
			if iv.Index%8 != 7 {
				s.Times, s.Values = []int64{iv.End.UnixMilli()}, []float64{ratios[i]}
			}
			c.Metrics["slo_"+w] = map[metrics.Role]metrics.Samples{metrics.Service: s}
		}
		out.Intervals = append(out.Intervals, c)
	}
	return out
}

// agreementRecordings returns every recording in testdata/ and the first
// run of every kind of the shared scenarios, by name.
func agreementRecordings(t *testing.T) map[string]*metrics.Recording {
	t.Helper()
	recs := map[string]*metrics.Recording{}
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "recordings", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in testdata/recordings: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := metrics.ReadRecording(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		recs[filepath.Base(f)] = rec
	}
	dir, err := oracle.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sample.jsonl", "sample2.jsonl"} {
		f, err := os.Open(filepath.Join(dir, "scenarios", name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		seen := map[string]bool{}
		for sc.Scan() {
			var s struct{ ID, Kind string }
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			if seen[s.Kind] {
				continue
			}
			seen[s.Kind] = true
			rec, err := metrics.ReadRecording(bytes.NewReader(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s %s: %v", name, s.ID, err)
			}
			recs[name+":"+s.ID] = rec
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// agreementBlock is the recordings' template after its name and
// interval: its metrics and settings.
func agreementBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "recordings", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "templates:\n")
	const head = "  - name: scenario\n    interval: 5m\n"
	if !ok || !strings.HasPrefix(block, head) {
		t.Fatalf("testdata/recordings/config.yml no longer starts its template with %q", head)
	}
	return strings.TrimPrefix(block, head)
}

// agreementConfig is the recordings' config with one template per plan.
func agreementConfig(t *testing.T) string {
	t.Helper()
	block := agreementBlock(t)
	var sb strings.Builder
	sb.WriteString("global:\n  prometheus:\n    url: http://127.0.0.1:9\ntemplates:\n")
	for name, plan := range agreementPlans {
		sb.WriteString("  - name: " + name + "\n    interval: 5m\n" + plan + block)
	}
	return sb.String()
}

// TestDaemonReplayReportAgree runs the daemon in-process, with the fake
// clock, over recorded providers, and holds its verdicts to replay's and
// its report to the replay's report, field by field: for every recording
// in testdata/ and a run of every kind of the shared scenarios, under
// rollout plans that end every way a rollout can.
func TestDaemonReplayReportAgree(t *testing.T) {
	recs := agreementRecordings(t)
	cfgText := agreementConfig(t)
	cfg, err := configs.Load(cfgText)
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		id, service, template, recording string
		rec                              *metrics.Recording
		got                              []record.Verdict
		final                            bool
	}
	var runs []*run
	provider := recordedProvider{}
	for name, rec := range recs {
		for tmpl := range agreementPlans {
			i := len(runs)
			r := &run{id: fmt.Sprintf("agree-%03d", i), service: fmt.Sprintf("svc-%03d", i), template: tmpl, recording: name, rec: rec}
			if tmpl == "budget" || tmpl == "bake" {
				r.rec = withBudget(rec)
			}
			runs = append(runs, r)
			provider[r.service] = r.rec.Provider()
		}
	}
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), cfgText), func(o *Options, _ *hooks) { o.Provider = provider })
	c := connect(t, s)
	verdicts := published(c)
	byID := map[string]*run{}
	for _, r := range runs {
		byID[r.id] = r
		e := event(r.id, "v2")
		e.Service, e.Namespace, e.Template = r.service, "agree", r.template
		c.publishEvent(e)
	}
	for _, r := range runs {
		c.waitRecord(r.id, nil)
	}
	// Judge interval after interval while some recording has one left:
	// every analysis not ended issues exactly one verdict per interval.
	maxIntervals := 0
	for _, rec := range recs {
		maxIntervals = max(maxIntervals, len(rec.Intervals))
	}
	for k := range maxIntervals {
		running := 0
		for _, r := range runs {
			if !r.final && k < len(r.rec.Intervals) {
				running++
			}
		}
		if running == 0 {
			break
		}
		clock.Advance(5 * time.Minute)
		for range running {
			v := next(t, verdicts)
			r := byID[v.AnalysisID]
			if r == nil || r.final || v.Seq != len(r.got)+1 {
				t.Fatalf("interval %d: unexpected verdict %s #%d", k, v.AnalysisID, v.Seq)
			}
			r.got = append(r.got, v)
			r.final = v.Final
		}
	}

	// The plans and recordings must end rollouts every way there is, or
	// the agreement below proves less than it says.
	endings := map[string]bool{}
	for _, r := range runs {
		last := r.got[len(r.got)-1]
		endings[string(last.Outcome)] = endings[string(last.Outcome)] || last.Final
		if !last.Final {
			endings["recording ended"] = true
		}
		if strings.HasPrefix(last.Reason, "lifetime reached") {
			endings["lifetime"] = true
		}
		if strings.HasPrefix(last.Reason, "no approval to enter") {
			endings["approval timeout"] = true
		}
		if strings.HasPrefix(last.Reason, "bake passed") && last.Outcome == rollout.Succeeded {
			endings["bake passed"] = true
		}
		for _, v := range r.got {
			endings["awaiting approval"] = endings["awaiting approval"] || v.AwaitingApproval
			if v.Budget != nil {
				endings["budget "+budgetState(v.Budget)] = true
			}
		}
	}
	for _, want := range []string{"succeeded", "rolled_back", "recording ended", "lifetime", "awaiting approval", "approval timeout",
		"budget fine", "budget spent", "budget burning fast", "budget not measured", "bake passed", "rolled_back_after_promotion"} {
		if !endings[want] {
			t.Errorf("no run ended by %s (endings: %v)", want, endings)
		}
	}

	src := a.api
	for _, r := range runs {
		t.Run(r.recording+"/"+r.template, func(t *testing.T) {
			tmpl := cfg.Template(r.template)
			res, err := analysis.Replay(t.Context(), tmpl, r.rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.got) != len(res.Verdicts) {
				t.Fatalf("the daemon issued %d verdicts, replay %d (%s)", len(r.got), len(res.Verdicts), res.Final.Summary)
			}
			for i := range r.got {
				got := &r.got[i]
				want := message.NewVerdict(r.id, r.service, "agree", res.Verdicts[i].Decision, &res.Intervals[i], got.IssuedAt)
				gb, err1 := got.AppendJSON(nil)
				wb, err2 := want.AppendJSON(nil)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if !bytes.Equal(gb, wb) {
					t.Fatalf("verdict #%d:\ndaemon %s\nreplay %s", i+1, gb, wb)
				}
			}
			if last := r.got[len(r.got)-1]; last.Final == res.Final.RecordingEnded || last.Outcome != res.Final.Outcome {
				t.Errorf("daemon ended %v (%q), replay: %s", last.Final, last.Outcome, res.Final.Summary)
			}

			// The daemon's report and the replay's show the same judgements.
			d, err := src.Report(t.Context(), r.id)
			if err != nil {
				t.Fatal(err)
			}
			rd := report.FromReplay(report.Replay{Template: tmpl, Recording: r.rec, Result: res})
			wantState := rd.State
			if res.Final.RecordingEnded {
				wantState = "running" // the daemon goes on judging
			}
			if d.State != wantState {
				t.Errorf("report state: daemon %q, replay %q", d.State, rd.State)
			}
			if len(d.Timeline) != len(rd.Timeline) {
				t.Fatalf("report timelines: daemon %d judgements, replay %d", len(d.Timeline), len(rd.Timeline))
			}
			for i := range d.Timeline {
				// The bucket keeps the evidence of the latest verdict only
				// (every verdict's is on the stream, checked above).
				withMetrics := len(d.Timeline[i].Metrics) > 0
				if i == len(d.Timeline)-1 && !withMetrics {
					t.Errorf("the daemon's report lacks the latest judgement's evidence")
				}
				if g, w := timelineKey(&d.Timeline[i], withMetrics), timelineKey(&rd.Timeline[i], withMetrics); g != w {
					t.Fatalf("report judgement %d:\ndaemon %s\nreplay %s", i, g, w)
				}
			}
		})
	}
}

// budgetState names what budget b did to its promotion.
func budgetState(b *rollout.Budget) string {
	switch {
	case b.Problem != "":
		return "not measured"
	case b.Exhausted():
		return "spent"
	case b.FastBurn():
		return "burning fast"
	}
	return "fine"
}

// timelineKey is what a report shows of a judgement, as JSON: everything
// but the window's wall-clock times and the queries (the daemon shows the
// queries once per analysis, a replay has the recording's); the metrics
// only withMetrics.
func timelineKey(j *report.Judgement, withMetrics bool) string {
	var ms []analysis.MetricResult
	if withMetrics {
		ms = append(ms, j.Metrics...)
	}
	for i := range ms {
		ms[i].BaselineQuery, ms[i].CanaryQuery = "", ""
	}
	b, err := json.Marshal(struct {
		Seq, Interval, Step int
		Weight, NextWeight  float64
		Verdict             analysis.Verdict
		Final               bool
		Outcome             string
		Score               analysis.Float
		Reason              string
		Metrics             []analysis.MetricResult
		AwaitingApproval    bool
		Approval            *rollout.Approval
		Budget              *rollout.Budget
	}{j.Seq, j.Interval, j.Step, j.Weight, j.NextWeight, j.Verdict, j.Final, string(j.Outcome), j.Score, j.Reason, ms, j.AwaitingApproval, j.Approval, j.Budget})
	if err != nil {
		return err.Error()
	}
	return string(b)
}
