package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	tests := []struct {
		recording string
		state     string
		verdict   string
	}{
		{"regressed-p99.json", "rolled_back", "rollback"},
		{"healthy.json", "succeeded", "promote"},
	}
	for _, tt := range tests {
		t.Run(tt.recording, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.html")
			code, stdout, stderr := runCLI(t, "", "report", "--config", cfg, "--template", "scenario",
				"--recording", repoFile(t, "testdata/recordings/"+tt.recording), "--out", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "wrote "+out+": "+tt.state) || !strings.Contains(stdout, "final verdict "+tt.verdict) {
				t.Errorf("stdout %q", stdout)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			for _, want := range []string{`data-state="` + tt.state + `"`, `data-final-verdict="` + tt.verdict + `"`, `data-metric="latency_p99"`, "replay of " + tt.recording} {
				if !strings.Contains(page, want) {
					t.Errorf("report lacks %s", want)
				}
			}
			if strings.Contains(page, "<script") {
				t.Error("report has a script")
			}
			// Nothing but the report is left in the directory.
			entries, err := os.ReadDir(filepath.Dir(out))
			if err != nil || len(entries) != 1 {
				t.Errorf("directory holds %v (%v), want only report.html", entries, err)
			}
		})
	}
}

func TestReportStdout(t *testing.T) {
	rec, err := os.ReadFile(repoFile(t, "testdata/recordings/regressed-p99.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, string(rec), "report", "--config", repoFile(t, "testdata/recordings/config.yml"),
		"--template", "scenario", "--recording", "-", "--out", "-")
	if code != 0 || !strings.HasPrefix(stdout, "<!DOCTYPE html>") || !strings.Contains(stdout, "replay of standard input") {
		t.Errorf("exit %d, stderr %q, stdout starts %q", code, stderr, stdout[:min(len(stdout), 40)])
	}
}

func TestReportErrors(t *testing.T) {
	cfg := repoFile(t, "testdata/recordings/config.yml")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"intervals":[{"metrics":{"latency_p99":{"baseline":[1,2],"canary":"x"}}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "keep.html")
	if err := os.WriteFile(existing, []byte("previous report"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing flags", []string{"--config", cfg}, 2, "missing --template, --recording, --out"},
		{"unknown template", []string{"--config", cfg, "--template", "nope", "--recording", bad, "--out", existing}, 1, `no template "nope" (templates: scenario)`},
		{"bad recording", []string{"--config", cfg, "--template", "scenario", "--recording", bad, "--out", existing}, 1, "bad.json: "},
		{"missing recording", []string{"--config", cfg, "--template", "scenario", "--recording", filepath.Join(dir, "none.json"), "--out", existing}, 1, "none.json"},
		{"unwritable output", []string{"--config", cfg, "--template", "scenario", "--recording", repoFile(t, "testdata/recordings/healthy.json"), "--out", filepath.Join(dir, "no", "such", "dir.html")}, 1, "write report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", append([]string{"report"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	// A failed run leaves an existing report as it was.
	if b, err := os.ReadFile(existing); err != nil || string(b) != "previous report" {
		t.Errorf("existing report now %q (%v)", b, err)
	}
}

// TestReplayAndReportAgree holds canaryctl replay and canaryctl report to
// the same rollout on every recording in testdata/: the same outcome (or
// the same "recording ended"), the same number of judgements, the same
// verdict at each, under the template's one-step plan and a stepped plan
// longer than the recordings.
func TestReplayAndReportAgree(t *testing.T) {
	base, err := os.ReadFile(repoFile(t, "testdata/recordings/config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	stepped := strings.Replace(string(base), "  - name: scenario\n    interval: 5m\n",
		"  - name: stepped\n    interval: 5m\n    steps: [10, 25, 50, 100]\n    judgements_per_step: 3\n", 1)
	if stepped == string(base) {
		t.Fatal("testdata/recordings/config.yml no longer starts its template as this test expects")
	}
	cfgs := map[string]string{"scenario": repoFile(t, "testdata/recordings/config.yml"), "stepped": filepath.Join(t.TempDir(), "stepped.yml")}
	if err := os.WriteFile(cfgs["stepped"], []byte(stepped), 0o644); err != nil {
		t.Fatal(err)
	}
	recordings, _ := filepath.Glob(repoFile(t, "testdata/recordings/*.json"))
	if len(recordings) == 0 {
		t.Fatal("no recordings in testdata/recordings")
	}
	ended := false
	for _, rec := range recordings {
		for tmpl, cfg := range cfgs {
			t.Run(filepath.Base(rec)+"/"+tmpl, func(t *testing.T) {
				code, stdout, stderr := runCLI(t, "", "replay", "--config", cfg, "--template", tmpl, "--recording", rec, "--output", "json")
				if code != 0 {
					t.Fatalf("replay: exit %d: %s", code, stderr)
				}
				var res struct {
					Verdicts []struct {
						Seq     int    `json:"seq"`
						Verdict string `json:"verdict"`
					} `json:"verdicts"`
					Final struct {
						Verdict        string `json:"verdict"`
						Outcome        string `json:"outcome"`
						RecordingEnded bool   `json:"recording_ended"`
						Judgements     int    `json:"judgements"`
						Summary        string `json:"summary"`
					} `json:"final"`
				}
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatal(err)
				}
				if res.Final.RecordingEnded == (res.Final.Outcome != "") || res.Final.Judgements != len(res.Verdicts) {
					t.Fatalf("replay final %+v after %d verdicts", res.Final, len(res.Verdicts))
				}
				ended = ended || res.Final.RecordingEnded
				out := filepath.Join(t.TempDir(), "report.html")
				code, stdout, stderr = runCLI(t, "", "report", "--config", cfg, "--template", tmpl, "--recording", rec, "--out", out)
				if code != 0 {
					t.Fatalf("report: exit %d: %s", code, stderr)
				}
				if want := "wrote " + out + ": " + res.Final.Summary + ", final verdict " + res.Final.Verdict + "\n"; stdout != want {
					t.Errorf("report says %q, replay %q", stdout, want)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				page := string(b)
				state := res.Final.Outcome
				if res.Final.RecordingEnded {
					state = "recording_ended"
				}
				if !strings.Contains(page, `data-state="`+state+`"`) {
					t.Errorf("the report's state is not %s", state)
				}
				rows := regexp.MustCompile(`<tr class="judgement" data-seq="(\d+)" data-verdict="(\w+)">`).FindAllStringSubmatch(page, -1)
				if len(rows) != len(res.Verdicts) {
					t.Fatalf("the report shows %d judgements, replay %d", len(rows), len(res.Verdicts))
				}
				for i, row := range rows {
					if v := res.Verdicts[i]; row[1] != strconv.Itoa(v.Seq) || row[2] != v.Verdict {
						t.Errorf("judgement %d: report #%s %s, replay #%d %s", i, row[1], row[2], v.Seq, v.Verdict)
					}
				}
			})
		}
	}
	if !ended {
		t.Error("no replay ran out of recording: the stepped plan no longer outlasts the recordings")
	}
}
