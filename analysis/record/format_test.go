package record

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// goldenRecord is the record the golden JSON below holds: two verdicts,
// the first published, and a judge's state.
func goldenRecord() *Record {
	at := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	r := &Record{
		ID:        "a1",
		Event:     message.Event{ID: "a1", Service: "web", Namespace: "prod", Template: "web", Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}},
		CreatedAt: at, UpdatedAt: at.Add(2 * time.Minute), Start: at, Interval: time.Minute,
		Rollout:   rollout.New(rollout.Plan{Steps: []float64{10, 50, 100}, JudgementsPerStep: 1}),
		Judge:     &analysis.State{Looks: 2, Metrics: []analysis.MetricState{{Name: "latency", SumC: 3000, SumB: 2990}}},
		Published: 1,
		History:   []Verdict{},
		Lease:     Lease{Owner: "x", Expires: at.Add(4 * time.Minute)},
	}
	for seq := 1; seq <= 2; seq++ {
		d := r.Judged(rollout.Promote)
		v := NewVerdict(r, d, &analysis.Judgement{Verdict: analysis.Promote, Score: 100, Reason: "ok",
			Metrics: []analysis.MetricResult{{Name: "latency", Test: "mann-whitney", PValue: 0.5}}}, at.Add(time.Duration(seq)*time.Minute))
		r.AddVerdict(v)
	}
	return r
}

// TestRecordFormats pins the stored JSON of every record format still
// read: replicas of different versions share the bucket during an
// upgrade, so a change of layout must raise Format, and what earlier
// versions wrote must still read as it did.
func TestRecordFormats(t *testing.T) {
	const format2 = `{"format":2,"id":"a1","event":{"id":"a1","service":"web","namespace":"prod","template":"web",` +
		`"baseline":{"version":"v1"},"canary":{"version":"v2"}},"created_at":"2026-11-23T05:00:00Z",` +
		`"updated_at":"2026-11-23T05:02:00Z","start":"2026-11-23T05:00:00Z","interval":60000000000,` +
		`"plan":{"Steps":[10,50,100],"JudgementsPerStep":1,"MaxJudgements":0,"LifetimeOutcome":""},` +
		`"position":{"step":2,"promotes":0,"judgements":2},"seq":2,` +
		`"judge_state":"BQIBB2xhdGVuY3kAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABwp0AAAAAAAFynQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",` +
		`"published":1,"lease":{"owner":"x","expires":"2026-11-23T05:04:00Z"},"history":[{"seq":1,"step":1,` +
		`"weight":10,"next_weight":50,"verdict":"promote","score":100,"reason":"ok",` +
		`"issued_at":"2026-11-23T05:01:00Z"},{"analysis_id":"a1","service":"web","namespace":"prod","seq":2,` +
		`"step":2,"weight":50,"next_weight":100,"verdict":"promote","final":false,"score":100,"reason":"ok",` +
		`"metrics":[{"name":"latency","classification":"","test":"mann-whitney","direction":"",` +
		`"allowed_change":0,"critical":false,"weight":0,"p_value":0.5,"alpha":0,"change":0,"change_ci":[0,0],` +
		`"hl_shift":0,"ci":[0,0],"rel_shift":0,"rel_ci":[0,0],"n_baseline":0,"n_canary":0,"n_pairs":0,` +
		`"total_pairs":0,"dropped":0,"reason":""}],"issued_at":"2026-11-23T05:02:00Z"}]}`
	b, err := goldenRecord().appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != format2 {
		t.Fatalf("format %d changed: a new layout needs a new Format (and this test a new golden):\n%s", Format, b)
	}
	// Format 1: the same, without the field; and format 2 records whose
	// judge's state an earlier canaryd wrote (state version 3, without the
	// tail test's serials; version 4, without the first interval's sums),
	// which the state reads as version 5.
	const state5 = "BQIBB2xhdGVuY3kAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABwp0AAAAAAAFynQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	format1 := strings.Replace(format2, `"format":2,`, "", 1)
	state4 := strings.Replace(format2, state5, "BAIBB2xhdGVuY3kAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABwp0AAAAAAAFynQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 1)
	state3 := strings.Replace(format2, state5, "AwIBB2xhdGVuY3kAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABwp0AAAAAAAFynQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 1)
	for name, raw := range map[string]string{"format 2": format2, "format 1": format1, "format 2, state version 4": state4, "format 2, state version 3": state3} {
		var r Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := r.appendJSON(nil)
		if err != nil || string(again) != format2 {
			t.Errorf("%s reads as\n%s\n%v", name, again, err)
		}
	}
	// What a listing reads: the latest verdict without its evidence, no
	// judge's state.
	sum, err := DecodeSummary([]byte(format2))
	if err != nil || len(sum.History) != 1 || sum.Latest().Seq != 2 || sum.Latest().Reason != "ok" || len(sum.Latest().Metrics) != 0 || sum.Judge != nil || sum.Seq != 2 {
		t.Errorf("summary: %+v, %v", sum, err)
	}
	// A later format, or a record that does not decode, is unreadable
	// and read not even in part.
	for name, raw := range map[string]string{
		"format 3":            strings.Replace(format2, `"format":2,`, `"format":3,`, 1),
		"format 3, new shape": `{"format":3,"id":"a1","history":{"ring":[]}}`,
		"corrupt":             `{"format":2,"id":"a1","history":[`,
		"bad judge state":     strings.Replace(format2, `"judge_state":"`, `"judge_state":"BQ`, 1),
	} {
		_, err := Decode([]byte(raw))
		if !errors.Is(err, ErrUnreadable) {
			t.Errorf("%s: %v, want ErrUnreadable", name, err)
		}
		if strings.HasPrefix(name, "format 3") && !strings.Contains(err.Error(), "format 3, written by a later canaryd (this one reads formats up to 2)") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
