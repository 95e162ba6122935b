package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/stats"
)

// runCompare compares a canary sample with a baseline sample:
//
//	canaryctl compare --baseline FILE --canary FILE [--alternative two-sided|greater|less]
//	    [--confidence 0.95] [--method auto|exact|asymptotic] [--output text|json]
//
// Each FILE holds one number per line (blank lines are skipped); "-" reads
// standard input. Exit 0 with the result, 1 on bad input (with file and
// line), 2 on a usage error.
func runCompare(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("compare", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	baselinePath := fs.String("baseline", "", "baseline sample: one number per line, - for standard input")
	canaryPath := fs.String("canary", "", "canary sample: one number per line, - for standard input")
	altFlag := fs.String("alternative", "two-sided", "alternative hypothesis: two-sided, greater (the canary tends to be larger) or less")
	confidence := fs.Float64("confidence", 0.95, "confidence level of the interval for the shift, in (0, 1); the test's level is 1 - confidence")
	methodFlag := fs.String("method", "auto", "p-value and interval method: auto (exact without ties when both samples have fewer than 50 values), exact or asymptotic")
	output := fs.StringP("output", "o", "text", "output format: text or json")
	withHelp(fs, "compare", stderr)
	if err := fs.Parse(args); err != nil {
		if code := usageError(err); code == 0 {
			return 0
		}
		fmt.Fprintf(stderr, "canaryctl compare: %v\n", err)
		return 2
	}
	alt, altErr := stats.ParseAlternative(*altFlag)
	method, methodErr := stats.ParseMethod(*methodFlag)
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected arguments %q", fs.Args())
	case *baselinePath == "" || *canaryPath == "":
		problem = "--baseline and --canary are required"
	case *baselinePath == "-" && *canaryPath == "-":
		problem = "only one of --baseline and --canary can read standard input"
	case altErr != nil:
		problem = fmt.Sprintf("--alternative %q: want two-sided, greater or less", *altFlag)
	case methodErr != nil:
		problem = fmt.Sprintf("--method %q: want auto, exact or asymptotic", *methodFlag)
	case !(*confidence > 0 && *confidence < 1):
		problem = fmt.Sprintf("--confidence %v: want a level in (0, 1), e.g. 0.95", *confidence)
	case *output != "text" && *output != "json":
		problem = fmt.Sprintf("--output %q: want text or json", *output)
	}
	if problem != "" {
		fmt.Fprintf(stderr, "canaryctl compare: %s\n\n", problem)
		fs.Usage()
		return 2
	}

	baseline, err := readSample(*baselinePath, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl compare: baseline: %v\n", err)
		return 1
	}
	canary, err := readSample(*canaryPath, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl compare: canary: %v\n", err)
		return 1
	}
	opts := stats.Options{Alternative: alt, Method: method, Confidence: *confidence}
	r, err := stats.MannWhitney(canary, baseline, opts)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl compare: %v\n", err)
		return 1
	}
	if *output == "json" {
		return writeCompareJSON(stdout, stderr, r)
	}
	writeCompareText(stdout, r, opts, method)
	return 0
}

// readSample reads one number per line from path ("-": stdin). Blank lines
// are skipped; anything else that is not a finite number is an error naming
// the file and line, and so is a file without numbers.
func readSample(path string, stdin io.Reader) ([]float64, error) {
	name, in := path, stdin
	if path == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	var x []float64
	sc := bufio.NewScanner(in)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%s:%d: %q is not a number", name, line, s)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s:%d: %q is not a finite number", name, line, s)
		}
		x = append(x, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("%s: no numbers in %d lines (want one number per line)", name, line)
	}
	return x, nil
}

// compareJSON is the --output json object; its field order is the contract.
type compareJSON struct {
	NBaseline int          `json:"n_baseline"`
	NCanary   int          `json:"n_canary"`
	Method    string       `json:"method"`
	U         float64      `json:"u"`
	PValue    float64      `json:"p_value"`
	HLShift   jsonFloat    `json:"hl_shift"`
	CI        [2]jsonFloat `json:"ci"`
}

