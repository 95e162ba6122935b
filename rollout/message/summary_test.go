package message

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// TestVerdictSummaryJSON holds the summary's encoder to encoding/json's
// output, byte for byte, and its decoder to the encoder, over random
// verdicts: every field of the summary is its verdict's, the approval
// without its reason.
func TestVerdictSummaryJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 17))
	for i := range 2000 {
		var v Verdict
		fillRandom(t, r, reflect.ValueOf(&v).Elem())
		s := v.Summary()
		want, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
		var back VerdictSummary
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, got)
		}
		again, _ := back.AppendJSON(nil)
		if !reflect.DeepEqual(decode(t, again), decode(t, got)) {
			t.Fatalf("case %d: decoded and encoded again:\n got %s\nwant %s", i, again, got)
		}
		if s.Approval != nil && (s.Approval.Reason != "" || s.Approval.By != v.Approval.By) {
			t.Fatalf("case %d: approval %+v of %+v", i, s.Approval, v.Approval)
		}
		// Each metric is listed once, under its classification, in order.
		seen := map[analysis.Classification]int{}
		for _, m := range v.Metrics {
			if k := seen[m.Classification]; k >= len(s.Classifications[m.Classification]) || s.Classifications[m.Classification][k] != m.Name {
				t.Fatalf("case %d: metric %q (%s) is not next in %v", i, m.Name, m.Classification, s.Classifications)
			}
			seen[m.Classification]++
		}
		n := 0
		for _, names := range s.Classifications {
			n += len(names)
		}
		if n != len(v.Metrics) {
			t.Fatalf("case %d: %d metrics classified, the verdict has %d", i, n, len(v.Metrics))
		}
	}
}

// worstVerdict is a 10-metric verdict at a realistic worst case: a
// 30-character namespace, a 40-character service, a 64-character analysis
// id (service, version and hash), 32-character metric names all
// inconclusive (the longest classification), the longest outcome, every
// number at its longest, and reason as given.
func worstVerdict(reason string) Verdict {
	v := Verdict{AnalysisID: strings.Repeat("a", 64), Service: strings.Repeat("s", 40), Namespace: strings.Repeat("n", 30),
		Seq: 99999, Step: 10, Weight: 33.33, NextWeight: 0, Verdict: analysis.Rollback, Final: true,
		Outcome: rollout.RolledBackAfterPromotion, Score: 33.333333333333336, Reason: reason,
		Budget:   &rollout.Budget{Objective: 0.999, Window: "30d", ErrorRatio: 0.0123, Remaining: -11.3, Problem: strings.Repeat("p", 500)},
		IssuedAt: time.Date(2026, 12, 5, 11, 25, 22, 123456789, time.UTC)}
	for i := range 10 {
		v.Metrics = append(v.Metrics, analysis.MetricResult{Name: strings.Repeat(string(rune('a'+i)), 32), Classification: analysis.Inconclusive,
			Test: "paired", Direction: "increase", AllowedChange: 0.1, Critical: true, Weight: 1, PValue: 0.0731, Alpha: 3.0487804878048808e-06,
			Window: "cumulative", Change: -0.0017852730617382967, ChangeCI: [2]analysis.Float{-0.007130651404110689, 0.0035888835581219763},
			HLShift: -0.25039999999999196, CI: [2]analysis.Float{-1.9432699999999983, 1.3328100000000092}, NBaseline: 300, NCanary: 300,
			NPairs: 300, TotalPairs: 12000, Warnings: []string{strings.Repeat("w", 200)},
			Reason: strings.Repeat("r", 300)})
	}
	return v
}

