package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
)

// Final is how a replayed rollout ended, or where it stood when the
// recording ended.
type Final struct {
	// Verdict is the last verdict that went out, and Interval the 0-based
	// interval of its judgement.
	Verdict  Verdict `json:"verdict"`
	Interval int     `json:"interval"`
	Reason   string  `json:"reason"`
	// Outcome is how the rollout ended; empty when the recording ended
	// before the rollout did (RecordingEnded).
	Outcome rollout.Outcome `json:"outcome,omitempty"`
	// RecordingEnded says the recording held fewer intervals than the
	// rollout needed: the replay reports where the rollout stood (Step,
	// Weight) and invents no outcome.
	RecordingEnded bool `json:"recording_ended,omitempty"`
	// Step is the rollout's step (1-based) and Weight its canary weight
	// after the last verdict; Judgements the number of judgements made.
	Step       int     `json:"step"`
	Weight     float64 `json:"weight"`
	Judgements int     `json:"judgements"`
	// Summary says it in a sentence: "succeeded after 8 judgement(s)",
	// "recording ended at step 2 of 4 (weight 25%), 3 judgement(s)".
	Summary string `json:"summary"`
}

// ReplayVerdict is the verdict that went out for one judgement of a
// replay: the rollout's decision and the reason it was published with.
type ReplayVerdict struct {
	rollout.Decision
	// Interval is the 0-based interval judged.
	Interval int    `json:"interval"`
	Reason   string `json:"reason"`
}

// ReplayResult is a replayed rollout: the judge's judgement of every
// interval judged, the verdict each turned into, and the end.
type ReplayResult struct {
	Intervals []Judgement `json:"intervals"`
	// Verdicts is parallel to Intervals.
	Verdicts []ReplayVerdict `json:"verdicts"`
	// Answers are the verdicts the answers to approval gates issued
	// (ReplayAnswering), each with the interval it followed.
	Answers []ReplayVerdict `json:"answers,omitempty"`
	Final   Final           `json:"final"`
}

// ReplayAnswer is a person's answer to an approval gate in a replay,
// given right after the judgement of Interval (0-based), as the daemon
// takes one between two judgements.
type ReplayAnswer struct {
	Interval int `json:"interval"`
	rollout.Approval
}

// Replay runs a recording through the judge and the template's rollout
// (package rollout's state machine), interval after interval, as the
// daemon would have live: it stops when the rollout ends (a rollback, the
// last step's promotes, the lifetime), or, when the recording is shorter
// than the rollout, at the recording's end with Final.RecordingEnded.
//
// A rollout that reaches an approval gate waits there as the daemon's
// does when nobody answers: it holds until the gate's timeout.
func Replay(ctx context.Context, t *spec.Template, rec *metrics.Recording) (*ReplayResult, error) {
	return ReplayAnswering(ctx, t, rec, nil)
}

