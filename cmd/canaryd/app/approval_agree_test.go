package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestApprovalReplayAgrees answers the gates of a rollout in the daemon
// (fake clock, recorded provider) and gives replay the same answers
// after the same judgements: the verdicts, the answers' included, and
// the reports' timelines are the same.
func TestApprovalReplayAgrees(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "recordings", "healthy.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := metrics.ReadRecording(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plan := "    steps: [10, 50, 100]\n    approvals:\n      - step: 2\n        timeout: 1h\n      - step: 3\n        timeout: 1h\n"
	cfgText := "global:\n  prometheus:\n    url: http://127.0.0.1:9\ntemplates:\n  - name: approved\n    interval: 5m\n" + plan + agreementBlock(t)
	cfg, err := configs.Load(cfgText)
	if err != nil {
		t.Fatal(err)
	}
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), cfgText), func(o *Options, _ *hooks) {
		o.Provider = recordedProvider{"svc-approved": rec.Provider()}
	})
	c := connect(t, s)
	verdicts := published(c)
	e := event("approved-1", "v2")
	e.Service, e.Namespace, e.Template = "svc-approved", "agree", "approved"
	c.publishEvent(e)
	c.waitRecord(e.ID, nil)

	var got []record.Verdict
	var answers []analysis.ReplayAnswer
	waits := 0
	for k := 0; k < len(rec.Intervals) && (len(got) == 0 || !got[len(got)-1].Final); k++ {
		clock.Advance(5 * time.Minute)
		v := next(t, verdicts)
		got = append(got, v)
		if !v.AwaitingApproval {
			continue
		}
		// The first gate is approved after one more judgement of waiting,
		// the second at once.
		if waits++; waits == 1 {
			continue
		}
		ap := rollout.Approval{Approved: true, By: "ann", Reason: "after interval " + strconv.Itoa(k)}
		if _, err := a.runner.Answer(t.Context(), e.ID, ap); err != nil {
			t.Fatal(err)
		}
		ap.At = clock.Now().UTC()
		answers = append(answers, analysis.ReplayAnswer{Interval: k, Approval: ap})
		got = append(got, next(t, verdicts))
	}
	if len(answers) != 2 || !got[len(got)-1].Final || got[len(got)-1].Outcome != rollout.Succeeded {
		t.Fatalf("the rollout did not pass both gates: %d answers, last %+v", len(answers), got[len(got)-1])
	}

	res, err := analysis.ReplayAnswering(t.Context(), cfg.Template("approved"), rec, answers)
	if err != nil {
		t.Fatal(err)
	}
	var want []message.Verdict
	for i, v := range res.Verdicts {
		want = append(want, message.NewVerdict(e.ID, e.Service, e.Namespace, v.Decision, &res.Intervals[i], time.Time{}))
	}
	for _, v := range res.Answers {
		w := message.NewVerdict(e.ID, e.Service, e.Namespace, v.Decision, nil, time.Time{})
		w.Reason = v.Reason
		want = append(want, w)
	}
	if len(got) != len(want) {
		t.Fatalf("the daemon issued %d verdicts, replay %d", len(got), len(want))
	}
	for i := range got {
		g := got[i].Message
		var w *message.Verdict
		for j := range want {
			if want[j].Seq == g.Seq {
				w = &want[j]
			}
		}
		if w == nil {
			t.Fatalf("replay has no verdict #%d", g.Seq)
		}
		w.IssuedAt = g.IssuedAt
		if w.Approval == nil {
			// Scores compare as JSON (NaN for an answer's).
			gb, _ := g.AppendJSON(nil)
			wb, _ := w.AppendJSON(nil)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("verdict #%d:\ndaemon %s\nreplay %s", g.Seq, gb, wb)
			}
			continue
		}
		if g.Approval == nil || *g.Approval != *w.Approval || g.Reason != w.Reason || g.NextWeight != w.NextWeight || g.Verdict != w.Verdict {
			t.Fatalf("answer #%d:\ndaemon %+v %+v\nreplay %+v %+v", g.Seq, g, g.Approval, w, w.Approval)
		}
	}

	d, err := a.api.Report(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	rd := report.FromReplay(report.Replay{Template: cfg.Template("approved"), Recording: rec, Result: res})
	if len(d.Timeline) != len(rd.Timeline) {
		t.Fatalf("report timelines: daemon %d entries, replay %d", len(d.Timeline), len(rd.Timeline))
	}
	for i := range d.Timeline {
		withMetrics := i == len(d.Timeline)-1
		if g, w := timelineKey(&d.Timeline[i], withMetrics), timelineKey(&rd.Timeline[i], withMetrics); g != w {
			t.Fatalf("report entry %d:\ndaemon %s\nreplay %s", i, g, w)
		}
	}
}
