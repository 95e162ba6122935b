package spec

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/stats"
)

// Tests a metric can be judged with.
const (
	// TestPaired is the default: baseline and canary points paired by
	// timestamp, an autocorrelation-corrected one-sided test of the ratio
	// against allowed_change, with error spending across looks and Holm
	// across metrics (see package analysis).
	TestPaired = "paired"
	// TestMannWhitney compares block means of the two samples with a
	// Mann-Whitney U test shifted by allowed_change.
	TestMannWhitney = "mann-whitney"
	// TestBurnRate judges the canary's own SLO burn rate (multi-window,
	// multi-burn-rate rules).
	TestBurnRate = "burn-rate"
	// TestThreshold judges the canary's values against fixed bounds.
	TestThreshold = "threshold"
)

// Directions a regression can take.
const (
	DirectionIncrease = "increase"
	DirectionDecrease = "decrease"
	DirectionEither   = "either"
)

// NaN policies: what the judge does with NaN and ±Inf points.
const (
	// NaNDrop drops every pair in which either side is NaN or ±Inf, and
	// reports how many were dropped (the default).
	NaNDrop = "drop"
	// NaNZero treats NaN as 0 (for ratios whose 0/0 means "no errors");
	// ±Inf pairs are still dropped.
	NaNZero = "zero"
	// NaNFail makes any NaN or ±Inf point a metric error (hold).
	NaNFail = "fail"
)

// Scales the paired test compares on.
const (
	// ScaleAuto uses ScaleLog when every value is positive, ScaleLinear otherwise.
	ScaleAuto = "auto"
	// ScaleLog compares the mean log ratio log(canary/baseline) with log(1+allowed_change).
	ScaleLog = "log"
	// ScaleLinear compares the ratio of means with 1+allowed_change.
	ScaleLinear = "linear"
)

// Outcomes when an analysis outlives its lifetime.
const (
	OutcomeRollback = "rollback"
	OutcomeHold     = "hold"
	OutcomePromote  = "promote"
)

// Template defaults, documented in configs/example.yml.
const (
	DefaultInterval          = model.Duration(time.Minute)
	DefaultConfidence        = 0.95
	DefaultMinSamples        = 20
	DefaultPassScore         = 95
	DefaultMarginalScore     = 75
	DefaultJudgementsPerStep = 1
	DefaultAllowedChange     = 0.1
	DefaultWeight            = 1
	DefaultLifetimeOutcome   = OutcomeRollback
	DefaultSLOObjective      = 0.999
	DefaultMaxSampleAge      = model.Duration(time.Minute)
	DefaultMaxCanaryStale    = model.Duration(5 * time.Minute)
	DefaultApprovalTimeout   = model.Duration(time.Hour)
	DefaultApprovalOnTimeout = OutcomeRollback
)

