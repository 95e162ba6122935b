package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
	"github.com/canaryd/canaryd/rollout/bus"
)

// TestCheckConfig holds check-config's whole output for a good file, a file
// with several mistakes at once and a file with invalid PromQL, run together
// as promtool would be.
func TestCheckConfig(t *testing.T) {
	t.Chdir(repoFile(t, "."))
	code, out, _ := runCLI(t, "", "check-config", "configs/example.yml", "configs/testdata/invalid-unknown-field.yml", "configs/check/testdata/invalid-promql.yml", "configs/check/testdata/warnings.yml")
	want := `configs/example.yml: SUCCESS: 1 template(s), 6 metric(s)
configs/testdata/invalid-unknown-field.yml: FAILED: 4 problem(s)
  configs/testdata/invalid-unknown-field.yml:4: templates[0].confidence: must be in (0.5, 1), got 1.5
  configs/testdata/invalid-unknown-field.yml:8: templates[0].metrics[0].alowed_change: unknown field (did you mean allowed_change?)
  configs/testdata/invalid-unknown-field.yml:11: templates[0].metrics[1].treshold: unknown field (did you mean threshold?)
  configs/testdata/invalid-unknown-field.yml:12: templates[0].metrics[1].colour: unknown field (known: aggregate, allowed_change, burn_rate, critical, direction, dry_run, min_samples, name, nan_policy, query, scale, shape, test, threshold, weight)
configs/check/testdata/invalid-promql.yml: FAILED: 3 problem(s)
  configs/check/testdata/invalid-promql.yml:5: templates[0].metrics[0].query: invalid PromQL: 1:33: parse error: unexpected character in duration expression: '{' (rendered for the baseline with sample values: histogram_quantile(0.99, rate(x[{service="service"}[1m])))
  configs/check/testdata/invalid-promql.yml:9: templates[0].metrics[2].query: invalid PromQL: 1:64: parse error: unclosed left parenthesis (rendered for the baseline with sample values: sum(rate(errors{cluster="value"}[1m])) / sum(rate(requests[1m]))
  configs/check/testdata/invalid-promql.yml:11: templates[0].metrics[3].query: the query gives a matrix; a judgement needs an instant vector or a scalar per step (rendered for the baseline with sample values: http_requests_total{service="service",version="v1"}[5m])
configs/check/testdata/warnings.yml: SUCCESS: 2 template(s), 4 metric(s)
  warning: configs/check/testdata/warnings.yml:2: templates[0].min_samples: 20 (the default) is more than the 10 points one interval of 10s holds at the query step 1s: the latest interval never has enough, and early judgements can only hold
  warning: configs/check/testdata/warnings.yml:7: templates[0].metrics[0].allowed_change: 0 tolerates no change at all: noise alone will hold or roll back a healthy canary; give the change you accept (e.g. 0.05 for 5%)
  warning: configs/check/testdata/warnings.yml:18: templates[1].metrics[0].min_samples: 12 is more than the 6 points one interval of 1m holds at the query step 10s: the latest interval never has enough, and early judgements can only hold
`
	if code != 1 || out != want {
		t.Errorf("exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, want)
	}
	for _, args := range [][]string{
		{"check-config"},
		{"check-config", "--service", "checkout", "configs/example.yml"},
		{"check-config", "--prometheus.url", "http://p:9090", "--var", "novalue", "configs/example.yml"},
	} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestCheckConfigPrometheus runs the example's queries against a real
// Prometheus whose series are labelled track="stable", not "baseline".
func TestCheckConfigPrometheus(t *testing.T) {
	start := time.Unix(1704067200, 0)
	var om strings.Builder
	om.WriteString("# TYPE process_cpu_seconds counter\n")
	for _, track := range []string{"stable", "canary"} {
		for i := range 41 {
			fmt.Fprintf(&om, "process_cpu_seconds_total{service=\"checkout\",namespace=\"shop\",track=%q} %d %d\n", track, 3*i, start.Unix()+int64(15*i))
		}
	}
	srv := promtest.Start(t, om.String(), promtest.Options{})
	code, out, errOut := runCLI(t, "", "check-config", "--prometheus.url", srv.URL, "--service", "checkout", "--namespace", "shop",
		"--baseline.version", "v1", "--canary.version", "v2", "--time", "2024-01-01T00:10:00Z", repoFile(t, "configs/example.yml"))
	for _, want := range []string{
		`for service "checkout" in namespace "shop" (baseline "v1", canary "v2"), interval ending 2024-01-01T00:10:00Z:`,
		"  web cpu canary: 1 series\n",
		"  web cpu baseline: NO SERIES: the query matched nothing\n" +
			"    query: sum(rate(process_cpu_seconds_total{service=\"checkout\",namespace=\"shop\",track=\"baseline\"}[1m]))\n" +
			"    process_cpu_seconds_total{namespace=\"shop\",service=\"checkout\",track=\"baseline\"}: no series with track=\"baseline\"; track has: canary, stable\n",
		"  web memory canary: NO SERIES: the query matched nothing\n" +
			"    query: sum(process_resident_memory_bytes{service=\"checkout\",namespace=\"shop\",track=\"canary\"})\n" +
			"    process_resident_memory_bytes{namespace=\"shop\",service=\"checkout\",track=\"canary\"}: no series named process_resident_memory_bytes in the window\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1: queries return nothing", code)
	}
}

// TestHelp checks that every subcommand's --help says what it does, with an
// example, and that every subcommand with an output format takes -o.
func TestHelp(t *testing.T) {
	for name := range commands() {
		code, _, help := runCLI(t, "", name, "--help")
		// An example with flags, of the command or of its subcommand
		// (canaryctl audit export --since …).
		example := regexp.MustCompile(`canaryctl ` + name + `( [a-z]+)? -`)
		if code != 0 || !strings.Contains(help, "usage: canaryctl "+name) || !strings.Contains(help, "Example") || !example.MatchString(help) {
			t.Errorf("%s --help: exit %d, want usage, a description and an example:\n%s", name, code, help)
		}
		if strings.Contains(help, "--output") && !strings.Contains(help, "-o, --output") {
			t.Errorf("%s: --output without -o", name)
		}
	}
}

// TestCheckConfigNATS compares the assets on a real NATS server with the
// config: missing ones are created at start, one that differs in what
// canaryd does not own is named, and nothing is changed.
func TestCheckConfigNATS(t *testing.T) {
	s, err := bus.StartEmbedded(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	example := repoFile(t, "configs/example.yml")
	code, out, errOut := runCLI(t, "", "check-config", "--nats.url", s.ClientURL(), example)
	want := example + ": NATS assets on " + s.ClientURL() + " (1 replica(s) configured):\n" +
		"  at start: stream CANARY: missing, created at start with 1 replica(s)\n" +
		"  at start: key-value bucket canaryd_analyses: missing, created at start with 1 replica(s)\n" +
		"  at start: audit stream CANARY_AUDIT: missing, created at start with 1 replica(s)\n"
	if code != 0 || !strings.HasSuffix(out, want) {
		t.Errorf("exit %d, output:\n%s%s\nwant it to end with:\n%s", code, out, errOut, want)
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "CANARY", Subjects: []string{"canary.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "check-config", "--nats.url", s.ClientURL(), example)
	if w := "  warning: stream CANARY uses memory storage, canaryd creates it with file storage: kept\n"; code != 0 || !strings.Contains(out, w) {
		t.Errorf("exit %d, output:\n%s\nwant %q", code, out, w)
	}
	if info, err := js.Stream(t.Context(), "CANARY"); err != nil || info.CachedInfo().Config.MaxAge != 0 {
		t.Errorf("check-config changed the stream: %v", err)
	}
	if code, out, _ = runCLI(t, "", "check-config", "--timeout", "2s", "--nats.url", "nats://127.0.0.1:1", example); code != 1 || !strings.Contains(out, "ERROR:") {
		t.Errorf("unreachable server: exit %d, output:\n%s", code, out)
	}
}
