package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
)

// Final is how a replayed analysis ended.
type Final struct {
	Verdict Verdict `json:"verdict"`
	// Interval is the 0-based interval at which the final verdict was
	// reached: the first rollback, or else the last interval.
	Interval int    `json:"interval"`
	Reason   string `json:"reason"`
}

// ReplayResult is the judgement of every interval of a recording and the
// final outcome.
type ReplayResult struct {
	Intervals []Judgement `json:"intervals"`
	Final     Final       `json:"final"`
}

// Replay runs the judge over every interval of a recording, in order, as
// the daemon would have live: the first rollback ends the analysis;
// otherwise it runs to the last interval and ends with that interval's
// verdict (promote or hold).
func Replay(ctx context.Context, t *configs.Template, rec *metrics.Recording) (*ReplayResult, error) {
	if len(rec.Intervals) == 0 {
		return nil, errors.New("replay: the recording has no intervals")
	}
	j := NewJudge(t)
	st := j.NewState()
	p := rec.Provider()
	res := &ReplayResult{}
	target := replayTarget(rec)
	for k, iv := range rec.Intervals {
		start, end := iv.Start, iv.End
		if start.IsZero() {
			start = time.Unix(0, 0).Add(time.Duration(k) * time.Duration(t.Interval))
			end = start.Add(time.Duration(t.Interval))
		}
		in, err := Fetch(ctx, p, t, target, iv.Index, start, end, nil)
		if err != nil {
			return nil, fmt.Errorf("replay interval %d: %w", k, err)
		}
		var out Judgement
		if err := j.Judge(st, in, &out); err != nil {
			return nil, fmt.Errorf("replay interval %d: %w", k, err)
		}
		out.Interval = k
		j.Explain(&out)
		res.Intervals = append(res.Intervals, out)
		if out.Verdict == Rollback {
			break
		}
	}
	last := res.Intervals[len(res.Intervals)-1]
	res.Final = Final{Verdict: last.Verdict, Interval: last.Interval, Reason: last.Reason}
	return res, nil
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