// Template is how one kind of service is analysed: deploy events name it.
type Template struct {
	Name string `yaml:"name"`
	// Interval is the time between judgements and the length of each
	// judged window.
	Interval model.Duration `yaml:"interval"`
	// Step is the query resolution; default Interval/30, at least 1s.
	Step model.Duration `yaml:"step,omitempty"`
	// Warmup is how long after the canary starts nothing is judged: a
	// canary that warms up (cold caches, JIT, connection pools) is slow at
	// first, and its first minutes say nothing about its steady state. It
	// is rounded up to whole intervals (WarmupIntervals); those judgements
	// hold and add nothing to the evidence. Default 0.
	Warmup model.Duration `yaml:"warmup,omitempty"`
	// MaxSampleAge is how old the raw sample behind a point may be: a
	// point whose newest sample is older only repeats it (Prometheus's
	// lookback) and is not judged, and a metric whose latest window holds
	// too few fresh points, or whose newest sample is older than this at
	// the window's end, holds as stale. Default 1m; keep it above the
	// scrape interval of the metrics.
	MaxSampleAge model.Duration `yaml:"max_sample_age,omitempty"`
	// Lag is the telemetry lag: how long after a scrape its sample can be
	// queried (scrape interval, remote-write and federation delays). An
	// interval is judged Lag after it ends, so its queries, made then, end
	// Lag before now and never read a window whose last scrapes have not
	// arrived. It may exceed the interval: judgements then simply come
	// later. Default 0; a window judged before its data is complete holds
	// as stale (MaxSampleAge).
	Lag model.Duration `yaml:"lag,omitempty"`
	// MaxLag makes the lag measured as well as configured: when a window
	// is due (Lag after it ends) and the newest raw sample of some
	// metric's series is older at the window's end than the window's own
	// points show to be usual (its last scrapes have not arrived), the
	// judgement waits for them and fetches again, at most MaxLag more
	// (analysis.Late). Default 0: judge when due.
	MaxLag model.Duration `yaml:"max_lag,omitempty"`
	// MaxCanaryStale is how long the canary's series may stay stale while
	// the baseline's are fresh (a canary target gone): judgements hold
	// meanwhile, and after it the rollout ends as its lifetime would, with
	// LifetimeOutcome. Counted in judgements in a row × Interval. Default 5m.
	MaxCanaryStale model.Duration `yaml:"max_canary_stale,omitempty"`
	// Steps are the canary traffic weights (percent) of the rollout, in
	// order; default [100].
	Steps []float64 `yaml:"steps,omitempty"`
	// JudgementsPerStep is how many promote verdicts a step needs before
	// the rollout moves to the next weight.
	JudgementsPerStep int `yaml:"judgements_per_step,omitempty"`
	// Lifetime bounds an analysis; 0 means Interval × (len(Steps) ×
	// JudgementsPerStep + BakeJudgements + 10).
	Lifetime model.Duration `yaml:"lifetime,omitempty"`
	// LifetimeOutcome is the final verdict of an analysis that reaches its
	// lifetime without ending: rollback (default), hold or promote.
	LifetimeOutcome string `yaml:"lifetime_outcome,omitempty"`
	// Approvals are the steps a person must approve before the rollout
	// moves to them (package rollout waits there; see Approval).
	Approvals []Approval `yaml:"approvals,omitempty"`
	// SLO is the service's SLO: every promotion of the rollout waits
	// while its error budget is spent or burning fast (see SLO).
	SLO *SLO `yaml:"slo,omitempty"`
	// Bake is the post-promotion watch: after the final promote the
	// rollout keeps judging the service's error budget (SLO, required)
	// for this long, ceil(Bake / Interval) judgements, and ends succeeded
	// only after it; a budget spent or burning fast meanwhile rolls back
	// (rolled_back_after_promotion). 0 (default) means none.
	Bake model.Duration `yaml:"bake,omitempty"`
	// Confidence is 1 − α, where α bounds the probability of rolling back
	// a canary whose every metric is within its allowed change, over all
	// metrics and all judgements of the analysis together.
	Confidence float64 `yaml:"confidence,omitempty"`
	// MinSamples is the least number of paired points a metric needs
	// before it can pass; metrics may override it.
	MinSamples int      `yaml:"min_samples,omitempty"`
	Scoring    Scoring  `yaml:"scoring,omitempty"`
	Metrics    []Metric `yaml:"metrics"`
}

// Approval gates one rollout step: once the step before it has passed,
// the rollout waits at its current weight for a person to approve (the
// rollout moves on) or deny (it rolls back). Judgements go on meanwhile,
// so a regression still rolls back; after Timeout without an answer the
// rollout ends with OnTimeout.
type Approval struct {
	// Step is the 1-based step the approval lets the rollout enter: 2 to
	// len(steps) (the first step's weight is set when the analysis starts).
	Step int `yaml:"step"`
	// Timeout is how long the rollout waits, counted in judgements
	// (rounded up to whole intervals). Default 1h.
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// OnTimeout is what ends a wait that timed out: rollback (default)
	// sets the weight to 0; hold keeps the current weight and ends the
	// rollout as expired.
	OnTimeout string `yaml:"on_timeout,omitempty"`
}

// TimeoutJudgements returns how many judgements an approval waits:
// Timeout rounded up to whole intervals, at least 1.
func (a *Approval) TimeoutJudgements(interval model.Duration) int {
	if interval <= 0 {
		return 1
	}
	return max(1, int((a.Timeout+interval-1)/interval))
}

// Scoring holds the score thresholds: promote at or above Pass, roll back
// below Marginal, hold in between.
type Scoring struct {
	Pass     float64 `yaml:"pass"`
	Marginal float64 `yaml:"marginal"`
}