// ReplayAnswering is Replay with people answering the approval gates:
// each answer is applied right after the judgement of its interval, in
// order, through the rollout's Answer as the daemon applies one. An
// answer the rollout refuses (no gate waits, the rollout has ended) is
// an error.
func ReplayAnswering(ctx context.Context, t *spec.Template, rec *metrics.Recording, answers []ReplayAnswer) (*ReplayResult, error) {
	ro := rollout.New(rollout.PlanOf(t))
	res := &ReplayResult{}
	last := ReplayVerdict{}
	var refused error
	applied := make([]bool, len(answers))
	err := judgeRecording(ctx, t, rec, func(j *Judgement, w recordedWindow) bool {
		GateBudget(ctx, w.provider, t, w.target, &ro, j, w.index, w.start, w.end, nil)
		d := j.Apply(&ro)
		res.Intervals = append(res.Intervals, *j)
		last = ReplayVerdict{Decision: d, Interval: j.Interval, Reason: j.ReasonFor(&d)}
		res.Verdicts = append(res.Verdicts, last)
		for i, a := range answers {
			if a.Interval != j.Interval {
				continue
			}
			applied[i] = true
			ad, err := ro.Answer(a.Approval)
			if err != nil {
				refused = fmt.Errorf("replay: answer %d (%s by %s after interval %d): %w", i, a.Action(), a.By, a.Interval, err)
				return false
			}
			last = ReplayVerdict{Decision: ad, Interval: j.Interval, Reason: ad.Approval.Describe()}
			res.Answers = append(res.Answers, last)
		}
		return !ro.Done()
	})
	if err == nil {
		err = refused
	}
	for i, ok := range applied {
		if err == nil && !ok {
			a := &answers[i]
			err = fmt.Errorf("replay: answer %d (%s by %s after interval %d): the rollout stopped before it (%s at interval %d)",
				i, a.Action(), a.By, a.Interval, ro.State(), last.Interval)
			if ro.Done() {
				err = fmt.Errorf("%w: %w", err, rollout.ErrEnded)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	res.Final = Final{Verdict: last.Verdict, Interval: last.Interval, Reason: last.Reason, Outcome: ro.Position.Outcome,
		Step: ro.Step(), Weight: ro.Weight(), Judgements: ro.Judgements()}
	if ro.Done() {
		res.Final.Summary = fmt.Sprintf("%s after %d judgement(s)", ro.State(), ro.Judgements())
	} else {
		res.Final.RecordingEnded = true
		res.Final.Summary = "recording ended at " + ro.Where()
	}
	return res, nil
}

// JudgeRecording runs the judge alone over every interval of a recording,
// in order, with one sequential state: what the judge says of an analysis
// regardless of any rollout plan, up to its first rollback. The judge's
// decision figures on the shared scenarios are measured with it; Replay is
// what a rollout does with the same judgements.
func JudgeRecording(ctx context.Context, t *spec.Template, rec *metrics.Recording) ([]Judgement, error) {
	var out []Judgement
	err := judgeRecording(ctx, t, rec, func(j *Judgement, _ recordedWindow) bool {
		out = append(out, *j)
		return j.Verdict != Rollback
	})
	return out, err
}

// recordedWindow is the recorded interval a judgement of judgeRecording
// judged, with what answers queries of it.
type recordedWindow struct {
	provider   metrics.Provider
	target     Target
	index      int
	start, end time.Time
}

// judgeRecording judges the intervals of rec in order and hands each
// judgement, with its window, to yield until it returns false.
func judgeRecording(ctx context.Context, t *spec.Template, rec *metrics.Recording, yield func(*Judgement, recordedWindow) bool) error {
	if len(rec.Intervals) == 0 {
		return errors.New("replay: the recording has no intervals")
	}
	j := NewJudge(t)
	st := j.NewState()
	p := rec.Provider()
	target := replayTarget(rec)
	for k, iv := range rec.Intervals {
		start, end := iv.Start, iv.End
		if start.IsZero() {
			start = time.Unix(0, 0).Add(time.Duration(k) * time.Duration(t.Interval))
			end = start.Add(time.Duration(t.Interval))
		}
		in, err := Fetch(ctx, p, nil, t, target, iv.Index, start, end, nil)
		if err != nil {
			return fmt.Errorf("replay interval %d: %w", k, err)
		}
		var out Judgement
		if err := j.Judge(st, in, &out); err != nil {
			return fmt.Errorf("replay interval %d: %w", k, err)
		}
		out.Interval = k
		j.Explain(&out)
		if !yield(&out, recordedWindow{provider: p, target: target, index: iv.Index, start: start, end: end}) {
			break
		}
	}
	return nil
}

// replayTarget names the target of a recording from its metadata, with
// placeholders for a recording that has none (the queries are rendered for
// the explanations only: replay answers from the recording).
func replayTarget(rec *metrics.Recording) Target {
	get := func(key, def string) string {
		if v := rec.Meta[key]; v != "" {
			return v
		}
		return def
	}
	return Target{
		Service:   get("service", "recorded-service"),
		Namespace: get("namespace", "recorded"),
		Baseline:  Version{Version: get("baseline_version", "baseline")},
		Canary:    Version{Version: get("canary_version", "canary")},
	}
}