// jsonFloat writes ±Inf as the strings "+Inf" and "-Inf" (and NaN as "NaN"),
// which JSON numbers cannot hold.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	}
	return json.Marshal(v)
}

func writeCompareJSON(stdout, stderr io.Writer, r stats.Result) int {
	b, err := json.Marshal(compareJSON{
		NBaseline: r.NBaseline,
		NCanary:   r.NCanary,
		Method:    r.Method.String(),
		U:         r.U,
		PValue:    r.PValue,
		HLShift:   jsonFloat(r.Shift),
		CI:        [2]jsonFloat{jsonFloat(r.Lower), jsonFloat(r.Upper)},
	})
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl compare: encode output: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return 0
}

// writeCompareText prints the figures, then one plain sentence.
func writeCompareText(w io.Writer, r stats.Result, o stats.Options, requested stats.Method) {
	level := strconv.FormatFloat(100*o.Confidence, 'g', 6, 64) + "%"
	fmt.Fprintf(w, "baseline  n = %d\n", r.NBaseline)
	fmt.Fprintf(w, "canary    n = %d\n", r.NCanary)
	fmt.Fprintf(w, "test      Mann-Whitney U, %s, %s\n", r.Method, o.Alternative)
	if requested == stats.Exact && r.Method != stats.Exact {
		reason := "samples too large for the exact distribution"
		if r.Ties {
			reason = "the exact distribution assumes no ties"
		}
		fmt.Fprintf(w, "          (exact requested: %s; used the normal approximation)\n", reason)
	}
	fmt.Fprintf(w, "U         %s (A = %.3f: chance a canary value exceeds a baseline value)\n", fmtNum(r.U), r.A())
	fmt.Fprintf(w, "p-value   %s\n", fmtNum(r.PValue))
	fmt.Fprintf(w, "shift     %s (Hodges-Lehmann, canary - baseline)\n", fmtNum(r.Shift))
	fmt.Fprintf(w, "%-9s [%s, %s]\n\n", level+" CI", fmtNum(r.Lower), fmtNum(r.Upper))

	var direction string
	switch {
	case r.Shift > 0:
		direction = "canary is higher than baseline by " + fmtShort(r.Shift)
	case r.Shift < 0:
		direction = "canary is lower than baseline by " + fmtShort(-r.Shift)
	default:
		direction = "canary and baseline have the same location (shift 0)"
	}
	significant := r.PValue < 1-o.Confidence
	var verdict string
	switch {
	case o.Alternative == stats.Greater && significant:
		verdict = "canary is significantly higher"
	case o.Alternative == stats.Greater:
		verdict = "no significant increase"
	case o.Alternative == stats.Less && significant:
		verdict = "canary is significantly lower"
	case o.Alternative == stats.Less:
		verdict = "no significant decrease"
	case significant:
		verdict = "significant difference"
	default:
		verdict = "no significant difference"
	}
	fmt.Fprintf(w, "%s (%s CI %s to %s); %s, p = %s\n",
		direction, level, fmtShort(r.Lower), fmtShort(r.Upper), verdict, fmtP2(r.PValue))
}

// fmtNum formats a figure with up to 6 significant digits; infinite
// interval ends as -Inf and +Inf.
func fmtNum(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// fmtShort formats a figure for the sentence: 3 significant digits, a real
// minus sign, and ∞ for an open end.
func fmtShort(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+∞"
	case math.IsInf(v, -1):
		return "−∞"
	}
	s := strconv.FormatFloat(v, 'g', 3, 64)
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		return "−" + rest
	}
	return s
}

// fmtP2 formats a p-value for the sentence with 2 significant digits.
func fmtP2(p float64) string {
	return strconv.FormatFloat(p, 'g', 2, 64)
}
