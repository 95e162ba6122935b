package configs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs/spec"
)

// TestLoadInvalid holds the text a user sees for every broken file in
// testdata: every problem of a file in one run, each with its line and field.
func TestLoadInvalid(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string // each problem, in order, exactly as a user sees it
	}{
		{"invalid-durations.yml", []string{
			`testdata/invalid-durations.yml:3: templates[0].interval: must be positive, got "-1m"`,
			`testdata/invalid-durations.yml:4: templates[0].step: must be a duration such as 30s, 1m or 1h30m, got "2 seconds"`,
			`testdata/invalid-durations.yml:5: templates[0].lifetime: must be a duration such as 30s, 1m or 1h30m, got "10"`,
			"testdata/invalid-durations.yml:6: templates[0].confidence: must be in (0.5, 1), got 1.5",
			`testdata/invalid-durations.yml:13: templates[0].metrics[0].burn_rate.windows[0].short: must be positive, got "-5s"`,
			"testdata/invalid-durations.yml:14: templates[0].metrics[0].burn_rate.windows[1]: needs 0 < short <= long, got long 0s, short 5s",
		}},
		{"invalid-empty.yml", []string{
			"testdata/invalid-empty.yml: the file is empty: a config needs at least one template",
		}},
		{"invalid-nats-limits.yml", []string{
			"testdata/invalid-nats-limits.yml:3: global.nats.stream_max_age: must be at least 1h, got 10m",
			"testdata/invalid-nats-limits.yml:4: global.nats.stream_max_bytes: must be 0 (no bound) or at least 1MiB, got 1KiB",
		}},
		{"invalid-audit.yml", []string{
			"testdata/invalid-audit.yml:3: global.audit.retention: must be at least 1h, got 30m",
			`testdata/invalid-audit.yml:4: global.audit.stream: "canary.audit" must be letters, digits, - and _ only`,
		}},
		{"invalid-nats-cluster.yml", []string{
			"testdata/invalid-nats-cluster.yml:3: global.nats.url: \"nats://\" is not a URL such as nats://host:4222 (several: separated by commas)",
			"testdata/invalid-nats-cluster.yml:4: global.nats.replicas: must be 1, 3 or 5 (an odd number of servers keeps a majority), got 2",
		}},
		{"invalid-no-templates.yml", []string{
			"testdata/invalid-no-templates.yml:4: templates: a config needs at least one template",
		}},
		{"invalid-bake.yml", []string{
			"testdata/invalid-bake.yml:3: templates[0].bake: the bake watches the service's error budget: it needs an slo",
			`testdata/invalid-bake.yml:8: templates[1].bake: must be positive, got "-5m"`,
			"testdata/invalid-bake.yml:18: templates[2].lifetime: 20m allows 20 judgements of 1m, fewer than the steps and the bake need (2 × 3 + 30 for bake 30m)",
		}},
		{"invalid-slo.yml", []string{
			"testdata/invalid-slo.yml:3: templates[0].lifetime_outcome: promote would pass the error-budget gate (slo) without measuring the budget; use rollback or hold with an slo",
			"testdata/invalid-slo.yml:4: templates[0].slo.total: good needs total",
			"testdata/invalid-slo.yml:5: templates[0].slo.objective: must be in (0, 1), got 1.5",
			"testdata/invalid-slo.yml:9: templates[0].slo.burn_windows[0].long: 6h is longer than the SLO window (2h)",
			`testdata/invalid-slo.yml:10: templates[0].slo.on_exhausted: must be hold or rollback, got "ignore"`,
			"testdata/invalid-slo.yml:13: templates[0].metrics[0].query: {{.Window}} is for the SLO's queries (slo), not a metric's",
			"testdata/invalid-slo.yml:16: templates[1].slo.error_ratio: give error_ratio or good and total, not both",
			"testdata/invalid-slo.yml:22: templates[2].slo: an SLO needs error_ratio, or good and total",
			"testdata/invalid-slo.yml:28: templates[3].slo.error_ratio: the SLO's queries need {{.Window}}, the window measured (e.g. rate(...[{{.Window}}]))",
			"testdata/invalid-slo.yml:28: templates[3].slo.error_ratio: the SLO is the whole service's: its queries cannot use {{.Role}} or {{.Version}}",
		}},
		{"invalid-threshold.yml", []string{
			"testdata/invalid-threshold.yml:4: templates[0].metrics[0].threshold: test: threshold needs threshold.min or threshold.max",
		}},
		{"invalid-types.yml", []string{
			`testdata/invalid-types.yml:4: global.prometheus.timeout: must be a duration such as 30s, 1m or 1h30m, got "soon"`,
			"testdata/invalid-types.yml:5: global.prometheus.basic_auth.pasword: unknown field (did you mean password?)",
			`testdata/invalid-types.yml:8: templates[0].steps[1]: must be a number, got "half"`,
			`testdata/invalid-types.yml:9: templates[0].scoring: must be a mapping of fields, got "high"`,
			`testdata/invalid-types.yml:13: templates[0].metrics[0].weight: must be a number, got "heavy"`,
			`testdata/invalid-types.yml:14: templates[0].metrics[0].dry_run: must be true or false, got "maybe"`,
			"testdata/invalid-types.yml:15: templates[0].metrics[0].critical: must be true or false, got a list",
			`testdata/invalid-types.yml:16: templates[0].metrics[1]: must be a mapping of fields, got "not a metric"`,
			`testdata/invalid-types.yml:18: templates[0].metrics[2].query: metric "memory": query template uses {{.Servce}}, which does not exist (known: .Service, .Namespace, .Role, .Version, .Interval, .Window (SLO queries only), .Vars)`,
			"testdata/invalid-types.yml:19: templates[0].metrics[2].confidence: unknown field (known: aggregate, allowed_change, burn_rate, critical, direction, dry_run, min_samples, name, nan_policy, query, scale, shape, test, threshold, weight)",
		}},
		{"invalid-unknown-field.yml", []string{
			"testdata/invalid-unknown-field.yml:4: templates[0].confidence: must be in (0.5, 1), got 1.5",
			"testdata/invalid-unknown-field.yml:8: templates[0].metrics[0].alowed_change: unknown field (did you mean allowed_change?)",
			"testdata/invalid-unknown-field.yml:11: templates[0].metrics[1].treshold: unknown field (did you mean threshold?)",
			"testdata/invalid-unknown-field.yml:12: templates[0].metrics[1].colour: unknown field (known: aggregate, allowed_change, burn_rate, critical, direction, dry_run, min_samples, name, nan_policy, query, scale, shape, test, threshold, weight)",
		}},
		{"invalid-values.yml", []string{
			"testdata/invalid-values.yml:4: templates[0].steps[1]: weights must increase, got 25 after 50",
			"testdata/invalid-values.yml:5: templates[0].scoring.marginal: must be in [0, pass=60], got 80",
			`testdata/invalid-values.yml:8: templates[0].metrics[0].query: metric "latency_p99": parse query template: template: latency_p99:1: bad character U+007D '}'`,
			`testdata/invalid-values.yml:9: templates[0].metrics[0].direction: must be increase, decrease or either, got "up"`,
			"testdata/invalid-values.yml:10: templates[0].metrics[0].allowed_change: must be a finite number >= 0 (and < 1 when a decrease is bad), got -1",
			`testdata/invalid-values.yml:11: templates[0].metrics[1].name: duplicate metric name "latency_p99"`,
			`testdata/invalid-values.yml:13: templates[0].metrics[1].test: must be paired, mann-whitney, burn-rate or threshold, got "t-test"`,
		}},
		{"invalid-staleness.yml", []string{
			"testdata/invalid-staleness.yml:4: templates[0].max_sample_age: must be at least 1s (above the scrape interval), got 500ms",
			`testdata/invalid-staleness.yml:5: templates[0].max_canary_stale: must be positive, got "-1m"`,
			"testdata/invalid-staleness.yml:7: templates[0].max_lag: 20m is longer than the lifetime (10m): a judgement would wait past the analysis' end",
		}},
		{"invalid-warmup.yml", []string{
			"testdata/invalid-warmup.yml:4: templates[0].warmup: 11m rounds up to 3 intervals of 5m, which leaves nothing of the lifetime (15m) to judge",
		}},
		{"invalid-zeros.yml", []string{
			"testdata/invalid-zeros.yml:3: templates[0].interval: must be positive, got 0s (leave the field out for the default, 1m)",
			"testdata/invalid-zeros.yml:4: templates[0].judgements_per_step: must not be 0 (leave the field out for the default, 1)",
			"testdata/invalid-zeros.yml:5: templates[0].confidence: must not be 0 (leave the field out for the default, 0.95)",
			"testdata/invalid-zeros.yml:6: templates[0].min_samples: must not be 0 (leave the field out for the default, 20)",
			"testdata/invalid-zeros.yml:10: templates[0].metrics[0].min_samples: must not be 0 (leave the field out for the default, 20)",
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", c.file))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("LoadFile: %v, want Problems", err)
			}
			got := make([]string, len(ps))
			for i, p := range ps {
				got[i] = p.Error()
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestLoadExampleAndDefaults(t *testing.T) {
	cfg, err := LoadFile("example.yml")
	if err != nil {
		t.Fatalf("example.yml: %v", err)
	}
	tm := cfg.Template("web")
	if tm == nil {
		t.Fatal("no template web")
	}
	if tm.Confidence != spec.DefaultConfidence || tm.MinSamples != spec.DefaultMinSamples || tm.JudgementsPerStep != 1 {
		t.Errorf("defaults not applied: %+v", tm)
	}
	byName := map[string]*spec.Metric{}
	for i := range tm.Metrics {
		byName[tm.Metrics[i].Name] = &tm.Metrics[i]
	}
	if m := byName["latency_p50"]; m.Test != spec.TestPaired || m.Direction != spec.DirectionIncrease || !m.IsCritical() || m.WeightOrDefault() != 1 || m.QueryTemplate() == nil {
		t.Errorf("latency_p50 defaults: %+v", m)
	}
	if m := byName["memory"]; m.IsCritical() {
		t.Errorf("memory: critical: false not kept")
	}

	minimal, err := Load("templates: [{name: t, metrics: [{name: m, query: up, test: burn-rate}]}]")
	if err != nil {
		t.Fatal(err)
	}
	mt := minimal.Templates[0]
	if time := mt.Interval.String(); time != "1m" {
		t.Errorf("default interval %s, want 1m", time)
	}
	if mt.MaxJudgements() != 11 {
		t.Errorf("default lifetime allows %d judgements, want 11", mt.MaxJudgements())
	}
	br := mt.Metrics[0].BurnRate
	if br == nil || br.Objective != spec.DefaultSLOObjective || len(br.Windows) != 4 {
		t.Fatalf("burn-rate defaults: %+v", br)
	}
	// The workbook's 3-day long window scales to the 1m interval, 1h to 5/6 s.
	if got := br.Windows[3].Long.String(); got != "1m" {
		t.Errorf("longest window %s, want 1m", got)
	}
	if br.Windows[0].Threshold != 14.4 || br.Windows[3].Threshold != 1 {
		t.Errorf("workbook thresholds not kept: %+v", br.Windows)
	}
}

func TestNATSSecretFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nats-password"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "canaryd.yml")
	body := "global:\n  nats:\n    url: nats://nats:4222\n    user: canaryd\n    password_file: nats-password\ntemplates: [{name: t, metrics: [{name: m, query: up}]}]\n"
	if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	password, token, err := cfg.Global.NATS.Secrets()
	if err != nil || password != "s3cret" || token != "" {
		t.Errorf("Secrets() = %q, %q, %v; want the file's password, relative to the config file", password, token, err)
	}

	_, err = Load("global:\n  nats: {url: 'nats://n:4222', user: u, password: p, password_file: f}\ntemplates: [{name: t, metrics: [{name: m, query: up}]}]\n")
	if err == nil || !strings.Contains(err.Error(), "use either password or password_file") {
		t.Errorf("password and password_file together: %v", err)
	}
}

func TestNATSStreamLimits(t *testing.T) {
	const tmpl = "templates:\n  - name: web\n    metrics:\n      - name: up\n        query: up\n"
	cfg, err := Load("global:\n  nats:\n    stream_max_age: 36h\n    stream_max_bytes: 10GiB\n" + tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Global.NATS; n.StreamMaxAgeOrDefault() != 36*time.Hour || n.StreamMaxBytes != 10<<30 {
		t.Errorf("limits: max age %v, max bytes %d", n.StreamMaxAgeOrDefault(), n.StreamMaxBytes)
	}
	cfg, err = Load(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Global.NATS; n.StreamMaxAgeOrDefault() != time.Duration(DefaultStreamMaxAge) || n.StreamMaxBytes != 0 {
		t.Errorf("defaults: max age %v, max bytes %d", n.StreamMaxAgeOrDefault(), n.StreamMaxBytes)
	}
	if _, err := Load("global:\n  nats:\n    stream_max_bytes: lots\n" + tmpl); err == nil || !strings.Contains(err.Error(), `invalid size "lots"`) {
		t.Errorf("a size without unit: %v", err)
	}
}

// TestSLODefaults: an SLO takes the burn-rate test's objective, a 30-day
// window, the workbook's paging rules unscaled, and holds; good and total
// make the error ratio 1 − good/total.
// TestBakeDefaults: a bake is ceil(bake / interval) judgements, and the
// default lifetime makes room for them.
func TestBakeDefaults(t *testing.T) {
	cfg, err := Load(`templates:
  - name: t
    interval: 2m
    steps: [50, 100]
    judgements_per_step: 2
    bake: 7m
    slo:
      error_ratio: 'sum(rate(errors_total[{{.Window}}])) / sum(rate(requests_total[{{.Window}}]))'
    metrics: [{name: m, query: up}]
  - name: none
    metrics: [{name: m, query: up}]
`)
	if err != nil {
		t.Fatal(err)
	}
	tp := cfg.Templates[0]
	if tp.BakeJudgements() != 4 || tp.MaxJudgements() != 2*2+4+10 {
		t.Errorf("bake 7m / 2m: %d judgements, lifetime %d judgements; want 4 and 18", tp.BakeJudgements(), tp.MaxJudgements())
	}
	if n := cfg.Templates[1].BakeJudgements(); n != 0 {
		t.Errorf("no bake: %d judgements", n)
	}
}

func TestSLODefaults(t *testing.T) {
	cfg, err := Load(`templates:
  - name: t
    slo:
      good: 'sum(rate(ok_total{service="{{.Service}}"}[{{.Window}}]))'
      total: 'sum(rate(all_total{service="{{.Service}}"}[{{.Window}}]))'
    metrics: [{name: m, query: up}]
`)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Templates[0].SLO
	if s.Objective != spec.DefaultSLOObjective || s.Window.String() != "30d" || s.OnExhausted != spec.BudgetHold {
		t.Errorf("SLO defaults: %+v", s)
	}
	want := []spec.BurnWindow{
		{Long: model.Duration(time.Hour), Short: model.Duration(5 * time.Minute), Threshold: 14.4},
		{Long: model.Duration(6 * time.Hour), Short: model.Duration(30 * time.Minute), Threshold: 6},
	}
	if !slices.Equal(s.BurnWindows, want) {
		t.Errorf("burn windows %+v, want %+v", s.BurnWindows, want)
	}
	var ws []string
	for _, w := range s.Windows() {
		ws = append(ws, w.String())
	}
	if got := strings.Join(ws, " "); got != "30d 1h 5m 6h 30m" {
		t.Errorf("windows measured: %s", got)
	}
	got, err := s.ErrorRatioTemplate().Render(spec.QueryData{Service: "web", Window: "1h"})
	if err != nil || got != `1 - ((sum(rate(ok_total{service="web"}[1h]))) / (sum(rate(all_total{service="web"}[1h]))))` {
		t.Errorf("error ratio %q, %v", got, err)
	}
}
