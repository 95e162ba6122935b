package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
)

// judgeFlags are the flags judge and replay share.
type judgeFlags struct {
	config, template, input, output string
}

func parseJudgeFlags(name, inputFlag, inputHelp string, args []string, stderr io.Writer) (*judgeFlags, *pflag.FlagSet, error) {
	f := &judgeFlags{}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "config file (required)")
	fs.StringVar(&f.template, "template", "", "template name (required)")
	fs.StringVar(&f.input, inputFlag, "", inputHelp+" (required; - for standard input)")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	withHelp(fs, name, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	var missing []string
	for _, fv := range [][2]string{{"config", f.config}, {"template", f.template}, {inputFlag, f.input}} {
		if fv[1] == "" {
			missing = append(missing, "--"+fv[0])
		}
	}
	if len(missing) > 0 {
		return nil, fs, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if f.output != "text" && f.output != "json" {
		return nil, fs, fmt.Errorf("--output must be text or json, got %q", f.output)
	}
	return f, fs, nil
}

// loadTemplate loads the config and finds the template.
func loadTemplate(path, name string) (*configs.Template, error) {
	cfg, err := configs.LoadFile(path)
	if err != nil {
		return nil, err
	}
	t := cfg.Template(name)
	if t == nil {
		names := make([]string, len(cfg.Templates))
		for i := range cfg.Templates {
			names[i] = cfg.Templates[i].Name
		}
		return nil, fmt.Errorf("%s: no template %q (templates: %s)", path, name, strings.Join(names, ", "))
	}
	return t, nil
}

func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

// runJudge judges one set of samples: canaryctl judge --config FILE
// --template NAME --samples FILE.
func runJudge(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, fs, err := parseJudgeFlags("judge", "samples", `samples file: {"metrics": {NAME: {"baseline": [...], "canary": [...]}}}`, args, stderr)
	if err != nil {
		return flagError(fs, err, stderr)
	}
	t, err := loadTemplate(f.config, f.template)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl judge: %v\n", err)
		return 1
	}
	b, err := readInput(f.input, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl judge: %v\n", err)
		return 1
	}
	// One set of samples is a recording of one interval.
	var wrapped bytes.Buffer
	wrapped.WriteString(`{"intervals":[`)
	wrapped.Write(bytes.TrimSpace(b))
	wrapped.WriteString(`]}`)
	if !json.Valid(b) {
		fmt.Fprintf(stderr, "canaryctl judge: %s: %v\n", f.input, jsonError(b))
		return 1
	}
	rec, err := metrics.ReadRecording(&wrapped)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl judge: %s: %v\n", f.input, err)
		return 1
	}
	js, err := analysis.JudgeRecording(context.Background(), t, rec)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl judge: %v\n", err)
		return 1
	}
	j := js[0]
	if f.output == "json" {
		return writeJSON(stdout, stderr, j)
	}
	writeJudgementText(stdout, &j)
	return 0
}

// runReplay replays a recording: canaryctl replay --config FILE --template
// NAME --recording FILE.
func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, fs, err := parseJudgeFlags("replay", "recording", "recording file (canaryd's recording format or the minimal scenario form)", args, stderr)
	if err != nil {
		return flagError(fs, err, stderr)
	}
	t, err := loadTemplate(f.config, f.template)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
		return 1
	}
	b, err := readInput(f.input, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
		return 1
	}
	rec, err := metrics.ReadRecording(bytes.NewReader(b))
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %s: %v\n", f.input, err)
		return 1
	}
	res, err := analysis.Replay(context.Background(), t, rec)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
		return 1
	}
	if f.output == "json" {
		return writeJSON(stdout, stderr, res)
	}
	writeReplayText(stdout, res, len(t.Steps))
	return 0
}

// writeReplayText prints a replayed rollout as the daemon runs it: every
// verdict with its step and weights and the judgement behind it, then the
// end.
func writeReplayText(w io.Writer, res *analysis.ReplayResult, steps int) {
	for i := range res.Verdicts {
		v, j := &res.Verdicts[i], &res.Intervals[i]
		fmt.Fprintf(w, "== #%d interval %d, step %d of %d: %s (%s), weight %s%% -> %s%%\n",
			v.Seq, v.Interval, v.Step, steps, strings.ToUpper(string(v.Verdict)), scoreText(float64(j.Score)), fmtWeight(v.Weight), fmtWeight(v.NextWeight))
		if v.Verdict != j.Verdict {
			fmt.Fprintf(w, "   %s\n", v.Reason)
		}
		writeMetricsTable(w, j)
	}
	f := &res.Final
	fmt.Fprintf(w, "\nFinal: %s at interval %d\nOutcome: %s\n%s\n", strings.ToUpper(string(f.Verdict)), f.Interval, f.Summary, f.Reason)
}

// scoreText is "score 87", or "no score" when no metric could be judged.
func scoreText(score float64) string {
	if math.IsNaN(score) {
		return "no score"
	}
	return "score " + strconv.FormatFloat(score, 'f', 0, 64)
}

func fmtWeight(w float64) string { return strconv.FormatFloat(w, 'g', -1, 64) }

func flagError(fs *pflag.FlagSet, err error, stderr io.Writer) int {
	if code := usageError(err); code == 0 {
		return 0
	}
	fmt.Fprintf(stderr, "canaryctl %s: %v\n", fs.Name(), err)
	fs.PrintDefaults()
	return 2
}

func jsonError(b []byte) error {
	var v any
	err := json.Unmarshal(b, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
		return fmt.Errorf("line %d: %v", line, se)
	}
	return err
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "canaryctl: encode output: %v\n", err)
		return 1
	}
	return 0
}

func writeJudgementText(w io.Writer, j *analysis.Judgement) {
	fmt.Fprintf(w, "Verdict: %s (%s)\n%s\n\n", strings.ToUpper(string(j.Verdict)), scoreText(float64(j.Score)), j.Reason)
	writeMetricsTable(w, j)
}

func writeMetricsTable(w io.Writer, j *analysis.Judgement) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tRESULT\tCHANGE\tP-VALUE\tREASON")
	for _, m := range j.Metrics {
		name := m.Name
		if m.DryRun {
			name += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, m.Classification, fmtPct(float64(m.Change)), fmtP(float64(m.PValue)), m.Reason)
	}
	tw.Flush()
}

func fmtPct(v float64) string {
	if v != v {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*v)
}

func fmtP(v float64) string {
	if v != v {
		return "-"
	}
	if v < 1e-4 {
		return fmt.Sprintf("%.1e", v)
	}
	return fmt.Sprintf("%.4f", v)
}
