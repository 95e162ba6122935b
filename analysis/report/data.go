package report

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
)

// Data is everything one analysis' report shows.
type Data struct {
	ID        string
	Service   string
	Namespace string
	Template  string
	Baseline  analysis.Version
	Canary    analysis.Version
	// State is "running" or how the analysis ended (rollout.Outcome:
	// succeeded, rolled_back, expired, aborted); a replay whose recording
	// ended first is StateRecordingEnded.
	State string
	// Steps are the plan's canary weights in percent.
	Steps []float64
	// Source says where the data comes from ("canaryd", "replay of
	// FILE"); shown in the page's footer.
	Source string
	// Generated is when the report was rendered.
	Generated time.Time
	// Timeline holds the judgements, oldest first.
	Timeline []Judgement
	// Series holds what the judged intervals fetched; nil when the
	// samples are not available (the charts of the series are then left
	// out, and SeriesNote says why).
	Series     *metrics.Recording
	SeriesNote string
	// QueryTemplates holds each metric's query as the template writes it,
	// shown instead of rendered queries when the analysis names no service
	// (a replay of a recording without metadata).
	QueryTemplates map[string]string
	// Audit holds the analysis' audit records, oldest first (the daemon's
	// audit trail; none in a replay), and AuditNote what the table leaves
	// out or why it is missing.
	Audit     []AuditRow
	AuditNote string
}

// AuditRow is one audit record as the report shows it.
type AuditRow struct {
	At time.Time
	// Actor is who decided: "replica <id>" or "person <by>".
	Actor  string
	Action string
	Reason string
}

// Judgement is one verdict of the timeline with the evidence of every
// metric.
type Judgement struct {
	// Seq numbers the analysis' verdicts from 1.
	Seq int
	// Interval is the 0-based judgement index, -1 for a verdict that
	// judged nothing (an abort).
	Interval int
	// Start and End are the judged window; zero when unknown.
	Start, End time.Time
	// Step is the 1-based rollout step judged, Weight the canary weight
	// during the judgement and NextWeight the weight it set.
	Step       int
	Weight     float64
	NextWeight float64
	Verdict    analysis.Verdict
	Final      bool
	Outcome    rollout.Outcome
	Score      analysis.Float
	Reason     string
	Metrics    []analysis.MetricResult
	IssuedAt   time.Time
	// AwaitingApproval says the rollout held for an approval; Approval is
	// the approval or denial the verdict carried out (Interval -1).
	AwaitingApproval bool
	Approval         *rollout.Approval
	// Budget is the service's error budget measured for a promotion
	// (rollout.Budget); a budget that did not allow it held the step.
	Budget *rollout.Budget
}

// Summary is one analysis as the index page lists it.
type Summary struct {
	ID        string
	Service   string
	Namespace string
	Template  string
	State     string
	// Step is the current 1-based step of Steps, Weight the current
	// canary weight in percent.
	Step        int
	Steps       int
	Weight      float64
	Judgements  int
	LastVerdict analysis.Verdict // empty before the first judgement
	LastScore   analysis.Float
	UpdatedAt   time.Time
	// Error says why the analysis' record cannot be read (a record
	// written by a later canaryd); only ID, Service and Namespace are
	// known then.
	Error string
}

// Replay is the input of FromReplay: a template, the recording it was
// replayed over, the replay's result and where the recording came from.
type Replay struct {
	Template  *spec.Template
	Recording *metrics.Recording
	Result    *analysis.ReplayResult
	// Source names the recording (a file name) for the footer.
	Source string
	// Generated is when the report is made.
	Generated time.Time
}

// StateRecordingEnded is the State of a replayed analysis whose
// recording ended before its rollout did.
const StateRecordingEnded = "recording_ended"

