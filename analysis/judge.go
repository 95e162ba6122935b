package analysis

import (
	"errors"
	"math"
	"time"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/stats"
)

// mwBlock is the number of points averaged into one block for the
// mann-whitney test.
const mwBlock = 10

// Input is what was fetched for one metric at one judgement.
type Input struct {
	Baseline, Canary metrics.Samples
	// Err is the fetch error, if any: the metric is classified error.
	Err error
	// Start and End are the first and last steps of the window the samples
	// cover, against which their freshness is measured; zero when unknown
	// (the last point's time then stands for End).
	Start, End time.Time
}

// State is the sequential state of one analysis: what the judge needs of
// the past to judge the next interval. It is small (a few hundred bytes
// per metric; mann-whitney keeps block means), holds no points of the
// paired test, and encodes as JSON for the daemon's key-value store.
type State struct {
	// Looks counts the judgements made.
	Looks   int           `json:"looks"`
	Metrics []MetricState `json:"metrics"`
	// CanaryStale counts the judgements in a row at which a counted
	// metric's canary series were stale while its baseline's were fresh.
	CanaryStale int `json:"canary_stale,omitempty"`
}

// MetricState is one metric's part of State.
type MetricState struct {
	Name string `json:"name"`
	// Log accumulates log(c/b); LogBroken is set once a value ≤ 0 is seen.
	Log       stats.Serial `json:"log"`
	LogBroken bool         `json:"log_broken,omitempty"`
	// Signed is set once a negative value is seen: the values are not
	// counts or rates.
	Signed bool `json:"signed,omitempty"`
	// Up accumulates c − (1+δ)b and Down (1−δ)b − c (linear scale).
	Up   stats.Serial `json:"up"`
	Down stats.Serial `json:"down"`
	// SumC and SumB are the sums of the paired canary and baseline values.
	SumC float64 `json:"sum_c"`
	SumB float64 `json:"sum_b"`
	// BlocksC and BlocksB are block means for mann-whitney.
	BlocksC []float64 `json:"blocks_c,omitempty"`
	BlocksB []float64 `json:"blocks_b,omitempty"`
	// C and B accumulate the paired canary and baseline values alone, for
	// the count test of rates (empty in a state written before it).
	C stats.Serial `json:"c"`
	B stats.Serial `json:"b"`
	// Tail and TailLow accumulate the tail test's signs (see tailBlock):
	// +1 where only the canary's point is in the tail, −1 where only the
	// baseline's is; Tail for the bad direction's tail beyond the margin,
	// TailLow for the other tail (both empty without the tail test, and in
	// a state written before it).
	Tail    stats.Serial `json:"tail"`
	TailLow stats.Serial `json:"tail_low"`
	// FirstN is the number of pairs of the first interval that had any
	// (0 until one has), and FirstLog, FirstSumC and FirstSumB that
	// interval's Σ log(c/b) and sums of canary and baseline values: the
	// start that the pass rule sets aside (see settled).
	FirstN    int     `json:"first_n,omitempty"`
	FirstLog  float64 `json:"first_log,omitempty"`
	FirstSumC float64 `json:"first_sum_c,omitempty"`
	FirstSumB float64 `json:"first_sum_b,omitempty"`
}

// Judge judges the analyses of one template. It keeps scratch buffers so
// that a steady-state judgement allocates nothing: a Judge is not safe for
// concurrent use (use one per worker).
type Judge struct {
	t  *spec.Template
	ws stats.Workspace

	b, c, d     []float64
	up, down    []float64
	pvals       []float64
	reject      []bool
	order       []int
	tested      []float64 // p-values of counted metrics, in metric order (NaN when untested)
	dryReject   []bool
	burnResults []stats.BurnResult
}

// NewJudge returns a judge for template t (loaded and validated by
// package configs).
func NewJudge(t *spec.Template) *Judge {
	n := len(t.Metrics)
	return &Judge{
		t:         t,
		pvals:     make([]float64, n),
		reject:    make([]bool, n),
		order:     make([]int, n),
		tested:    make([]float64, n),
		dryReject: make([]bool, n),
	}
}

// SetExactTable makes the judge take exact Mann-Whitney null
// distributions from t, a table shared with other judges (see
// stats.ExactTable); without one it remembers only the last it computed.
func (j *Judge) SetExactTable(t *stats.ExactTable) { j.ws.SetExactTable(t) }

// Template returns the judge's template.
func (j *Judge) Template() *spec.Template { return j.t }

// NewState returns the empty state of a new analysis.
func (j *Judge) NewState() *State {
	st := &State{Metrics: make([]MetricState, len(j.t.Metrics))}
	for i := range j.t.Metrics {
		st.Metrics[i].Name = j.t.Metrics[i].Name
	}
	return st
}

// ErrStateMismatch is returned when a state does not belong to the
// judge's template (a config reload changed its metrics).
var ErrStateMismatch = errors.New("analysis: state does not match the template's metrics")

