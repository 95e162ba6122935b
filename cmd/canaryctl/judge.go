package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
)

// judgeFlags are the flags judge and replay share.
type judgeFlags struct {
	config, template, input, output string
	// inputs is every --recording given (replay takes several).
	inputs []string
	// approve and deny are replay's answers to approval gates,
	// INTERVAL:BY[:REASON]; answers is them parsed.
	approve, deny []string
	answers       []analysis.ReplayAnswer
}

// parseAnswers parses replay's --approve and --deny values,
// INTERVAL:BY[:REASON], in the order given, approvals first.
func (f *judgeFlags) parseAnswers() error {
	for _, set := range []struct {
		flag     string
		values   []string
		approved bool
	}{{"approve", f.approve, true}, {"deny", f.deny, false}} {
		for _, v := range set.values {
			k, rest, ok := strings.Cut(v, ":")
			by, reason, _ := strings.Cut(rest, ":")
			n, err := strconv.Atoi(k)
			if !ok || err != nil || n < 0 || strings.TrimSpace(by) == "" {
				return fmt.Errorf("--%s %q is not INTERVAL:BY[:REASON] (a 0-based interval, who answers, why)", set.flag, v)
			}
			f.answers = append(f.answers, analysis.ReplayAnswer{Interval: n, Approval: rollout.Approval{Approved: set.approved, By: by, Reason: reason}})
		}
	}
	slices.SortStableFunc(f.answers, func(a, b analysis.ReplayAnswer) int { return a.Interval - b.Interval })
	return nil
}

func parseJudgeFlags(name, inputFlag, inputHelp string, args []string, stderr io.Writer) (*judgeFlags, *pflag.FlagSet, error) {
	f := &judgeFlags{}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "config file (required)")
	fs.StringVar(&f.template, "template", "", "template name (required)")
	if name == "replay" {
		fs.StringArrayVar(&f.inputs, inputFlag, nil, inputHelp+" (required; - for standard input)")
		fs.StringArrayVar(&f.approve, "approve", nil, "approve the step the rollout waits at (the template's approvals) right after interval INTERVAL, as INTERVAL:BY[:REASON]; repeatable")
		fs.StringArrayVar(&f.deny, "deny", nil, "deny the step the rollout waits at right after interval INTERVAL (it rolls back), as INTERVAL:BY[:REASON]; repeatable")
	} else {
		fs.StringVar(&f.input, inputFlag, "", inputHelp+" (required; - for standard input)")
	}
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	withHelp(fs, name, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	if len(f.inputs) > 0 {
		f.input = f.inputs[0]
	} else if name == "replay" && fs.NArg() > 0 {
		f.input = fs.Arg(0)
	}
	if name != "replay" && fs.NArg() > 0 {
		return nil, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
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
	if err := f.parseAnswers(); err != nil {
		return nil, fs, err
	}
	return f, fs, nil
}

// loadTemplate loads the config and finds the template.
func loadTemplate(path, name string) (*spec.Template, error) {
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
// NAME --recording FILE. Given several recordings (--recording repeated, a
// directory of *.json, or further arguments, as a shell glob gives them), it
// replays each in turn, says which on standard error, prints one line per
// recording and a tally, and goes on past a recording it cannot read.
func runReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, fs, err := parseJudgeFlags("replay", "recording", "recording file (canaryd's recording format or the minimal scenario form), or a directory of *.json recordings; repeat it or give more files as arguments to replay several", args, stderr)
	if err != nil {
		return flagError(fs, err, stderr)
	}
	t, err := loadTemplate(f.config, f.template)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
		return 1
	}
	paths, err := recordingPaths(append(append([]string{}, f.inputs...), fs.Args()...))
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
		return 1
	}
	if len(f.inputs)+fs.NArg() == 1 && len(paths) == 1 && paths[0] == f.input {
		res, err := replayFile(t, paths[0], stdin, f.answers)
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
	return replayMany(t, paths, f.output, f.answers, stdin, stdout, stderr)
}

