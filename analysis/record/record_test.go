package record

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestRecordHistory checks what a record keeps of its verdicts through
// the runner's cycle (add, write, publish, retire) and the bucket's JSON:
// the latest HistoryCap, evidence only for the latest and any not yet
// published, and every entry whole again when read back.
func TestRecordHistory(t *testing.T) {
	r := &Record{ID: "a1", Event: message.Event{Service: "web", Namespace: "prod"}, Judge: &analysis.State{Looks: 3},
		Interval: time.Minute, Lag: 30 * time.Second, MaxLag: 2 * time.Minute}
	for seq := 1; seq <= HistoryCap+5; seq++ {
		r.Seq = seq
		r.AddVerdict(Verdict{Message: message.Verdict{AnalysisID: "a1", Service: "web", Namespace: "prod", Seq: seq, Reason: "r", Verdict: analysis.Hold,
			Metrics: []analysis.MetricResult{{Name: "m", PValue: 0.5}}}})
		if _, err := r.appendJSON(nil); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if seq < HistoryCap+4 { // the latest two stay unpublished
			r.Published = seq
			if err := r.Retire(); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := r.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(got.History) != HistoryCap || got.History[0].Seq != 6 || got.Latest().Seq != HistoryCap+5 {
		t.Fatalf("history of %d from seq %d to %d", len(got.History), got.History[0].Seq, got.Latest().Seq)
	}
	if got.Judge == nil || got.Judge.Looks != 3 {
		t.Fatalf("judge state %+v", got.Judge)
	}
	if got.Lag != r.Lag || got.MaxLag != r.MaxLag || !got.LatestDue().Equal(got.NextDue().Add(2*time.Minute)) {
		t.Errorf("lag %s, max_lag %s read back as %s, %s", r.Lag, r.MaxLag, got.Lag, got.MaxLag)
	}
	for _, v := range got.History {
		want := 0
		if v.Seq > got.Published {
			want = 1 // the latest two, not yet published
		}
		if len(v.Metrics) != want || v.AnalysisID != "a1" || v.Service != "web" || v.Namespace != "prod" || v.Reason != "r" {
			t.Errorf("verdict seq %d: %d metrics (want %d), id %q service %q namespace %q", v.Seq, len(v.Metrics), want,
				v.AnalysisID, v.Service, v.Namespace)
		}
	}
	// A record whose latest verdict let go of its evidence must not be
	// written: that would lose it.
	r.Published = r.Seq
	if err := r.Retire(); err != nil {
		t.Fatal(err)
	}
	// Nor may the history's backing array keep a verdict alive past its
	// length: a runner holds its record between judgements.
	for i, v := range r.History[len(r.History):cap(r.History)] {
		if v.Metrics != nil || v.enc != nil {
			t.Errorf("history slot %d past the end still holds verdict seq %d", len(r.History)+i, v.Seq)
		}
	}
	if _, err := r.appendJSON(nil); err == nil {
		t.Fatal("a retired latest verdict was written without its evidence")
	}
}

// TestPastVerdictJSON checks the runner's hand-written history entries
// against encoding/json's, byte for byte.
func TestPastVerdictJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 10, 50, 100, 33.333333333333336, 1e-7, 2.5e-9, 1e21, 123456789.125, -0.5}
	reasons := []string{"", "promote: every metric within its allowed change; score 100", `quote " backslash \ <tag> & é` + "\x00\n\u2028\xff"}
	verdicts := []analysis.Verdict{analysis.Promote, analysis.Hold, analysis.Rollback}
	outcomes := []rollout.Outcome{rollout.Running, rollout.Succeeded, rollout.RolledBack, rollout.Expired, rollout.Aborted}
	scores := []float64{100, 87.5, 0, math.NaN(), math.Inf(1), math.Inf(-1), 1e-300}
	var prev *pastVerdict
	for i := range 500 {
		v := Verdict{Message: message.Verdict{Seq: r.IntN(1e6), Step: r.IntN(10), Weight: floats[r.IntN(len(floats))], NextWeight: floats[r.IntN(len(floats))],
			Verdict: verdicts[r.IntN(3)], Final: r.IntN(2) == 0, Outcome: outcomes[r.IntN(len(outcomes))],
			Score: analysis.Float(scores[r.IntN(len(scores))]), Reason: reasons[r.IntN(len(reasons))],
			IssuedAt: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(), AwaitingApproval: r.IntN(2) == 0}}
		if r.IntN(3) == 0 {
			v.Approval = &rollout.Approval{Step: r.IntN(5), Approved: r.IntN(2) == 0, By: reasons[r.IntN(len(reasons))],
				Reason: reasons[r.IntN(len(reasons))], At: time.Unix(r.Int64N(4e9), 0).UTC(), Seq: r.IntN(100)}
		}
		if r.IntN(3) == 0 {
			v.Budget = &rollout.Budget{Objective: 0.999, Window: "30d", ErrorRatio: floats[r.IntN(len(floats))], Remaining: -floats[r.IntN(len(floats))],
				Burns:   []rollout.Burn{{Long: "1h", Short: "5m", Threshold: 14.4, LongRate: floats[r.IntN(len(floats))], Fired: r.IntN(2) == 0}},
				Problem: reasons[r.IntN(len(reasons))]}
		}
		want, err := encodeHistoryEntry(&v)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pastOf(&v, prev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
		prev = &p
	}
	if _, err := pastOf(&Verdict{Message: message.Verdict{Verdict: "maybe"}}, nil); err == nil {
		t.Error("an unknown verdict was kept")
	}
}

// TestRecordFromEarlierDaemon reads a record as daemons before the binary
// state wrote it (the judge's state as a JSON object, every history entry
// whole), so that an upgrade resumes the analyses in flight.
func TestRecordFromEarlierDaemon(t *testing.T) {
	const old = `{"id":"a1","event":{"id":"a1","service":"web","namespace":"prod","template":"web",` +
		`"baseline":{"version":"v1"},"canary":{"version":"v2"}},"created_at":"2026-11-23T05:00:00Z",` +
		`"updated_at":"2026-11-23T05:01:00Z","start":"2026-11-23T05:00:00Z","interval":60000000000,` +
		`"plan":{"steps":[10,50,100],"judgements_per_step":1},"position":{"step":1,"judgements":1},` +
		`"judge_state":{"looks":1,"metrics":[{"name":"latency","log":{"n":30,"sum":0.5,"sum_sq":0.1,"sum_lag":0.05,` +
		`"first":0.01,"last":0.02,"blocks":1,"within_ss":0.09,"within_lag":0.01,"within_df":29,"block_len":30,` +
		`"last_n":30,"last_mean":0.016},"up":{},"down":{},"sum_c":3000,"sum_b":2990}]},"seq":1,"published":1,` +
		`"history":[{"analysis_id":"a1","service":"web","namespace":"prod","seq":1,"step":1,"weight":10,` +
		`"next_weight":50,"verdict":"promote","final":false,"score":100,"reason":"ok","metrics":[],` +
		`"issued_at":"2026-11-23T05:01:00Z"}],"lease":{"owner":"x","expires":"2026-11-23T05:03:00Z"}}`
	var r Record
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	if r.Judge == nil || r.Judge.Looks != 1 || len(r.Judge.Metrics) != 1 || r.Judge.Metrics[0].Log.N != 30 ||
		r.Judge.Metrics[0].SumC != 3000 || r.Latest() == nil || r.Latest().Seq != 1 {
		t.Fatalf("decoded %+v, judge %+v", r, r.Judge)
	}
	// Written again, it is in the current form and reads back the same.
	b, err := r.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var again Record
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if again.Judge == nil || again.Judge.Metrics[0].Log != r.Judge.Metrics[0].Log || again.Latest().Reason != "ok" {
		t.Fatalf("re-read %+v", again)
	}
}

// TestVerdictOwnsItsEvidence checks a verdict shares no array with the
// judgement it was made from: judges are pooled, and the next judgement,
// of any analysis, reuses the judge's arrays.
func TestVerdictOwnsItsEvidence(t *testing.T) {
	j := &analysis.Judgement{Verdict: analysis.Hold, Metrics: []analysis.MetricResult{{Name: "m", Warnings: []string{"gap"}}}}
	v := NewVerdict(&Record{ID: "a1"}, rollout.Decision{Seq: 1, Verdict: analysis.Hold}, j, time.Now())
	j.Metrics[0].Warnings[0] = "another analysis' warning"
	j.Metrics[0].Name = "other"
	if v.Metrics[0].Warnings[0] != "gap" || v.Metrics[0].Name != "m" {
		t.Errorf("the verdict's evidence changed with the judge's: %+v", v.Metrics[0])
	}
}