// FromReplay builds the report of a replayed analysis: its timeline is
// the replay's verdicts, as the rollout issued them (package rollout's
// state machine, the daemon's), and ends where the rollout ended or the
// recording did (State StateRecordingEnded).
// Identity fields come from the recording's metadata (analysis, service,
// namespace, baseline_version, canary_version); those it lacks stay empty
// and the page says they were not recorded. The series are the recording's
// judged intervals; those of the minimal form, which has no clock, are put
// on the template's: interval k spans [k·interval, (k+1)·interval], its
// points evenly spread over it, the first one point after the start, as
// the daemon queries them.
func FromReplay(r Replay) *Data {
	t, rec := r.Template, r.Recording
	if rec.Version == 0 {
		rec = onTemplateClock(rec, time.Duration(t.Interval))
	}
	meta := func(key, def string) string {
		if v := rec.Meta[key]; v != "" {
			return v
		}
		return def
	}
	d := &Data{
		ID:        meta("analysis", "replay"),
		Service:   meta("service", ""),
		Namespace: meta("namespace", ""),
		Template:  t.Name,
		Baseline:  analysis.Version{Version: meta("baseline_version", "")},
		Canary:    analysis.Version{Version: meta("canary_version", "")},
		State:     StateRecordingEnded,
		Steps:     slices.Clone(t.Steps),
		Source:    "replay of " + cmp.Or(r.Source, "a recording"),
		Generated: r.Generated,
	}
	if d.Service == "" {
		d.QueryTemplates = make(map[string]string, len(t.Metrics))
		for _, m := range t.Metrics {
			d.QueryTemplates[m.Name] = m.Query
		}
	}
	if o := r.Result.Final.Outcome; o != rollout.Running {
		d.State = string(o)
	}
	judged := map[int]bool{}
	for i := range r.Result.Verdicts {
		v, j := &r.Result.Verdicts[i], &r.Result.Intervals[i]
		e := Judgement{
			Seq:        v.Seq,
			Interval:   v.Interval,
			Step:       v.Step,
			Weight:     v.Weight,
			NextWeight: v.NextWeight,
			Verdict:    v.Verdict,
			Final:      v.Final,
			Outcome:    v.Outcome,
			Score:      j.Score,
			Reason:     v.Reason,
			Metrics:    j.Metrics,

			AwaitingApproval: v.AwaitingApproval,
			Budget:           v.Budget,
		}
		if k, ok := slices.BinarySearchFunc(rec.Intervals, v.Interval, func(iv metrics.RecordedInterval, idx int) int { return iv.Index - idx }); ok {
			e.Start, e.End = rec.Intervals[k].Start, rec.Intervals[k].End
		}
		judged[v.Interval] = true
		d.Timeline = append(d.Timeline, e)
	}
	for _, v := range r.Result.Answers {
		d.Timeline = append(d.Timeline, Judgement{Seq: v.Seq, Interval: -1, Step: v.Step, Weight: v.Weight, NextWeight: v.NextWeight,
			Verdict: v.Verdict, Final: v.Final, Outcome: v.Outcome, Score: analysis.Float(math.NaN()), Reason: v.Reason, Approval: v.Approval})
	}
	slices.SortFunc(d.Timeline, func(a, b Judgement) int { return cmp.Compare(a.Seq, b.Seq) })
	series := &metrics.Recording{Version: rec.Version, Meta: rec.Meta}
	for _, iv := range rec.Intervals {
		if judged[iv.Index] {
			series.Intervals = append(series.Intervals, iv)
		}
	}
	d.Series = series
	return d
}

// FinalJudgement returns the latest judgement, or nil before the first.
func (d *Data) FinalJudgement() *Judgement {
	if len(d.Timeline) == 0 {
		return nil
	}
	return &d.Timeline[len(d.Timeline)-1]
}

// onTemplateClock returns a copy of rec, a recording of the minimal form,
// whose intervals and points lie on a clock that starts at 0 and advances
// by interval per judgement. The minimal form numbers its points one
// second apart, which would draw a 5m template's interval as 30 seconds.
func onTemplateClock(rec *metrics.Recording, interval time.Duration) *metrics.Recording {
	out := &metrics.Recording{Version: rec.Version, Meta: rec.Meta, Intervals: make([]metrics.RecordedInterval, len(rec.Intervals))}
	for k, iv := range rec.Intervals {
		start := time.Unix(0, 0).UTC().Add(time.Duration(iv.Index) * interval)
		n := 1
		for _, roles := range iv.Metrics {
			for _, s := range roles {
				n = max(n, len(s.Values))
			}
		}
		step := interval / time.Duration(n)
		c := metrics.RecordedInterval{Index: iv.Index, Start: start, End: start.Add(interval), Metrics: make(map[string]map[metrics.Role]metrics.Samples, len(iv.Metrics))}
		for name, roles := range iv.Metrics {
			c.Metrics[name] = make(map[metrics.Role]metrics.Samples, len(roles))
			for role, s := range roles {
				s = s.Clone()
				for i := range s.Times {
					s.Times[i] = start.Add(time.Duration(i+1) * step).UnixMilli()
				}
				c.Metrics[name][role] = s
			}
		}
		out.Intervals[k] = c
	}
	return out
}
