package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/stats"
)

// FuzzReadSample feeds arbitrary bytes to compare's number-per-line reader
// as standard input. It must not panic; an error names standard input; a
// sample it accepts holds only finite numbers, at most one per line, and
// compares against a fixed canary without panicking: a p-value in [0, 1],
// a shift inside its interval, and output in both formats.
func FuzzReadSample(f *testing.F) {
	for _, s := range []string{
		"1\n2\n3\n",
		"  0.25 \r\n\n-1e-300\n1e308\n",
		"1e309\n",
		"-1e400\n",
		"4.9e-324\n5e-325\n",
		"NaN\n",
		"+Inf\n",
		"0x1p-2\n1_000\n",
		"1\n2\nthree\n",
		"\n\n\n",
		"",
		"1,2,3\n",
		strings.Repeat("1", 70000) + "\n",
		"1\n1\n1\n1\n",
		"\xff\n",
	} {
		f.Add([]byte(s))
	}
	canary := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := readSample("-", bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "standard input") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		lines := bytes.Count(b, []byte{'\n'}) + 1
		if len(x) == 0 || len(x) > lines {
			t.Fatalf("%d numbers from %d lines", len(x), lines)
		}
		for i, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("value %d is %v", i, v)
			}
		}
		if len(x) > 200 {
			return // the statistics are not what this target fuzzes
		}
		for _, alt := range []stats.Alternative{stats.TwoSided, stats.Greater, stats.Less} {
			o := stats.Options{Alternative: alt, Method: stats.Auto, Confidence: 0.95}
			r, err := stats.MannWhitney(canary, x, o)
			if err != nil {
				t.Fatalf("compare a sample readSample accepted: %v", err)
			}
			if !(r.PValue >= 0 && r.PValue <= 1) {
				t.Fatalf("p-value %v", r.PValue)
			}
			if !(r.Lower <= r.Shift && r.Shift <= r.Upper) {
				t.Fatalf("shift %v outside [%v, %v]", r.Shift, r.Lower, r.Upper)
			}
			var out bytes.Buffer
			if code := writeCompareJSON(&out, io.Discard, r); code != 0 || !json.Valid(out.Bytes()) {
				t.Fatalf("json output: code %d, %q", code, out.String())
			}
			writeCompareText(io.Discard, r, o, stats.Auto)
		}
	})
}
