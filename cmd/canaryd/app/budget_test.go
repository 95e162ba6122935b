package app

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/metrics/embedded"
	"github.com/canaryd/canaryd/rollout"
)

// budgetConfig judges latency_seconds every minute over two steps, each
// promotion gated on the service's SLO (99.9% over 24h, the workbook's
// paging rules); budget-rollback rolls back where budget holds.
const budgetConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: budget
    interval: 1m
    steps: [50, 100]
    min_samples: 10
    lifetime: 6m
    slo: &slo
      objective: 0.999
      window: 24h
      error_ratio: 'sum(rate(requests_total{service="{{.Service}}",code="500"}[{{.Window}}])) / sum(rate(requests_total{service="{{.Service}}"}[{{.Window}}]))'
    metrics: &metrics
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
  - name: budget-rollback
    interval: 1m
    steps: [50, 100]
    min_samples: 10
    slo:
      <<: *slo
      on_exhausted: rollback
    metrics: *metrics
  - name: budget-bake
    interval: 1m
    steps: [50, 100]
    min_samples: 10
    bake: 3m
    lifetime: 10m
    slo: *slo
    metrics: *metrics
`

// budgetServices are the error ratios of the simulated services: before
// and from the burn's start, 20 minutes before the analyses start.
var budgetServices = map[string][2]float64{
	"fine":    {0.0001, 0.0001}, // 90% of the budget left
	"spent":   {0.002, 0.002},   // twice the budget spent, burning at 2
	"burning": {0.0001, 0.05},   // burning at 50: 1h rate 16.7, 5m rate 50
	"nodata":  {-1, -1},         // no requests_total at all
	// Baked (template budget-bake): healthy throughout, or failing every
	// request from bakeBurnAt, after the final promote.
	"bakefine": {0.0001, 0.0001},
	"bakeburn": {0.0001, 1},
}

// bakeBurnAt is when bakeburn's samples start counting every request as
// failed (each sample counts the 30 s scrape before it), after the
// analyses' start: after the second judgement, whose final promote its
// budget lets through; at the third (the bake's first) a minute of
// failures makes the 1h/5m rule fire (1h burn about 16.7 > 14.4).
const bakeBurnAt = 150 * time.Second

// TestErrorBudgetGate runs the daemon with the real Prometheus provider
// against Prometheus's TSDB and PromQL engine (package metrics/embedded),
// whose series hold 25 hours of each service's requests: every canary is
// healthy, so the judge promotes each of them, and the error-budget gate
// decides: a service with budget left is promoted through its steps; one
// whose budget is spent, or burning fast, holds at its first step with
// the figures in the verdict until its lifetime rolls it back; the same
// spent budget under on_exhausted: rollback rolls back at once; and a
// service whose SLO query returns nothing holds, never promoted.
func TestErrorBudgetGate(t *testing.T) {
	clock := newFakeClock()
	from := clock.Now()
	src, err := embedded.New(embedded.Options{Dir: t.TempDir(), Retention: 26 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	// The head appends in time order: every series, step after step.
	const rps, scrape = 100.0, 30 * time.Second
	burnFrom := map[bool]time.Time{false: from.Add(-20 * time.Minute), true: from.Add(bakeBurnAt)}
	counts := map[string]*[2]float64{}
	for ts := from.Add(-25 * time.Hour); !ts.After(from.Add(10 * time.Minute)); ts = ts.Add(2 * time.Second) {
		for svc, ratios := range budgetServices {
			if !ts.Before(from.Add(-5 * time.Minute)) {
				for _, version := range []string{"v1", "v2"} {
					h := fnv.New64a()
					fmt.Fprint(h, svc, version, ts.UnixMilli())
					u := float64(h.Sum64()%1_000_000)/1_000_000*2 - 1
					if err := src.Append(ts, map[string]string{"__name__": "latency_seconds", "service": svc, "version": version}, 100*(1+0.05*u)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if ratios[0] < 0 || ts.Sub(from)%scrape != 0 {
				continue
			}
			ratio := ratios[0]
			if !ts.Before(burnFrom[svc == "bakeburn"]) {
				ratio = ratios[1]
			}
			c := counts[svc]
			if c == nil {
				c = &[2]float64{}
				counts[svc] = c
			}
			n := rps * scrape.Seconds()
			c[0] += n * (1 - ratio)
			c[1] += n * ratio
			for i, code := range []string{"200", "500"} {
				if err := src.Append(ts, map[string]string{"__name__": "requests_total", "service": svc, "code": code}, c[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	prom := httptest.NewServer(src.Handler())
	t.Cleanup(prom.Close)

	s := startNATS(t)
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), fmt.Sprintf(budgetConfig, prom.URL)), func(o *Options, _ *hooks) {
		o.Provider = nil // the real Prometheus provider of the config
	})
	c := connect(t, s)
	verdicts := published(c)
	analyses := map[string]string{"fine": "budget", "spent": "budget", "burning": "budget", "nodata": "budget", "spent-rollback": "budget-rollback",
		"bakefine": "budget-bake", "bakeburn": "budget-bake"}
	for id, tmpl := range analyses {
		e := event("b-"+id, "v2")
		e.Service, e.Template = strings.TrimSuffix(id, "-rollback"), tmpl
		c.publishEvent(e)
		c.waitRecord(e.ID, nil)
	}
	got := map[string][]record.Verdict{}
	running := len(analyses)
	for running > 0 {
		clock.Advance(time.Minute)
		for range running {
			v := next(t, verdicts)
			id := strings.TrimPrefix(v.AnalysisID, "b-")
			got[id] = append(got[id], v)
			if id == "bakefine" && v.Seq == 3 {
				// Mid-bake (persisted before published): 100%, running.
				if g := gateOf(t, a.url, v.AnalysisID); g.Gate != rollout.GateRunning || g.State != "running" {
					t.Errorf("bakefine during the bake: gate %s, state %s", g.Gate, g.State)
				}
			}
			t.Logf("%s #%d %s %v -> %v: %s", id, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Reason)
			if v.Final {
				running--
			}
		}
	}

	// Budget left: promoted through both steps, each promotion with the
	// budget's figures.
	fine := got["fine"]
	if len(fine) != 2 || fine[0].NextWeight != 100 || fine[1].Outcome != rollout.Succeeded {
		t.Fatalf("fine: %d verdicts, last %+v", len(fine), fine[len(fine)-1])
	}
	for _, v := range fine {
		b := v.Budget
		if b == nil || b.Problem != "" || b.Objective != 0.999 || b.Window != "1d" || b.Remaining < 0.85 || b.Remaining > 0.95 || len(b.Burns) != 2 || b.Burns[0].Fired {
			t.Fatalf("fine #%d: budget %+v", v.Seq, b)
		}
	}

	// Spent, or burning fast: every judgement holds at 50% with the
	// figures, until the lifetime (6 judgements) rolls back: its last
	// judgement cannot promote, so it measures nothing.
	for id, want := range map[string]string{"spent": "error budget spent: ", "burning": "error budget burning fast: "} {
		vs := got[id]
		if len(vs) != 6 {
			t.Fatalf("%s: %d verdicts, want 6 (the lifetime)", id, len(vs))
		}
		for _, v := range vs[:5] {
			if v.Verdict != analysis.Hold || v.NextWeight != 50 || v.Budget == nil || !strings.HasPrefix(v.Reason, want) ||
				!strings.Contains(v.Reason, ": hold before step 2 (weight 100%) (judged promote: ") {
				t.Fatalf("%s #%d: %s -> %v budget %+v: %s", id, v.Seq, v.Verdict, v.NextWeight, v.Budget, v.Reason)
			}
		}
		if last := vs[5]; last.Outcome != rollout.RolledBack || last.NextWeight != 0 || !strings.HasPrefix(last.Reason, "lifetime reached: rollback (judged promote: ") {
			t.Fatalf("%s: the lifetime ends it: %+v", id, last)
		}
	}
	if b := got["spent"][0].Budget; b.Remaining > -0.9 || b.Remaining < -1.1 || b.Burns[0].Fired || b.Burns[1].Fired {
		t.Errorf("spent: %+v, want about -100%% left and no rule firing", b)
	}
	if b := got["burning"][0].Budget; b.Remaining <= 0 || !b.Burns[0].Fired || b.Burns[0].ShortRate < 45 {
		t.Errorf("burning: %+v, want budget left and the 1h/5m rule firing", b)
	}

	// on_exhausted: rollback rolls back at the first promotion.
	if vs := got["spent-rollback"]; len(vs) != 1 || vs[0].Outcome != rollout.RolledBack || vs[0].Budget == nil ||
		!strings.Contains(vs[0].Reason, ": roll back before step 2 (weight 100%)") {
		t.Fatalf("spent-rollback: %+v", vs)
	}

	// The audit trail keeps the SLO's queries with the budget's verdict.
	trail := auditOf(t, a.url+"/api/v1/analyses/", "b-spent", 1000)
	if len(trail.Records) == 0 || trail.Records[0].Verdict == nil || trail.Records[0].Verdict.Budget == nil {
		t.Fatalf("spent: the first audit record carries no budget: %+v", trail.Records)
	}
	var slo []string
	for _, q := range trail.Records[0].Queries {
		if q.Role == "service" {
			slo = append(slo, q.Metric)
		}
	}
	if strings.Join(slo, " ") != "slo_1d slo_1h slo_5m slo_6h slo_30m" {
		t.Errorf("spent: the audit's SLO queries: %v", slo)
	}

	// The bake: the final promote (#2) goes to 100% and is not final; the
	// gate stays running while the bake measures the budget at every
	// judgement; three passing end the analysis succeeded (#5), and not
	// before.
	bf := got["bakefine"]
	if len(bf) != 5 || bf[1].NextWeight != 100 || bf[1].Final || !strings.HasPrefix(bf[1].Reason, "promoted to 100%: the bake begins (3 judgement(s)") {
		t.Fatalf("bakefine: %d verdicts: %+v", len(bf), bf)
	}
	for i, v := range bf[2:] {
		if v.Weight != 100 || v.NextWeight != 100 || v.Budget == nil || !v.Budget.Allows() || v.Final != (i == 2) {
			t.Fatalf("bakefine #%d: %+v", v.Seq, v)
		}
	}
	if last := bf[4]; last.Outcome != rollout.Succeeded || last.Verdict != analysis.Promote ||
		!strings.HasPrefix(last.Reason, "bake passed (3 of 3 judgement(s) at 100%): error budget: ") {
		t.Fatalf("bakefine: the bake's end: %+v", last)
	}
	// The failing service passes its final promote, then the bake's first
	// judgement finds the 1h/5m rule firing: the rollback trigger, after
	// promotion, with the figures.
	bb := got["bakeburn"]
	if len(bb) != 3 || bb[1].NextWeight != 100 || bb[1].Final {
		t.Fatalf("bakeburn: %d verdicts: %+v", len(bb), bb)
	}
	if last := bb[2]; last.Verdict != analysis.Rollback || !last.Final || last.Outcome != rollout.RolledBackAfterPromotion ||
		last.Weight != 100 || last.NextWeight != 0 || last.Budget == nil || !last.Budget.Burns[0].Fired ||
		!strings.HasPrefix(last.Reason, "bake: error budget burning fast: ") ||
		!strings.Contains(last.Reason, ": roll back after promotion (0 of 3 judgement(s) passed)") {
		t.Fatalf("bakeburn: the rollback trigger: %+v", last)
	}
	// The gate a CD tool reads, and the analysis' state.
	for id, want := range map[string]rollout.Gate{"b-bakefine": rollout.GateSucceeded, "b-bakeburn": rollout.GateFailed} {
		g := gateOf(t, a.url, id)
		if g.Gate != want {
			t.Errorf("%s: gate %s, want %s (state %s)", id, g.Gate, want, g.State)
		}
	}
	if g := gateOf(t, a.url, "b-bakeburn"); g.State != "rolled_back_after_promotion" {
		t.Errorf("b-bakeburn: state %s", g.State)
	}

	// No data: held at 50%, never promoted, saying why.
	for _, v := range got["nodata"] {
		if v.NextWeight > 50 || v.Outcome == rollout.Succeeded {
			t.Fatalf("nodata #%d promoted: %+v", v.Seq, v)
		}
		if !v.Final && (v.Budget == nil || !strings.HasPrefix(v.Reason, "error budget not measured: the error ratio over 1d returned no data")) {
			t.Fatalf("nodata #%d: %s", v.Seq, v.Reason)
		}
	}
}

// gateOf returns the CD gate of analysis id (GET .../gate).
func gateOf(t *testing.T, base, id string) api.GateView {
	t.Helper()
	var g api.GateView
	if code := httpJSON(t, "GET", base+"/api/v1/analyses/"+id+"/gate", "", &g); code != http.StatusOK {
		t.Fatalf("gate of %s: HTTP %d", id, code)
	}
	return g
}
