package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name     string
		template string
		canary   string
		verdicts []analysis.Verdict
		weights  [][2]float64 // weight, next_weight per verdict
		state    string
		gate     rollout.Gate // the gate at the end
	}{
		{
			name:     "good canary promotes through every step",
			canary:   "v2",
			verdicts: []analysis.Verdict{analysis.Promote, analysis.Promote, analysis.Promote},
			weights:  [][2]float64{{10, 50}, {50, 100}, {100, 100}},
			state:    string(rollout.Succeeded),
			gate:     rollout.GateSucceeded,
		},
		{
			name:     "lifetime ends an analysis that only holds",
			template: "slow",
			canary:   "v2",
			verdicts: []analysis.Verdict{analysis.Hold, analysis.Rollback},
			weights:  [][2]float64{{10, 10}, {10, 0}},
			state:    string(rollout.RolledBack),
			gate:     rollout.GateFailed,
		},
		{
			name:     "bad canary rolls back",
			canary:   "bad-v2",
			verdicts: []analysis.Verdict{analysis.Rollback},
			weights:  [][2]float64{{10, 0}},
			state:    string(rollout.RolledBack),
			gate:     rollout.GateFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startNATS(t)
			clock := newFakeClock()
			a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
			c := connect(t, s)
			verdicts := published(c)

			e := event("deploy-1", tt.canary)
			if tt.template != "" {
				e.Template = tt.template
			}
			c.publishEvent(e)
			c.waitRecord("deploy-1", nil)

			var v record.Verdict
			if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/deploy-1/verdict", "", &v); code != http.StatusOK || v.Verdict != analysis.Hold || v.Seq != 0 {
				t.Fatalf("verdict before the first judgement: %d %+v, want 200 and hold", code, v)
			}
			for i, want := range tt.verdicts {
				clock.Advance(time.Minute)
				v := next(t, verdicts)
				if v.AnalysisID != "deploy-1" || v.Seq != i+1 || v.Verdict != want {
					t.Fatalf("verdict %d: got %s seq %d %s (%s), want seq %d %s", i, v.AnalysisID, v.Seq, v.Verdict, v.Reason, i+1, want)
				}
				if v.Weight != tt.weights[i][0] || v.NextWeight != tt.weights[i][1] {
					t.Errorf("verdict %d: weight %v -> %v, want %v", i, v.Weight, v.NextWeight, tt.weights[i])
				}
				if final := i == len(tt.verdicts)-1; v.Final != final {
					t.Errorf("verdict %d: final %v, want %v", i, v.Final, final)
				}
				if len(v.Metrics) != 1 || v.Metrics[0].Name != "latency" || v.Reason == "" || v.Service != "web" || v.Namespace != "prod" {
					t.Errorf("verdict %d lacks its evidence: %+v", i, v)
				}
			}

			var view api.AnalysisView
			if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/deploy-1", "", &view); code != http.StatusOK {
				t.Fatalf("get analysis: %d", code)
			}
			if view.State != tt.state || len(view.History) != len(tt.verdicts) || view.Latest == nil || view.Latest.Verdict != tt.verdicts[len(tt.verdicts)-1] {
				t.Errorf("analysis over HTTP: state %s, %d verdicts, latest %+v", view.State, len(view.History), view.Latest)
			}
			if len(view.Latest.Metrics) != 1 || view.Latest.Metrics[0].Reason == "" || view.History[0].AnalysisID != "deploy-1" {
				t.Errorf("analysis over HTTP: the latest verdict lacks its evidence, or the history its ids: %+v", view)
			}
			if len(view.Queries) != 1 || view.Queries[0].Metric != "latency" ||
				!strings.Contains(view.Queries[0].Baseline, `version="v1"`) || !strings.Contains(view.Queries[0].Canary, `version="`+tt.canary+`"`) {
				t.Errorf("analysis over HTTP: queries %+v", view.Queries)
			}
			if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/deploy-1/verdict", "", &v); code != http.StatusOK || v.Seq != len(tt.verdicts) {
				t.Errorf("latest verdict over HTTP: %d seq %d", code, v.Seq)
			}
			var list struct{ Analyses []api.AnalysisView }
			httpJSON(t, "GET", a.url+"/api/v1/analyses?service=web&state="+tt.state, "", &list)
			if len(list.Analyses) != 1 {
				t.Errorf("list filtered by state %s: %d analyses, want 1", tt.state, len(list.Analyses))
			}
			httpJSON(t, "GET", a.url+"/api/v1/analyses?namespace=other", "", &list)
			if len(list.Analyses) != 0 {
				t.Errorf("list filtered by another namespace: %d analyses, want 0", len(list.Analyses))
			}

			var g api.GateView
			if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/deploy-1/gate", "", &g); code != http.StatusOK || g.Gate != tt.gate || view.Gate != tt.gate {
				t.Errorf("gate: %d %+v (view: %s), want %s", code, g, view.Gate, tt.gate)
			}
			if got := value(t, a.rmetrics.Verdicts.WithLabelValues(string(tt.verdicts[0]))); got != float64(countOf(tt.verdicts, tt.verdicts[0])) {
				t.Errorf("canaryd_verdicts_total{verdict=%q} = %v", tt.verdicts[0], got)
			}
		})
	}
}

