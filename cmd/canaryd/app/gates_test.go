package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/rollout"
)

// The gate a CD tool reads: its first POST starts the analysis and a retry
// starts nothing; an intermediate promote and holds read as running; only
// the final promote reads as succeeded; an id holding another event's
// analysis is a conflict and an unknown id is not found.
func TestGateEndpoint(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)

	ev, _ := json.Marshal(event("", "v2"))
	gate := func(method, id, body string) (int, api.GateView, string) {
		t.Helper()
		var raw json.RawMessage
		code := httpJSON(t, method, a.url+"/api/v1/analyses/"+id+"/gate", body, &raw)
		var g api.GateView
		_ = json.Unmarshal(raw, &g)
		return code, g, strings.ReplaceAll(string(raw), `\"`, `"`)
	}
	for range 2 { // the second starts nothing
		if code, g, raw := gate("POST", "rel-1", string(ev)); code != http.StatusOK || g.Gate != rollout.GateRunning || g.Judgements != 0 || g.Step != 1 || g.Steps != 3 {
			t.Fatalf("gate before the first judgement: %d %s", code, raw)
		}
	}
	want := []rollout.Gate{rollout.GateRunning, rollout.GateRunning, rollout.GateSucceeded}
	for i, w := range want {
		clock.Advance(time.Minute)
		v := next(t, verdicts)
		code, g, raw := gate("GET", "rel-1", "")
		if code != http.StatusOK || g.Gate != w || g.Verdict != v.Verdict || g.Judgements != i+1 {
			t.Errorf("after verdict %d (%s, step %d): %d %s, want gate %s", i+1, v.Verdict, v.Step, code, raw, w)
		}
	}
	var list struct{ Analyses []api.AnalysisView }
	httpJSON(t, "GET", a.url+"/api/v1/analyses?state=succeeded", "", &list)
	if len(list.Analyses) != 1 || list.Analyses[0].Gate != rollout.GateSucceeded {
		t.Errorf("the list's gate: %+v", list.Analyses)
	}

	other, _ := json.Marshal(event("", "v3"))
	tests := []struct {
		name, method, id, body string
		code                   int
		errContains            string
	}{
		{"another revision under the id", "POST", "rel-1", string(other), http.StatusConflict, "canary v2, asked v3"},
		{"unknown analysis", "GET", "nope", "", http.StatusNotFound, `analysis "nope" not found`},
		{"not one event", "POST", "rel-2", string(ev) + "x", http.StatusBadRequest, "decode event"},
		{"id of the body not the path's", "POST", "rel-2", strings.Replace(string(ev), `"id":""`, `"id":"rel-3"`, 1), http.StatusBadRequest, "not the path's"},
		{"invalid event", "POST", "rel-2", strings.Replace(string(ev), `"template":"web"`, `"template":"nope"`, 1), http.StatusBadRequest, `template "nope" is not in the config`},
	}
	for _, tt := range tests {
		code, _, raw := gate(tt.method, tt.id, tt.body)
		if code != tt.code || !strings.Contains(raw, tt.errContains) {
			t.Errorf("%s: %d %s, want %d and %q", tt.name, code, raw, tt.code, tt.errContains)
		}
	}
}