// replayFile reads one recording (- for standard input) and replays it.
// answers are given to its approval gates (ReplayAnswering).
func replayFile(t *spec.Template, path string, stdin io.Reader, answers []analysis.ReplayAnswer) (*analysis.ReplayResult, error) {
	b, err := readInput(path, stdin)
	if err != nil {
		return nil, err
	}
	rec, err := metrics.ReadRecording(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res, err := analysis.ReplayAnswering(context.Background(), t, rec, answers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// recordingPaths expands the recordings asked for: a directory stands for
// the *.json files in it, in name order.
func recordingPaths(args []string) ([]string, error) {
	var paths []string
	for _, a := range args {
		if a == "-" {
			paths = append(paths, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		files, err := filepath.Glob(filepath.Join(a, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.json recordings in the directory", a)
		}
		paths = append(paths, files...)
	}
	return paths, nil
}

// replayedRecording is one line of a replay of several recordings with
// --output json: the recording, and its result or why it has none.
type replayedRecording struct {
	Recording string                 `json:"recording"`
	Result    *analysis.ReplayResult `json:"result,omitempty"`
	Error     string                 `json:"error,omitempty"`
}

// replayMany replays each recording in turn. Standard error says which one
// is being replayed; standard output gets a line per recording (a JSON
// object per line with -o json) and, in text, a tally of the outcomes. The
// exit status is 1 when a recording could not be replayed.
func replayMany(t *spec.Template, paths []string, output string, answers []analysis.ReplayAnswer, stdin io.Reader, stdout, stderr io.Writer) int {
	tally := map[string]int{}
	failed := 0
	enc := json.NewEncoder(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if output == "text" {
		fmt.Fprintln(tw, "RECORDING\tFINAL\tOUTCOME")
	}
	for i, p := range paths {
		fmt.Fprintf(stderr, "[%d/%d] replaying %s\n", i+1, len(paths), p)
		res, err := replayFile(t, p, stdin, answers)
		if err != nil {
			failed++
		}
		if output == "json" {
			line := replayedRecording{Recording: p, Result: res}
			if err != nil {
				line.Error = err.Error()
			}
			if err := enc.Encode(line); err != nil {
				fmt.Fprintf(stderr, "canaryctl replay: %v\n", err)
				return 1
			}
			continue
		}
		if err != nil {
			fmt.Fprintf(tw, "%s\tERROR\t%v\n", p, err)
			continue
		}
		fin := &res.Final
		outcome := string(fin.Outcome)
		if fin.RecordingEnded {
			outcome = "recording ended"
		}
		tally[outcome]++
		fmt.Fprintf(tw, "%s\t%s at interval %d\t%s\n", p, strings.ToUpper(string(fin.Verdict)), fin.Interval, fin.Summary)
	}
	if output == "text" {
		tw.Flush()
		keys := make([]string, 0, len(tally))
		for k := range tally {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys)+1)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", tally[k], k))
		}
		if failed > 0 {
			parts = append(parts, fmt.Sprintf("%d not replayed", failed))
		}
		fmt.Fprintf(stdout, "\n%d recording(s): %s\n", len(paths), strings.Join(parts, ", "))
	}
	if failed > 0 {
		return 1
	}
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
		if v.Verdict != j.Verdict || v.AwaitingApproval {
			fmt.Fprintf(w, "   %s\n", v.Reason)
		}
		writeMetricsTable(w, j)
		for _, a := range res.Answers {
			if a.Interval == v.Interval {
				fmt.Fprintf(w, "== #%d after interval %d, step %d of %d: %s, weight %s%% -> %s%%\n   %s\n",
					a.Seq, a.Interval, a.Step, steps, strings.ToUpper(string(a.Verdict)), fmtWeight(a.Weight), fmtWeight(a.NextWeight), a.Reason)
			}
		}
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