func countOf(vs []analysis.Verdict, v analysis.Verdict) int {
	n := 0
	for _, x := range vs {
		if x == v {
			n++
		}
	}
	return n
}

func TestInvalidEventsRejected(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	rejections := stored[message.Rejection](c, message.RejectedPrefix+">")
	verdicts := published(c)

	tests := []struct {
		name, subject, body, wantSubject, wantReason string
	}{
		{"not json", "canary.deploy.prod.web", `{"id": "x",`, "canary.rejected.prod.web", "decode event"},
		{"unknown field", "canary.deploy.prod.web", `{"id":"e1","service":"web","namespace":"prod","template":"web","colour":"blue"}`, "canary.rejected.prod.web", "unknown field"},
		{"unknown template", "canary.deploy.prod.web", `{"id":"e2","service":"web","namespace":"prod","template":"nope","baseline":{"version":"v1"},"canary":{"version":"v2"}}`, "canary.rejected.prod.web", `template "nope" is not in the config`},
		{"missing version", "canary.deploy.prod.web", `{"id":"e3","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"}}`, "canary.rejected.prod.web", "latency"},
		{"subject mismatch", "canary.deploy.prod.api", `{"id":"e4","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`, "canary.rejected.prod.api", "must match its subject"},
		{"bad id", "canary.deploy.prod.web", `{"id":"a b","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`, "canary.rejected.prod.web", "id"},
		{"odd subject", "canary.deploy.x", `{}`, "canary.rejected._._", "must match its subject"},
	}
	for _, tt := range tests {
		c.publishRaw(tt.subject, []byte(tt.body))
		r := next(t, rejections)
		if r.Subject != tt.subject || !strings.Contains(r.Reason, tt.wantReason) {
			t.Errorf("%s: rejection %+v, want reason containing %q", tt.name, r, tt.wantReason)
		}
		if got := (&r).PublishedOn(); got != tt.wantSubject {
			t.Errorf("%s: rejected on %s, want %s", tt.name, got, tt.wantSubject)
		}
	}

	// The daemon still serves: over HTTP a bad request is a 400 with an
	// error, and a good event is judged.
	var errBody map[string]string
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", `{"id":"h1","service":"web"`, &errBody); code != http.StatusBadRequest || errBody["error"] == "" {
		t.Errorf("bad POST: %d %v, want 400 with an error", code, errBody)
	}
	big := `{"id":"` + strings.Repeat("a", 2<<20) + `"}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", big, &errBody); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB POST: %d, want 413", code)
	}
	var ready struct {
		Status string
		Assets []bus.Health
	}
	if code := httpJSON(t, "GET", a.url+"/-/ready", "", &ready); code != http.StatusOK || ready.Status != "ready" ||
		len(ready.Assets) != 3 || ready.Assets[0].Stream != "CANARY" || ready.Assets[2].Stream != "CANARY_AUDIT" ||
		slices.ContainsFunc(ready.Assets, func(h bus.Health) bool { return h.Status != bus.Healthy }) {
		t.Errorf("ready: %d %+v, want 200 with three healthy streams (verdicts, analyses, audit)", code, ready)
	}
	c.publishEvent(event("good-1", "v2"))
	c.waitRecord("good-1", nil)
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.AnalysisID != "good-1" || v.Verdict != analysis.Promote {
		t.Errorf("after rejections: verdict %+v", v)
	}
	if got := value(t, a.rmetrics.Events.WithLabelValues("rejected")); got != float64(len(tests)) {
		t.Errorf("rejected events: %v, want %d", got, len(tests))
	}
}

func TestDuplicateEventStartsNothing(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)

	c.publishEvent(event("dup", "v2"))
	first := c.waitRecord("dup", nil)
	c.publishEvent(event("dup", "bad-v3")) // same id, other content
	var view api.AnalysisView
	body := `{"id":"dup","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"bad-v4"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, &view); code != http.StatusOK || view.Canary.Version != "v2" {
		t.Errorf("POST of a known id: %d, canary %s; want 200 and the stored analysis (v2)", code, view.Canary.Version)
	}
	// Events are handled in order by the one consumer: once the marker's
	// analysis exists, the duplicate was handled.
	c.publishEvent(event("marker", "v2"))
	c.waitRecord("marker", nil)
	if got := value(t, a.rmetrics.Events.WithLabelValues("duplicate")); got != 2 {
		t.Errorf("duplicates counted: %v, want 2", got)
	}
	r := c.waitRecord("dup", nil)
	if r.Event.Canary.Version != "v2" || !r.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("the duplicate changed the analysis: %+v", r.Event)
	}
	clock.Advance(time.Minute)
	got := map[string]record.Verdict{}
	for range 2 {
		v := next(t, verdicts)
		if _, ok := got[v.AnalysisID]; ok {
			t.Fatalf("two verdicts for %s in one interval", v.AnalysisID)
		}
		got[v.AnalysisID] = v
	}
	if got["dup"].Verdict != analysis.Promote {
		t.Errorf("dup judged on the duplicate's content: %+v", got["dup"])
	}
	if got := value(t, a.rmetrics.Events.WithLabelValues("started")); got != 2 {
		t.Errorf("analyses started: %v, want 2 (dup and marker)", got)
	}
}

