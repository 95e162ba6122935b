package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/stats/oracle"
)

// runCompareCLI runs canaryctl in-process with args after "compare".
func runCompareCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"compare"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// writeSample writes one number per line (shortest exact form) to a file in
// dir and returns its path.
func writeSample(t *testing.T, dir, name string, x []float64) string {
	t.Helper()
	var b strings.Builder
	for _, v := range x {
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The shared oracle cases, read by package oracle.
type (
	oracleCase = oracle.Case
	bound      = oracle.Bound
)

// compareOutput is the --output json object.
type compareOutput struct {
	NBaseline int      `json:"n_baseline"`
	NCanary   int      `json:"n_canary"`
	Method    string   `json:"method"`
	U         float64  `json:"u"`
	PValue    float64  `json:"p_value"`
	HLShift   bound    `json:"hl_shift"`
	CI        [2]bound `json:"ci"`
}

func loadOracle(t *testing.T) []oracleCase {
	t.Helper()
	cases, err := oracle.MannWhitney()
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

var near = oracle.Near

// TestCompareOracle runs every shared oracle case through the CLI, reading
// the samples from files and the result from --output json.
func TestCompareOracle(t *testing.T) {
	dir := t.TempDir()
	for _, c := range loadOracle(t) {
		t.Run(c.ID, func(t *testing.T) {
			b := writeSample(t, dir, c.ID+"-baseline.txt", c.Baseline)
			k := writeSample(t, dir, c.ID+"-canary.txt", c.Canary)
			code, out, errOut := runCompareCLI(t, "", "--baseline", b, "--canary", k,
				"--alternative", c.Alternative, "--confidence", strconv.FormatFloat(c.Confidence, 'g', -1, 64),
				"--method", c.Method, "--output", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("want one line of JSON, got %q", out)
			}
			var got compareOutput
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got.NBaseline != len(c.Baseline) || got.NCanary != len(c.Canary) || got.Method != c.Method || got.U != c.U {
				t.Errorf("got %+v, want n %d/%d method %s u %v", got, len(c.Baseline), len(c.Canary), c.Method, c.U)
			}
			if !near(got.PValue, c.PValue, 1e-9, 1e-15) {
				t.Errorf("p = %.17g, want %.17g", got.PValue, c.PValue)
			}
			if !near(float64(got.HLShift), c.HLShift, 1e-12, 0) {
				t.Errorf("shift = %.17g, want %.17g", float64(got.HLShift), c.HLShift)
			}
			for i := range 2 {
				if !near(float64(got.CI[i]), float64(c.CI[i]), 1e-12, 0) {
					t.Errorf("ci = %v, want %v", got.CI, c.CI)
				}
			}
		})
	}
}

func TestCompareJSONShape(t *testing.T) {
	dir := t.TempDir()
	b := writeSample(t, dir, "b", []float64{1, 2, 3})
	k := writeSample(t, dir, "c", []float64{2.5, 4, 5})
	code, out, errOut := runCompareCLI(t, "", "--baseline", b, "--canary", k, "--alternative", "greater", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Differences: 1.5 0.5 -0.5 3 2 1 4 3 2 -> sorted -0.5 0.5 1 1.5 2 2 3 3 4.
	want := `{"n_baseline":3,"n_canary":3,"method":"exact","u":8,"p_value":0.1,"hl_shift":2,"ci":[-0.5,"+Inf"]}` + "\n"
	if out != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
}

func TestCompareText(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name             string
		canary, baseline []float64
		args             []string
		lines            []string
	}{
		{
			"no difference",
			[]float64{1.62, 0.77, 1.33, 1.39, 1.8},
			[]float64{1.51, 1.45, 0.52, 2.01, 1.12},
			nil,
			[]string{
				"baseline  n = 5",
				"canary    n = 5",
				"test      Mann-Whitney U, exact, two-sided",
				"U         13 (A = 0.520: chance a canary value exceeds a baseline value)",
				"p-value   1",
				"shift     0.11 (Hodges-Lehmann, canary - baseline)",
				"95% CI    [-0.68, 0.87]",
				"canary is higher than baseline by 0.11 (95% CI −0.68 to 0.87); no significant difference, p = 1",
			},
		},
		{
			"one-sided, lower",
			[]float64{1, 2, 3, 4},
			[]float64{5, 6, 7, 8},
			[]string{"--alternative", "less", "--confidence", "0.9"},
			[]string{
				"p-value   0.0142857",
				"90% CI    [-Inf, -2]",
				"canary is lower than baseline by 4 (90% CI −∞ to −2); canary is significantly lower, p = 0.014",
			},
		},
		{
			"exact with ties falls back",
			[]float64{1, 1, 2, 3},
			[]float64{1, 2, 2, 4},
			[]string{"--method", "exact", "--alternative", "greater"},
			[]string{
				"test      Mann-Whitney U, asymptotic, greater",
				"          (exact requested: the exact distribution assumes no ties; used the normal approximation)",
				"p-value   0.77599",
				"canary is lower than baseline by 0.5 (95% CI −3 to +∞); no significant increase, p = 0.78",
			},
		},
		{
			"same location",
			[]float64{1, 2, 3},
			[]float64{1, 2, 3},
			nil,
			[]string{
				"test      Mann-Whitney U, asymptotic, two-sided",
				"95% CI    [-2, 2]",
				"canary and baseline have the same location (shift 0) (95% CI −2 to 2); no significant difference, p = 1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := writeSample(t, dir, tt.name+"-b", tt.baseline)
			k := writeSample(t, dir, tt.name+"-c", tt.canary)
			code, out, errOut := runCompareCLI(t, "", append([]string{"--baseline", b, "--canary", k}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, l := range tt.lines {
				if !strings.Contains(out, l+"\n") {
					t.Errorf("output lacks line %q:\n%s", l, out)
				}
			}
		})
	}
}

func TestCompareStdin(t *testing.T) {
	dir := t.TempDir()
	b := writeSample(t, dir, "b", []float64{1, 2, 3})
	code, out, errOut := runCompareCLI(t, "2.5\n\n4\r\n 5 \n", "--baseline", b, "--canary", "-", "--output", "json")
	if code != 0 || !strings.Contains(out, `"u":8,`) || !strings.Contains(out, `"n_canary":3`) {
		t.Errorf("exit %d, out %s, err %s", code, out, errOut)
	}
	code, out, errOut = runCompareCLI(t, "1\n2\n3\n", "--baseline", "-", "--canary", b, "--output", "json")
	if code != 0 || !strings.Contains(out, `"u":4.5,`) {
		t.Errorf("exit %d, out %s, err %s", code, out, errOut)
	}
}

func TestCompareBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeSample(t, dir, "good.txt", []float64{1, 2, 3})
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad7 := write("bad7.txt", "1\n2\n3\n4\n5\n6\n1,5\n8\n")
	empty := write("empty.txt", "")
	blank := write("blank.txt", "\n  \n")
	nan := write("nan.txt", "1\nNaN\n")
	inf := write("inf.txt", "1\n2\n1e400\n")
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"not a number on line 7", "", []string{"--baseline", good, "--canary", bad7}, 1,
			"canaryctl compare: canary: " + bad7 + `:7: "1,5" is not a number`},
		{"empty file", "", []string{"--baseline", empty, "--canary", good}, 1,
			"canaryctl compare: baseline: " + empty + ": no numbers in 0 lines (want one number per line)"},
		{"blank lines only", "", []string{"--baseline", good, "--canary", blank}, 1,
			"canaryctl compare: canary: " + blank + ": no numbers in 2 lines (want one number per line)"},
		{"NaN", "", []string{"--baseline", nan, "--canary", good}, 1,
			"canaryctl compare: baseline: " + nan + `:2: "NaN" is not a finite number`},
		{"overflow", "", []string{"--baseline", good, "--canary", inf}, 1,
			"canaryctl compare: canary: " + inf + `:3: "1e400" is not a finite number`},
		{"empty stdin", "", []string{"--baseline", "-", "--canary", good}, 1,
			"canaryctl compare: baseline: standard input: no numbers in 0 lines"},
		{"stdin line", "3\nx\n", []string{"--baseline", good, "--canary", "-"}, 1,
			`canaryctl compare: canary: standard input:2: "x" is not a number`},
		{"missing file", "", []string{"--baseline", filepath.Join(dir, "nope"), "--canary", good}, 1,
			"canaryctl compare: baseline: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"no canary", "", []string{"--baseline", good}, 2, "canaryctl compare: --baseline and --canary are required"},
		{"both stdin", "", []string{"--baseline", "-", "--canary", "-"}, 2,
			"canaryctl compare: only one of --baseline and --canary can read standard input"},
		{"bad alternative", "", []string{"--baseline", good, "--canary", good, "--alternative", "two.sided"}, 2,
			`canaryctl compare: --alternative "two.sided": want two-sided, greater or less`},
		{"bad method", "", []string{"--baseline", good, "--canary", good, "--method", "fast"}, 2,
			`canaryctl compare: --method "fast": want auto, exact or asymptotic`},
		{"bad confidence", "", []string{"--baseline", good, "--canary", good, "--confidence", "95"}, 2,
			"canaryctl compare: --confidence 95: want a level in (0, 1), e.g. 0.95"},
		{"bad output", "", []string{"--baseline", good, "--canary", good, "--output", "yaml"}, 2,
			`canaryctl compare: --output "yaml": want text or json`},
		{"unknown flag", "", []string{"--baseline", good, "--canary", good, "--alpha", "0.05"}, 2,
			"canaryctl compare: unknown flag: --alpha"},
		{"stray argument", "", []string{"--baseline", good, "--canary", good, "extra"}, 2,
			`canaryctl compare: unexpected arguments ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCompareCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if !strings.HasPrefix(errOut, tt.stderr) {
				t.Errorf("stderr %q, want prefix %q", errOut, tt.stderr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	code, _, errOut := runCompareCLI(t, "", "--help")
	if code != 0 || !strings.Contains(errOut, "usage: canaryctl compare --baseline FILE --canary FILE") {
		t.Errorf("--help: exit %d, %q", code, errOut)
	}
}