// Judge judges the next interval of an analysis: in holds one Input per
// template metric, in the template's order. It advances st and writes the
// judgement into out, reusing out's slices; reasons are written by
// Explain. In steady state it allocates nothing.
func (j *Judge) Judge(st *State, in []Input, out *Judgement) error {
	t := j.t
	if len(in) != len(t.Metrics) {
		return errors.New("analysis: one input per metric is needed")
	}
	if len(st.Metrics) != len(t.Metrics) {
		return ErrStateMismatch
	}
	for i := range t.Metrics {
		if st.Metrics[i].Name != t.Metrics[i].Name {
			return ErrStateMismatch
		}
	}
	st.Looks++
	if cap(out.Metrics) < len(t.Metrics) {
		out.Metrics = make([]MetricResult, len(t.Metrics))
	}
	out.Metrics = out.Metrics[:len(t.Metrics)]
	out.Interval = st.Looks - 1
	out.CanaryStale, out.Expire, out.Budget = 0, false, nil

	// look counts the judgements after the warm-up: error spending starts
	// there, so that a warm-up costs no power.
	look := st.Looks - t.WarmupIntervals()
	if look < 1 {
		for i := range t.Metrics {
			warmingUp(&t.Metrics[i], &in[i], &out.Metrics[i])
		}
		j.score(out)
		return nil
	}
	alpha := stats.SpendAlpha(t.Alpha(), look)

	for i := range t.Metrics {
		j.judgeMetric(&t.Metrics[i], &st.Metrics[i], &in[i], look, alpha, &out.Metrics[i])
		j.tested[i] = out.Metrics[i].rawP
	}

	// Holm across counted metrics; dry-run metrics are held to α_k alone.
	for i := range t.Metrics {
		j.pvals[i] = j.tested[i]
		if t.Metrics[i].DryRun {
			j.pvals[i] = math.NaN()
		}
	}
	stats.Holm(j.pvals, alpha, j.reject, j.order)
	m := 0
	for i := range j.pvals {
		if !math.IsNaN(j.pvals[i]) {
			m++
		}
	}
	for i := range t.Metrics {
		r := &out.Metrics[i]
		if r.rawP != r.rawP { // NaN: not a hypothesis test this look
			continue
		}
		level := alpha
		if !t.Metrics[i].DryRun && m > 0 {
			level = alpha / float64(m) // Holm's first step; reported as the strictest level
		}
		r.Alpha = Float(level)
		rejected := j.reject[i]
		if t.Metrics[i].DryRun {
			rejected = r.rawP <= alpha
		}
		if rejected {
			r.Classification = r.rejectAs
		} else {
			r.Classification = r.otherwise
		}
	}
	j.score(out)
	j.trackCanaryGone(st, out)
	return nil
}

// warmingUp fills r for a judgement inside the template's warm-up: nothing
// is tested and the state is left as it is.
func warmingUp(mc *spec.Metric, in *Input, r *MetricResult) {
	nan := Float(math.NaN())
	warnings := r.Warnings[:0]
	*r = MetricResult{
		Name:           mc.Name,
		Classification: Inconclusive,
		Test:           mc.Test,
		Direction:      mc.Direction,
		AllowedChange:  Float(mc.Margin()),
		Critical:       mc.IsCritical(),
		DryRun:         mc.DryRun,
		Weight:         Float(mc.WeightOrDefault()),
		PValue:         nan,
		Alpha:          nan,
		Change:         nan,
		ChangeCI:       [2]Float{nan, nan},
		HLShift:        nan,
		CI:             [2]Float{nan, nan},
		RelShift:       nan,
		RelCI:          [2]Float{nan, nan},
		NBaseline:      len(in.Baseline.Values),
		NCanary:        len(in.Canary.Values),
		BaselineQuery:  in.Baseline.Query,
		CanaryQuery:    in.Canary.Query,
		Warnings:       append(append(warnings, in.Baseline.Warnings...), in.Canary.Warnings...),
		rawP:           math.NaN(),
		why:            whyWarmup,
	}
	if in.Err != nil {
		r.Err = in.Err.Error()
	}
}

// score sets the score and verdict from the metric classifications.
func (j *Judge) score(out *Judgement) {
	t := j.t
	var total, failed float64
	allPass := true
	criticalFailed := false
	judged := false // some counted metric had data to judge
	for i := range t.Metrics {
		mc := &t.Metrics[i]
		r := &out.Metrics[i]
		if mc.DryRun {
			continue
		}
		w := mc.WeightOrDefault()
		total += w
		if r.Classification.Failed() {
			failed += w
			if mc.IsCritical() {
				criticalFailed = true
			}
		}
		if r.Classification != Pass {
			allPass = false
		}
		if r.Classification != NoData && r.Classification != Error {
			judged = true
		}
	}
	score := 0.0
	if total > 0 {
		score = 100 * (1 - failed/total)
	}
	out.Score = Float(score)
	switch {
	case criticalFailed || score < t.Scoring.Marginal:
		out.Verdict = Rollback
	case score >= t.Scoring.Pass && allPass:
		out.Verdict = Promote
	default:
		out.Verdict = Hold
	}
	if !judged {
		// Every counted metric errored or had no data: a score of 100
		// would say "nothing regressed" about metrics nobody could see.
		out.Score = Float(math.NaN())
	}
}