func TestAbort(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)

	var view api.AnalysisView
	body := `{"id":"ab","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, &view); code != http.StatusCreated || view.State != "running" {
		t.Fatalf("POST: %d %+v", code, view)
	}
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Seq != 1 || v.Verdict != analysis.Promote {
		t.Fatalf("first verdict %+v", v)
	}
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses/ab/abort", `{"reason":"pager"}`, &view); code != http.StatusOK || view.State != string(rollout.Aborted) {
		t.Fatalf("abort: %d %s", code, view.State)
	}
	v := next(t, verdicts)
	if v.Seq != 2 || v.Verdict != analysis.Rollback || !v.Final || v.NextWeight != 0 || v.Outcome != rollout.Aborted || !strings.Contains(v.Reason, "pager") {
		t.Errorf("abort verdict %+v", v)
	}
	c.waitRecord("ab", func(r *record.Record) bool { return r.Settled() })
	if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/nope/verdict", "", nil); code != http.StatusNotFound {
		t.Errorf("unknown analysis: %d, want 404", code)
	}
}

func TestReload(t *testing.T) {
	s := startNATS(t)
	dir := t.TempDir()
	path := writeConfig(t, dir, testConfig)
	a := startApp(t, s, newFakeClock(), path, nil)

	writeConfig(t, dir, "templates: [{name: broken")
	var errBody map[string]string
	if code := httpJSON(t, "POST", a.url+"/-/reload", "", &errBody); code != http.StatusInternalServerError || errBody["error"] == "" {
		t.Errorf("bad reload: %d %v, want 500 with an error", code, errBody)
	}
	if got := value(t, a.metrics.reloadSuccess); got != 0 {
		t.Errorf("reload gauge after a bad config: %v", got)
	}
	if a.config().Template("web") == nil {
		t.Fatal("the running config was lost")
	}
	body := `{"id":"r1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
		t.Errorf("POST with the old config: %d", code)
	}

	writeConfig(t, dir, testConfig+`
  - name: api
    interval: 1m
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`)
	if code := httpJSON(t, "POST", a.url+"/-/reload", "", nil); code != http.StatusOK {
		t.Fatalf("good reload: %d", code)
	}
	if got := value(t, a.metrics.reloadSuccess); got != 1 {
		t.Errorf("reload gauge after a good config: %v", got)
	}
	body = strings.Replace(strings.Replace(body, `"r1"`, `"r2"`, 1), `"template":"web"`, `"template":"api"`, 1)
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
		t.Errorf("POST with the new template: %d", code)
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/-/reload", http.StatusMethodNotAllowed},
		{"DELETE", "/api/v1/analyses/r1", http.StatusMethodNotAllowed},
		{"GET", "/api/v2/analyses", http.StatusNotFound},
		{"GET", "/api/v1/analyses?state=finished", http.StatusBadRequest},
	} {
		var errBody map[string]string
		if code := httpJSON(t, tt.method, a.url+tt.path, "", &errBody); code != tt.want || errBody["error"] == "" {
			t.Errorf("%s %s: %d %v, want %d with a JSON error", tt.method, tt.path, code, errBody, tt.want)
		}
	}
	var m strings.Builder
	resp, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Fprint(&m, resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %s", m.String())
	}
}