// Metric is one judged metric of a template.
type Metric struct {
	Name  string `yaml:"name"`
	Query string `yaml:"query"`
	// Test is one of paired (default), mann-whitney, burn-rate, threshold.
	Test string `yaml:"test,omitempty"`
	// Direction is the bad direction: increase (default), decrease, either.
	Direction string `yaml:"direction,omitempty"`
	// AllowedChange is the relative change tolerated in the bad direction
	// (0.05 = 5%); a larger regression is bad. Default 0.1.
	AllowedChange *float64 `yaml:"allowed_change,omitempty"`
	// Critical makes a confirmed regression of this metric roll back
	// whatever the score. Default true: the tests already control false
	// rollbacks across metrics and looks, so a confirmed regression beyond
	// the allowed change is a real one; set false for metrics that should
	// only lower the score.
	Critical *bool `yaml:"critical,omitempty"`
	// Weight is the metric's share of the score. Default 1.
	Weight *float64 `yaml:"weight,omitempty"`
	// DryRun metrics are judged and reported, never counted.
	DryRun bool `yaml:"dry_run,omitempty"`
	// MinSamples overrides the template's.
	MinSamples int `yaml:"min_samples,omitempty"`
	// NaNPolicy is drop (default), zero or fail.
	NaNPolicy string `yaml:"nan_policy,omitempty"`
	// Scale is auto (default), log or linear.
	Scale string `yaml:"scale,omitempty"`
	// Shape adds the tail test to the paired test (see package analysis):
	// whether the canary's points beyond the margin outnumber the
	// baseline's in the top tenth of the bad direction, which a location
	// test misses when a tail splits off. Default: on for queries of
	// histogram_quantile (latency percentiles), off otherwise.
	Shape *bool `yaml:"shape,omitempty"`
	// Aggregate combines several series per timestamp: sum, avg, min or
	// max. Empty: more than one series is an error.
	Aggregate string `yaml:"aggregate,omitempty"`
	// BurnRate configures test: burn-rate.
	BurnRate *BurnRate `yaml:"burn_rate,omitempty"`
	// Threshold configures test: threshold.
	Threshold *Threshold `yaml:"threshold,omitempty"`

	tmpl *QueryTemplate
}

// BurnRate configures an SLO burn-rate test of the canary's error ratio.
type BurnRate struct {
	// Objective is the SLO target, e.g. 0.999. Default 0.999.
	Objective float64 `yaml:"objective,omitempty"`
	// Windows are the multi-window rules; default: the SRE Workbook's
	// (14.4 over 1h/5m, 6 over 6h/30m, 3 over 1d/2h, 1 over 3d/6h) scaled
	// so that the longest long window equals the template's interval.
	Windows []BurnWindow `yaml:"windows,omitempty"`
}

// BurnWindow is one multi-window burn-rate rule: it fires when the burn
// rate exceeds Threshold over both the Long and the Short window.
type BurnWindow struct {
	Long      model.Duration `yaml:"long"`
	Short     model.Duration `yaml:"short"`
	Threshold float64        `yaml:"threshold"`
}

// Threshold configures test: threshold; the canary's mean over the
// judged window must lie within [Min, Max] (either may be omitted).
type Threshold struct {
	Min *float64 `yaml:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty"`
}

// QueryTemplate returns the parsed query template; nil before Load.
func (m *Metric) QueryTemplate() *QueryTemplate { return m.tmpl }

// IsCritical reports whether a confirmed regression rolls back whatever
// the score.
func (m *Metric) IsCritical() bool { return m.Critical == nil || *m.Critical }

// Margin returns allowed_change.
func (m *Metric) Margin() float64 {
	if m.AllowedChange == nil {
		return DefaultAllowedChange
	}
	return *m.AllowedChange
}

// ShapeTest reports whether the metric runs the tail test: Shape when
// set, otherwise whether a paired metric's query is a histogram_quantile.
func (m *Metric) ShapeTest() bool {
	if m.Shape != nil {
		return *m.Shape
	}
	return m.Test == TestPaired && strings.Contains(m.Query, "histogram_quantile")
}

// WeightOrDefault returns the metric's weight.
func (m *Metric) WeightOrDefault() float64 {
	if m.Weight == nil {
		return DefaultWeight
	}
	return *m.Weight
}

// Alpha returns the template's family-wise error rate, 1 − Confidence.
func (t *Template) Alpha() float64 { return 1 - t.Confidence }

// WarmupIntervals returns how many judgements the warm-up covers: Warmup
// rounded up to whole intervals.
func (t *Template) WarmupIntervals() int {
	if t.Warmup <= 0 || t.Interval <= 0 {
		return 0
	}
	return int((t.Warmup + t.Interval - 1) / t.Interval)
}