// TestVerdictSummarySize pins the summary on canary.verdict.* under 1 KB
// for a 10-metric verdict at a realistic worst case, whatever its reason:
// a reason that does not fit is cut on a character boundary and ends in
// TruncatedMark; everything else is kept. The full verdict is 8 to 10
// times larger.
func TestVerdictSummarySize(t *testing.T) {
	long := strings.Repeat("rollback: latency_p99 is 12.5% higher on the canary (critical) <é> ", 40)
	for _, tt := range []struct {
		name, reason string
		cut          bool
	}{
		{"short reason", "rollback: latency_p99 is 12.5% higher on the canary (critical)", false},
		{"long reason", long, true},
		{"huge reason", strings.Repeat("é\u2028<&>\"\\\n\x01 ", 1<<17), true},
		{"invalid UTF-8", strings.Repeat("\xff", 5000), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := worstVerdict(tt.reason)
			full, err := v.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			s := v.Summary()
			b, err := s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("summary %d bytes, the full verdict %d", len(b), len(full))
			if len(b) > MaxSummaryBytes {
				t.Fatalf("summary is %d bytes, more than %d:\n%s", len(b), MaxSummaryBytes, b)
			}
			if !tt.cut {
				if s.Reason != tt.reason {
					t.Errorf("a reason that fits was changed: %q", s.Reason)
				}
				if len(full) < 8*len(b) {
					t.Errorf("the full verdict is %d bytes, the summary %d: less than 8 times", len(full), len(b))
				}
			}
			var back VerdictSummary
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if tt.cut {
				kept, ok := strings.CutSuffix(s.Reason, TruncatedMark)
				if !ok || !strings.HasPrefix(tt.reason, kept) || len(AppendJSONString(nil, kept)) < 150 || !strings.HasSuffix(back.Reason, TruncatedMark) ||
					utf8.ValidString(tt.reason) && !utf8.ValidString(kept) {
					t.Errorf("cut reason %q (%d bytes kept) is not a prefix of the reason ending in the mark", s.Reason, len(kept))
				}
				if len(b) < MaxSummaryBytes-8 {
					t.Errorf("cut to %d bytes: more of the reason fits in %d", len(b), MaxSummaryBytes)
				}
			}
			if back.NextWeight != v.NextWeight || back.Outcome != v.Outcome || len(back.Classifications[analysis.Inconclusive]) != 10 || back.MsgID() != v.MsgID() {
				t.Errorf("decision lost: %+v", back)
			}
		})
	}

	// Beyond a realistic worst case (names of 253 characters, 20
	// metrics), only the reason gives way: the summary keeps every
	// classification and exceeds the bound.
	v := worstVerdict(long)
	v.Namespace, v.Service = strings.Repeat("n", 253), strings.Repeat("s", 253)
	for i := range 10 {
		v.Metrics = append(v.Metrics, analysis.MetricResult{Name: strings.Repeat(string(rune('A'+i)), 32), Classification: analysis.Pass})
	}
	s := v.Summary()
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var back VerdictSummary
	if err := json.Unmarshal(b, &back); err != nil || back.Reason != TruncatedMark || len(back.Classifications[analysis.Pass]) != 10 ||
		len(back.Classifications[analysis.Inconclusive]) != 10 {
		t.Errorf("oversized summary (%d bytes): reason %q, classifications %v, %v", len(b), back.Reason, back.Classifications, err)
	}
}

// TestVerdictSummaryReadsPreviousVerdicts decodes a full verdict as canaryd
// published it on canary.verdict.* before summaries (a stream keeps them:
// a follower restarting reads them) into a summary, and a summary into a
// Verdict (a consumer built before summaries reads the decision).
func TestVerdictSummaryReadsPreviousVerdicts(t *testing.T) {
	old, err := os.ReadFile("testdata/verdict-published-before-summaries.json")
	if err != nil {
		t.Fatal(err)
	}
	var s VerdictSummary
	if err := json.Unmarshal(old, &s); err != nil {
		t.Fatal(err)
	}
	want := VerdictSummary{AnalysisID: "checkout-v2", Service: "checkout", Namespace: "shop", Seq: 12, Step: 2, Weight: 25,
		NextWeight: 0, Verdict: analysis.Rollback, Final: true, Outcome: rollout.RolledBack, Score: 50,
		Reason:          "rollback: latency_p99 is 12.5% higher on the canary (critical)",
		Classifications: map[analysis.Classification][]string{analysis.High: {"latency_p99"}, analysis.Pass: {"error_rate"}, analysis.Inconclusive: {"cpu"}},
		IssuedAt:        time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("previous verdict read as\n%+v\nwant\n%+v", s, want)
	}
	var full Verdict
	if err := json.Unmarshal(old, &full); err != nil {
		t.Fatal(err)
	}
	if sum := full.Summary(); !reflect.DeepEqual(sum, want) {
		t.Errorf("its summary is\n%+v\nwant\n%+v", sum, want)
	}

	b, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var v Verdict
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("a summary does not decode as a Verdict: %v", err)
	}
	if v.MsgID() != want.MsgID() || v.NextWeight != 0 || !v.Final || v.Outcome != rollout.RolledBack || v.Reason != want.Reason {
		t.Errorf("a summary read as a Verdict: %+v", v)
	}
	if string(b) != `{"analysis_id":"checkout-v2","service":"checkout","namespace":"shop","seq":12,"step":2,"weight":25,"next_weight":0,`+
		`"verdict":"rollback","final":true,"outcome":"rolled_back","score":50,"reason":"rollback: latency_p99 is 12.5% higher on the canary (critical)",`+
		`"classifications":{"high":["latency_p99"],"inconclusive":["cpu"],"pass":["error_rate"]},"issued_at":"2026-11-23T07:00:00Z"}` {
		t.Errorf("summary JSON changed:\n%s", b)
	}
	for _, bad := range []string{`{"classifications":[1]}`, `{"classifications":{"pass":"a"}}`, `{"metrics":{"a":1}}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s decodes", bad)
		}
	}
}

func BenchmarkVerdictSummary(b *testing.B) {
	v := worstVerdict(strings.Repeat("rollback: latency_p99 is 12.5% higher on the canary (critical) ", 3))
	b.ReportAllocs()
	for b.Loop() {
		s := v.Summary()
		if _, err := s.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
