package app

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
)

// TestReliabilityReloadInvalid reloads, in the middle of a running
// analysis, config files broken in every way a user can break one: each
// reload fails with its reason, canaryd_config_last_reload_successful is 0
// on /metrics, and the running config stays in force: the analysis is
// judged with the old template's metric, and new analyses start with it.
// A good reload afterwards does take effect (the metric is renamed), so
// the test can tell the difference.
func TestReliabilityReloadInvalid(t *testing.T) {
	s := startNATS(t)
	dir := t.TempDir()
	path := writeConfig(t, dir, testConfig)
	clock := newFakeClock()
	a := startApp(t, s, clock, path, nil)
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("rl", "v2"))
	c.waitRecord("rl", nil)

	// renamed is testConfig with the web template's metric renamed.
	renamed := strings.Replace(testConfig, "- name: latency\n        query: 'latency_seconds{service=\"{{.Service}}\",version=\"{{.Version}}\"}'\n  - name: slow",
		"- name: latency_v2\n        query: 'latency_seconds{service=\"{{.Service}}\",version=\"{{.Version}}\"}'\n  - name: slow", 1)
	if renamed == testConfig {
		t.Fatal("could not rename the metric in the test config")
	}
	tests := []struct {
		name   string
		write  func()
		reason string
	}{
		{"yaml syntax", func() { writeConfig(t, dir, "templates: [{name: web") }, "did not find expected"},
		{"invalid value", func() { writeConfig(t, dir, strings.Replace(renamed, "min_samples: 10", "min_samples: -3", 1)) }, "min_samples"},
		{"unknown field", func() { writeConfig(t, dir, strings.Replace(renamed, "min_samples: 10", "min_sample: 10", 1)) }, "unknown field"},
		{"no templates", func() { writeConfig(t, dir, "global: {}\ntemplates: []\n") }, "at least one template"},
		{"empty file", func() { writeConfig(t, dir, "") }, "empty"},
		{"invalid promql", func() {
			writeConfig(t, dir, strings.Replace(renamed, `query: 'latency_seconds{service=`, `query: 'rate(latency_seconds[{service=`, 1))
		}, "parse error"},
		{"bad prometheus url", func() { writeConfig(t, dir, strings.Replace(renamed, "http://127.0.0.1:9", "ftp://127.0.0.1:9", 1)) }, "scheme"},
		{"file removed", func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
	}
	for i, tt := range tests {
		tt.write()
		var body map[string]string
		if code := httpJSON(t, "POST", a.url+"/-/reload", "", &body); code != http.StatusInternalServerError || !strings.Contains(body["error"], tt.reason) {
			t.Errorf("%s: reload answered %d %q, want 500 with %q", tt.name, code, body["error"], tt.reason)
		}
		if got := metricLine(t, a.url, "canaryd_config_last_reload_successful"); got != "0" {
			t.Errorf("%s: canaryd_config_last_reload_successful %s on /metrics, want 0", tt.name, got)
		}
		if i > 1 {
			continue // three judgements end the analysis; the rest reload only
		}
		clock.Advance(time.Minute)
		v := next(t, verdicts)
		if v.AnalysisID != "rl" || len(v.Metrics) != 1 || v.Metrics[0].Name != "latency" || v.Verdict != analysis.Promote {
			t.Errorf("%s: judgement after the failed reload: %s %s metrics %+v, want a promote on the old metric latency", tt.name, v.AnalysisID, v.Verdict, v.Metrics)
		}
	}
	var view api.AnalysisView
	body := `{"id":"rl2","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, &view); code != http.StatusCreated {
		t.Fatalf("new analysis after the failed reloads: %d", code)
	}
	clock.Advance(time.Minute)
	for range 2 { // rl's last judgement and rl2's first, in either order
		if v := next(t, verdicts); v.Metrics[0].Name != "latency" {
			t.Errorf("%s judged with %q, want the old template's latency", v.AnalysisID, v.Metrics[0].Name)
		}
	}

	writeConfig(t, dir, renamed)
	if code := httpJSON(t, "POST", a.url+"/-/reload", "", nil); code != http.StatusOK {
		t.Fatalf("good reload: %d", code)
	}
	if got := metricLine(t, a.url, "canaryd_config_last_reload_successful"); got != "1" {
		t.Errorf("canaryd_config_last_reload_successful %s after a good reload, want 1", got)
	}
	clock.Advance(time.Minute)
	v := next(t, verdicts)
	if v.AnalysisID != "rl2" || v.Metrics[0].Name != "latency_v2" {
		t.Errorf("after the good reload: %s judged with %q, want latency_v2", v.AnalysisID, v.Metrics[0].Name)
	}
}

// metricLine returns the value of the unlabelled sample name on /metrics.
func metricLine(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for line := range strings.Lines(readAll(t, resp)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}