// QueryStep returns the query resolution.
func (t *Template) QueryStep() time.Duration {
	if t.Step > 0 {
		return time.Duration(t.Step)
	}
	s := time.Duration(t.Interval) / 30
	if s < time.Second {
		s = time.Second
	}
	return s.Truncate(time.Second)
}

// BakeJudgements is the number of judgements of the bake:
//
//	ceil(Bake / Interval)
//
// 0 without a bake.
func (t *Template) BakeJudgements() int {
	if t.Bake <= 0 || t.Interval <= 0 {
		return 0
	}
	b, i := time.Duration(t.Bake), time.Duration(t.Interval)
	return int((b + i - 1) / i)
}

// MaxJudgements is the number of judgements the lifetime allows.
func (t *Template) MaxJudgements() int {
	return int(time.Duration(t.Lifetime) / time.Duration(t.Interval))
}

// SetDefaults fills every unset field with its documented default;
// configs.Load calls it for every template it loads.
func (t *Template) SetDefaults() {
	if t.Interval == 0 {
		t.Interval = DefaultInterval
	}
	if len(t.Steps) == 0 {
		t.Steps = []float64{100}
	}
	if t.JudgementsPerStep == 0 {
		t.JudgementsPerStep = DefaultJudgementsPerStep
	}
	if t.Lifetime == 0 {
		t.Lifetime = model.Duration(time.Duration(t.Interval) * time.Duration(len(t.Steps)*t.JudgementsPerStep+t.BakeJudgements()+10))
	}
	if t.LifetimeOutcome == "" {
		t.LifetimeOutcome = DefaultLifetimeOutcome
	}
	if t.MaxSampleAge == 0 {
		t.MaxSampleAge = DefaultMaxSampleAge
	}
	if t.MaxCanaryStale == 0 {
		t.MaxCanaryStale = DefaultMaxCanaryStale
	}
	for i := range t.Approvals {
		a := &t.Approvals[i]
		if a.Timeout == 0 {
			a.Timeout = DefaultApprovalTimeout
		}
		if a.OnTimeout == "" {
			a.OnTimeout = DefaultApprovalOnTimeout
		}
	}
	if t.SLO != nil {
		t.SLO.setDefaults()
	}
	if t.Confidence == 0 {
		t.Confidence = DefaultConfidence
	}
	if t.MinSamples == 0 {
		t.MinSamples = DefaultMinSamples
	}
	if t.Scoring == (Scoring{}) {
		t.Scoring = Scoring{Pass: DefaultPassScore, Marginal: DefaultMarginalScore}
	}
	for i := range t.Metrics {
		m := &t.Metrics[i]
		if m.Test == "" {
			m.Test = TestPaired
		}
		if m.Direction == "" {
			m.Direction = DirectionIncrease
		}
		if m.NaNPolicy == "" {
			m.NaNPolicy = NaNDrop
		}
		if m.Scale == "" {
			m.Scale = ScaleAuto
		}
		if m.MinSamples == 0 {
			m.MinSamples = t.MinSamples
		}
		if m.Test == TestBurnRate {
			if m.BurnRate == nil {
				m.BurnRate = &BurnRate{}
			}
			if m.BurnRate.Objective == 0 {
				m.BurnRate.Objective = DefaultSLOObjective
			}
			if len(m.BurnRate.Windows) == 0 {
				m.BurnRate.Windows = defaultBurnWindows(time.Duration(t.Interval))
			}
		}
	}
}

// defaultBurnWindows scales the SRE Workbook's rules so that the longest
// long window (3 days) becomes the judged interval, keeping each rule's
// 12:1 long-to-short ratio and its threshold.
func defaultBurnWindows(interval time.Duration) []BurnWindow {
	workbook := stats.WorkbookWindows()
	f := float64(interval) / float64(workbook[len(workbook)-1].Long)
	out := make([]BurnWindow, 0, len(workbook))
	for _, w := range workbook {
		out = append(out, BurnWindow{
			Long:      model.Duration(time.Duration(math.Round(float64(w.Long) * f))),
			Short:     model.Duration(time.Duration(math.Round(float64(w.Short) * f))),
			Threshold: w.Threshold,
		})
	}
	return out
}

