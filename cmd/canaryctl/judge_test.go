package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayJSON(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	for file, want := range map[string]string{"healthy.json": "promote", "regressed-p99.json": "rollback"} {
		code, out, errOut := runCLI(t, "", "replay", "--config", cfg, "--template", "scenario",
			"--recording", repoFile(t, "testdata/recordings/"+file), "--output", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, errOut)
		}
		var res struct {
			Intervals []struct {
				Verdict string  `json:"verdict"`
				Score   float64 `json:"score"`
			} `json:"intervals"`
			Final struct {
				Verdict  string `json:"verdict"`
				Interval int    `json:"interval"`
				Reason   string `json:"reason"`
			} `json:"final"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, out)
		}
		if res.Final.Verdict != want || res.Final.Reason == "" {
			t.Errorf("%s: final %+v, want %s with a reason", file, res.Final, want)
		}
		if res.Final.Interval != len(res.Intervals)-1 {
			t.Errorf("%s: final interval %d, but %d intervals judged", file, res.Final.Interval, len(res.Intervals))
		}
	}
	// Text output names the verdict for a person.
	code, out, _ := runCLI(t, "", "replay", "--config", cfg, "--template", "scenario", "--recording", repoFile(t, "testdata/recordings/regressed-p99.json"))
	if code != 0 || !strings.Contains(out, "Final: ROLLBACK") || !strings.Contains(out, "latency_p99") {
		t.Errorf("text output: exit %d\n%s", code, out)
	}
}

func TestJudgeSamples(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	// One interval of the regressed recording is a samples file.
	b, err := os.ReadFile(repoFile(t, "testdata/recordings/regressed-p99.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Intervals []json.RawMessage `json:"intervals"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, string(rec.Intervals[0]), "judge", "--config", cfg, "--template", "scenario", "--samples", "-", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Verdict string  `json:"verdict"`
		Score   float64 `json:"score"`
		Reason  string  `json:"reason"`
		Metrics []struct {
			Name           string `json:"name"`
			Classification string `json:"classification"`
			PValue         any    `json:"p_value"`
			HLShift        any    `json:"hl_shift"`
			CI             []any  `json:"ci"`
			Reason         string `json:"reason"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Metrics) != 5 || res.Metrics[0].Name != "latency_p99" || len(res.Metrics[0].CI) != 2 || res.Metrics[0].Reason == "" {
		t.Errorf("metrics evidence incomplete: %+v", res.Metrics)
	}
	if res.Verdict == "promote" {
		t.Errorf("a 50%% p99 regression promoted: %s", res.Reason)
	}
}

func TestJudgeBadInput(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	for name, c := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"missing flags":    {"", []string{"judge"}, "missing --config, --template, --samples"},
		"unknown template": {"{}", []string{"judge", "--config", cfg, "--template", "nope", "--samples", "-"}, `no template "nope" (templates: scenario)`},
		"bad json":         {"{\n\"metrics\": [", []string{"judge", "--config", cfg, "--template", "scenario", "--samples", "-"}, "line 2"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, c.stdin, c.args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q, want non-zero and %q", code, errOut, c.want)
			}
		})
	}
}

// TestReplayMany replays several recordings at once, as an SRE trying new
// thresholds on a directory of past rollouts does: one line each, a tally,
// progress on standard error, and a recording that cannot be read reported
// without stopping the others.
func TestReplayMany(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	dir := repoFile(t, "testdata/recordings")
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"intervals": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "replay", "--config", cfg, "--template", "scenario", "--recording", dir, bad)
	if code != 1 {
		t.Errorf("exit %d with an unreadable recording, want 1", code)
	}
	for _, want := range []string{"healthy.json", "PROMOTE at interval", "regressed-p99.json", "ROLLBACK at interval", "bad.json", "ERROR",
		"3 recording(s): 1 rolled_back, 1 succeeded, 1 not replayed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "[3/3] replaying "+bad) {
		t.Errorf("no progress on standard error:\n%s", errOut)
	}

	// JSON: one object per recording, each the single replay's result.
	code, out, errOut = runCLI(t, "", "replay", "--config", cfg, "--template", "scenario", "-o", "json",
		filepath.Join(dir, "healthy.json"), filepath.Join(dir, "regressed-p99.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := map[string]string{"healthy.json": "promote", "regressed-p99.json": "rollback"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for _, l := range lines {
		var r struct {
			Recording string `json:"recording"`
			Result    struct {
				Final struct {
					Verdict string `json:"verdict"`
				} `json:"final"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if got := r.Result.Final.Verdict; got != want[filepath.Base(r.Recording)] {
			t.Errorf("%s: final %q, want %q", r.Recording, got, want[filepath.Base(r.Recording)])
		}
	}

	// One recording given as an argument reads as one given with --recording.
	_, single, _ := runCLI(t, "", "replay", "--config", cfg, "--template", "scenario", filepath.Join(dir, "healthy.json"))
	_, flagged, _ := runCLI(t, "", "replay", "--config", cfg, "--template", "scenario", "--recording", filepath.Join(dir, "healthy.json"))
	if single != flagged || !strings.Contains(single, "Final: PROMOTE") {
		t.Errorf("argument and flag differ:\n%s\n---\n%s", single, flagged)
	}
}