// Flagger's webhooks: the pre-rollout hook starts the analysis of the
// revision its checksum names; confirm-traffic-increase answers once per
// step passed; confirm-promotion only after the final promote; another
// checksum (a new release) is not answered by this revision's analysis;
// a regressed revision is rolled back.
func TestFlaggerHooks(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)

	hook := func(name, checksum, metadata string) (int, string) {
		t.Helper()
		var raw json.RawMessage
		body := `{"name":"web","namespace":"prod","phase":"Progressing","checksum":"` + checksum + `","metadata":` + metadata + `}`
		code := httpJSON(t, "POST", a.url+"/api/v1/flagger/"+name, body, &raw)
		return code, string(raw)
	}
	expect := func(what, name, checksum string, want int, contains string) {
		t.Helper()
		if code, raw := hook(name, checksum, "{}"); code != want || !strings.Contains(raw, contains) {
			t.Errorf("%s: %s: %d %s, want %d and %q", what, name, code, raw, want, contains)
		}
	}

	expect("before the pre-rollout hook", "confirm-traffic-increase", "rev1", http.StatusNotFound, "pre-rollout webhook starts it")
	for range 2 { // Flagger calls it until its first traffic increase
		if code, raw := hook("pre-rollout", "rev1", `{"template":"web","baseline_version":"v1","canary_version":"v2"}`); code != http.StatusOK || !strings.Contains(raw, `"gate":"running"`) {
			t.Fatalf("pre-rollout: %d %s", code, raw)
		}
	}
	expect("start", "confirm-traffic-increase", "rev1", http.StatusOK, `"gate":"running"`)
	expect("step 1 not passed", "confirm-traffic-increase", "rev1", http.StatusForbidden, "1 traffic increase(s) confirmed, the next when step 1 of 3 passes")
	expect("step 1 not passed", "confirm-promotion", "rev1", http.StatusForbidden, "is running at step 1 of 3")
	for step := 1; step <= 2; step++ {
		clock.Advance(time.Minute)
		next(t, verdicts)
		expect("a step passed", "confirm-traffic-increase", "rev1", http.StatusOK, "")
		expect("once per step", "confirm-traffic-increase", "rev1", http.StatusForbidden, "the next when step")
		expect("an intermediate promote", "confirm-promotion", "rev1", http.StatusForbidden, "is running")
		expect("running", "rollback", "rev1", http.StatusForbidden, "no rollback")
	}
	clock.Advance(time.Minute)
	if v := next(t, verdicts); !v.Final || v.Outcome != rollout.Succeeded {
		t.Fatalf("the last verdict: %+v", v)
	}
	expect("succeeded", "confirm-traffic-increase", "rev1", http.StatusOK, `"gate":"succeeded"`)
	expect("succeeded", "confirm-promotion", "rev1", http.StatusOK, `"gate":"succeeded"`)
	expect("succeeded", "rollback", "rev1", http.StatusForbidden, "no rollback")

	// A new release: the previous revision's final promote does not answer.
	expect("a new revision", "confirm-promotion", "rev2", http.StatusNotFound, "revision rev2")
	if code, raw := hook("pre-rollout", "rev2", `{"template":"web","baseline_version":"v2","canary_version":"bad-v3"}`); code != http.StatusOK {
		t.Fatalf("pre-rollout of rev2: %d %s", code, raw)
	}
	expect("a new revision", "confirm-promotion", "rev2", http.StatusForbidden, "is running")
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Outcome != rollout.RolledBack {
		t.Fatalf("the regressed revision: %+v", v)
	}
	expect("rolled back", "rollback", "rev2", http.StatusOK, `"gate":"failed"`)
	expect("rolled back", "confirm-traffic-increase", "rev2", http.StatusForbidden, "ended rolled_back")
	expect("rolled back", "confirm-promotion", "rev2", http.StatusForbidden, "is rolled_back")

	tests := []struct {
		name, hook, body string
		want             int
		errContains      string
	}{
		{"no checksum", "confirm-promotion", `{"name":"web","namespace":"prod"}`, http.StatusBadRequest, "needs name, namespace and checksum"},
		{"not json", "rollback", `{`, http.StatusBadRequest, "decode flagger payload"},
		{"no template", "pre-rollout", `{"name":"web","namespace":"prod","checksum":"rev3","metadata":{}}`, http.StatusBadRequest, "names no template"},
		{"unknown template", "pre-rollout", `{"name":"web","namespace":"prod","checksum":"rev3","metadata":{"template":"nope"}}`, http.StatusBadRequest, `template "nope" is not in the config`},
		{"another event for the revision", "pre-rollout", `{"name":"web","namespace":"prod","checksum":"rev1","metadata":{"template":"slow"}}`, http.StatusConflict, "template web, asked slow"},
	}
	for _, tt := range tests {
		var raw json.RawMessage
		code := httpJSON(t, "POST", a.url+"/api/v1/flagger/"+tt.hook, tt.body, &raw)
		if code != tt.want || !strings.Contains(strings.ReplaceAll(string(raw), `\"`, `"`), tt.errContains) {
			t.Errorf("%s: %d %s, want %d and %q", tt.name, code, raw, tt.want, tt.errContains)
		}
	}
}