// Validate checks one template after SetDefaults; every problem is
// reported through add with its field path under path (templates[0]…).
// configs.Load calls it for every template it loads.
func (t *Template) Validate(path string, add func(path, format string, args ...any)) {
	if t.Name == "" {
		add(path+".name", "a template needs a name")
	}
	if t.Interval <= 0 {
		add(path+".interval", "must be positive")
	}
	for i, w := range t.Steps {
		if !(w > 0 && w <= 100) {
			add(fmt.Sprintf("%s.steps[%d]", path, i), "weight must be in (0, 100], got %v", w)
		}
		if i > 0 && w <= t.Steps[i-1] {
			add(fmt.Sprintf("%s.steps[%d]", path, i), "weights must increase, got %v after %v", w, t.Steps[i-1])
		}
	}
	if t.JudgementsPerStep < 1 {
		add(path+".judgements_per_step", "must be at least 1, got %d", t.JudgementsPerStep)
	}
	if t.Lifetime < t.Interval {
		add(path+".lifetime", "must be at least one interval (%s), got %s", t.Interval, t.Lifetime)
	}
	if t.Warmup < 0 {
		add(path+".warmup", "must not be negative, got %s", t.Warmup)
	} else if t.Warmup > 0 && t.Interval > 0 && model.Duration(t.WarmupIntervals())*t.Interval >= t.Lifetime {
		add(path+".warmup", "%s rounds up to %d intervals of %s, which leaves nothing of the lifetime (%s) to judge",
			t.Warmup, t.WarmupIntervals(), t.Interval, t.Lifetime)
	}
	if t.MaxSampleAge < model.Duration(time.Second) {
		add(path+".max_sample_age", "must be at least 1s (above the scrape interval), got %s", t.MaxSampleAge)
	}
	if t.Lag < 0 {
		add(path+".lag", "must not be negative, got %s", t.Lag)
	}
	if t.MaxLag < 0 {
		add(path+".max_lag", "must not be negative, got %s", t.MaxLag)
	} else if t.Lifetime > 0 && t.MaxLag > t.Lifetime {
		add(path+".max_lag", "%s is longer than the lifetime (%s): a judgement would wait past the analysis' end", t.MaxLag, t.Lifetime)
	}
	if t.MaxCanaryStale < 0 {
		add(path+".max_canary_stale", "must not be negative, got %s", t.MaxCanaryStale)
	}
	switch t.LifetimeOutcome {
	case OutcomeRollback, OutcomeHold, OutcomePromote:
	default:
		add(path+".lifetime_outcome", "must be rollback, hold or promote, got %q", t.LifetimeOutcome)
	}
	gated := map[int]bool{}
	for i, a := range t.Approvals {
		ap := fmt.Sprintf("%s.approvals[%d]", path, i)
		if a.Step < 2 || a.Step > len(t.Steps) {
			add(ap+".step", "must be a step from 2 to %d (the steps' count), got %d", len(t.Steps), a.Step)
		} else if gated[a.Step] {
			add(ap+".step", "step %d already has an approval", a.Step)
		}
		gated[a.Step] = true
		if a.Timeout < 0 {
			add(ap+".timeout", "must be positive, got %s", a.Timeout)
		}
		switch a.OnTimeout {
		case OutcomeRollback, OutcomeHold:
		default:
			add(ap+".on_timeout", "must be rollback or hold, got %q", a.OnTimeout)
		}
	}
	if len(t.Approvals) > 0 && t.LifetimeOutcome == OutcomePromote {
		add(path+".lifetime_outcome", "promote would pass the approvals without a person; use rollback or hold with approvals")
	}
	if t.SLO != nil {
		t.SLO.validate(path+".slo", add)
		if t.LifetimeOutcome == OutcomePromote {
			add(path+".lifetime_outcome", "promote would pass the error-budget gate (slo) without measuring the budget; use rollback or hold with an slo")
		}
	}
	if t.Bake < 0 {
		add(path+".bake", "must not be negative, got %s", t.Bake)
	} else if t.Bake > 0 {
		if t.SLO == nil {
			add(path+".bake", "the bake watches the service's error budget: it needs an slo")
		}
		if need := len(t.Steps)*t.JudgementsPerStep + t.BakeJudgements(); t.Interval > 0 && t.MaxJudgements() < need {
			add(path+".lifetime", "%s allows %d judgements of %s, fewer than the steps and the bake need (%d × %d + %d for bake %s)",
				t.Lifetime, t.MaxJudgements(), t.Interval, len(t.Steps), t.JudgementsPerStep, t.BakeJudgements(), t.Bake)
		}
	}
	if !(t.Confidence > 0.5 && t.Confidence < 1) {
		add(path+".confidence", "must be in (0.5, 1), got %v", t.Confidence)
	}
	if t.MinSamples < 2 {
		add(path+".min_samples", "must be at least 2, got %d", t.MinSamples)
	}
	if t.Scoring.Pass < 0 || t.Scoring.Pass > 100 {
		add(path+".scoring.pass", "must be in [0, 100], got %v", t.Scoring.Pass)
	}
	if t.Scoring.Marginal < 0 || t.Scoring.Marginal > t.Scoring.Pass {
		add(path+".scoring.marginal", "must be in [0, pass=%v], got %v", t.Scoring.Pass, t.Scoring.Marginal)
	}
	if len(t.Metrics) == 0 {
		add(path+".metrics", "a template needs at least one metric")
	}
	seen := map[string]bool{}
	counted := 0
	for i := range t.Metrics {
		m := &t.Metrics[i]
		mp := fmt.Sprintf("%s.metrics[%d]", path, i)
		if m.Name != "" && seen[m.Name] {
			add(mp+".name", "duplicate metric name %q", m.Name)
		}
		seen[m.Name] = true
		if !m.DryRun {
			counted++
		}
		m.validate(mp, add)
	}
	if len(t.Metrics) > 0 && counted == 0 {
		add(path+".metrics", "every metric is dry_run: nothing would decide the verdict")
	}
}

func (m *Metric) validate(path string, add func(path, format string, args ...any)) {
	if m.Name == "" {
		add(path+".name", "a metric needs a name")
	} else if !model.LegacyValidation.IsValidLabelName(m.Name) {
		add(path+".name", "%q is not a valid name (letters, digits and underscores)", m.Name)
	}
	if m.Query == "" {
		add(path+".query", "a metric needs a query")
	} else {
		t, err := ParseQueryTemplate(m.Name, m.Query)
		if err != nil {
			add(path+".query", "%v", err)
		} else if t.uses("Window") {
			add(path+".query", "{{.Window}} is for the SLO's queries (slo), not a metric's")
		}
		m.tmpl = t
	}
	switch m.Test {
	case TestPaired, TestMannWhitney, TestBurnRate, TestThreshold:
	default:
		add(path+".test", "must be paired, mann-whitney, burn-rate or threshold, got %q", m.Test)
	}
	switch m.Direction {
	case DirectionIncrease, DirectionDecrease, DirectionEither:
	default:
		add(path+".direction", "must be increase, decrease or either, got %q", m.Direction)
	}
	if a := m.Margin(); !(a >= 0) || math.IsInf(a, 0) || (m.Direction != DirectionIncrease && a >= 1) {
		add(path+".allowed_change", "must be a finite number >= 0 (and < 1 when a decrease is bad), got %v", a)
	}
	if w := m.WeightOrDefault(); !(w > 0) || math.IsInf(w, 0) {
		add(path+".weight", "must be positive, got %v", w)
	}
	if m.MinSamples < 2 {
		add(path+".min_samples", "must be at least 2, got %d", m.MinSamples)
	}
	switch m.NaNPolicy {
	case NaNDrop, NaNZero, NaNFail:
	default:
		add(path+".nan_policy", "must be drop, zero or fail, got %q", m.NaNPolicy)
	}
	switch m.Scale {
	case ScaleAuto, ScaleLog, ScaleLinear:
	default:
		add(path+".scale", "must be auto, log or linear, got %q", m.Scale)
	}
	switch m.Aggregate {
	case "", "sum", "avg", "min", "max":
	default:
		add(path+".aggregate", "must be sum, avg, min or max, got %q", m.Aggregate)
	}
	if m.BurnRate != nil && m.Test != TestBurnRate {
		add(path+".burn_rate", "only applies to test: burn-rate")
	}
	if m.Shape != nil && *m.Shape && m.Test != TestPaired {
		add(path+".shape", "only applies to test: paired")
	}
	if m.Threshold != nil && m.Test != TestThreshold {
		add(path+".threshold", "only applies to test: threshold")
	}
	if m.Test == TestBurnRate && m.BurnRate != nil {
		validateBurn(path+".burn_rate", "windows", m.BurnRate.Objective, m.BurnRate.Windows, add)
	}
	if m.Test == TestThreshold {
		if m.Threshold == nil || (m.Threshold.Min == nil && m.Threshold.Max == nil) {
			add(path+".threshold", "test: threshold needs threshold.min or threshold.max")
		} else if m.Threshold.Min != nil && m.Threshold.Max != nil && *m.Threshold.Min > *m.Threshold.Max {
			add(path+".threshold", "min %v is above max %v", *m.Threshold.Min, *m.Threshold.Max)
		}
	}
}
