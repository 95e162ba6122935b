// Package sli measures the promotion pipeline itself: the release service
// level indicators that people who run releases judge canaryd by, as
// Prometheus metrics.
//
// The daemon calls a Metrics at a few points of an analysis' life:
// Started when a deploy event starts one, Track whenever a runner knows
// where its rollout stands and Untrack when the runner stops, and
// Published for every verdict it puts on the stream. Everything else is
// derived here, so that the daemon's hooks stay one line each.
//
// Labels are bounded: template and namespace (both from the config and
// the deploy event's subject), outcome (one of the rollout outcomes) and
// step (1-based, at most a template's number of steps). Analysis ids are
// never labels.
//
// Definitions (all times from the daemon's clock):
//
//	rollout duration  = final verdict issued − deploy event received (analysis created)
//	time to detect    = rollback verdict issued − start of the first judged window
//	time to roll back = rollback verdict published − rollback verdict issued
//	success ratio     = rollouts ended succeeded / rollouts ended
//	canary pass ratio = rollouts ended succeeded / rollouts ended succeeded, rolled_back or rolled_back_after_promotion
//
// Only a judged rollback (outcome rolled_back, which includes a lifetime
// ending in rollback) counts towards time to detect; an abort is a
// person's decision, not a detection, but its weight-0 verdict counts
// towards time to roll back like any other. The ratios are not exported
// as such: they are recorded by the rules in configs/rules from
// canaryd_rollouts_ended_total, which sums correctly across replicas and
// over any window.
//
// The gauges (running rollouts by step, rollbacks not yet published)
// count the analyses this instance runs: sum them over replicas. A
// counter or histogram is updated by the instance that publishes the
// verdict; a replica that publishes a verdict and dies before recording
// it as published loses that one observation with its process.
package sli

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes and verdicts as they appear on the wire and in labels; the
// daemon passes its own values as strings, so this package depends on
// none of its types.
const (
	OutcomeSucceeded  = "succeeded"
	OutcomeRolledBack = "rolled_back"
	OutcomeExpired    = "expired"
	OutcomeAborted    = "aborted"
	// OutcomeRolledBackAfterPromotion: the bake (post-promotion watch)
	// rolled back a rollout already promoted to 100%.
	OutcomeRolledBackAfterPromotion = "rolled_back_after_promotion"

	VerdictRollback = "rollback"
)

// Outcomes lists every outcome a rollout can end with, the values of the
// outcome label.
var Outcomes = []string{OutcomeSucceeded, OutcomeRolledBack, OutcomeExpired, OutcomeAborted, OutcomeRolledBackAfterPromotion}

// Metric names, for rules and tests that check a name exists.
const (
	StartedName        = "canaryd_rollouts_started_total"
	EndedName          = "canaryd_rollouts_ended_total"
	DurationName       = "canaryd_rollout_duration_seconds"
	DetectName         = "canaryd_rollout_time_to_detect_seconds"
	RollBackName       = "canaryd_rollout_time_to_roll_back_seconds"
	RunningName        = "canaryd_rollouts_running"
	UnpublishedName    = "canaryd_rollbacks_unpublished"
	UnpublishedAgeName = "canaryd_rollback_unpublished_oldest_seconds"
)

// Rollout identifies one analysis' rollout to the SLIs.
type Rollout struct {
	// ID is the analysis id: the key of this instance's tracking, never a
	// label.
	ID        string
	Template  string
	Namespace string
	// Created is when the deploy event started the analysis; Start is the
	// start of its first judged window.
	Created, Start time.Time
}

// Verdict is what the SLIs need of a published verdict.
type Verdict struct {
	// Verdict is promote, hold or rollback.
	Verdict string
	// Final says the verdict ended the rollout with Outcome.
	Final   bool
	Outcome string
	// NextWeight is the canary weight the verdict sets.
	NextWeight float64
	IssuedAt   time.Time
}

// Position is where a rollout this instance runs stands, as its runner
// last saw it.
type Position struct {
	// Step is the current step, 1-based.
	Step int
	// Ended says the final verdict is decided (persisted).
	Ended bool
	// RollbackUnpublished says a final verdict that sets the canary's
	// weight to 0 is decided but not yet on the stream: the mesh has not
	// been told to roll back.
	RollbackUnpublished bool
	// Since is when that verdict was issued.
	Since time.Time
}

// Metrics are the release SLIs of one daemon. The zero value is not
// usable; build one with New. Methods are safe for concurrent use.
type Metrics struct {
	started     *prometheus.CounterVec
	ended       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	detect      *prometheus.HistogramVec
	rollBack    *prometheus.HistogramVec
	running     *prometheus.GaugeVec
	unpublished *prometheus.GaugeVec

	mu      sync.Mutex
	tracked map[string]tracked
}

// tracked is what this instance last reported for one analysis.
type tracked struct {
	template, namespace string
	step                string // "" when not counted as running
	unpublished         bool
	since               time.Time // when the unpublished rollback was issued
}

// New registers the SLI metrics with reg and returns them. now is the
// clock the age of an unpublished rollback is read from at scrape time.
func New(reg prometheus.Registerer, now func() time.Time) *Metrics {
	f := promauto.With(reg)
	lr := []string{"template", "namespace"}
	m := &Metrics{
		started: f.NewCounterVec(prometheus.CounterOpts{
			Name: StartedName,
			Help: "Rollouts (analyses) started by a deploy event.",
		}, lr),
		ended: f.NewCounterVec(prometheus.CounterOpts{
			Name: EndedName,
			Help: "Rollouts whose final verdict was published, by outcome (succeeded, rolled_back, expired, aborted, rolled_back_after_promotion).",
		}, append(lr, "outcome")),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    DurationName,
			Help:    "Time from the deploy event to the rollout's final verdict, by outcome.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 12), // 1m to 34h
		}, append(lr, "outcome")),
		detect: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    DetectName,
			Help:    "Time from the start of an analysis' first judged window to the verdict that rolled its canary back.",
			Buckets: prometheus.ExponentialBuckets(15, 2, 12), // 15s to 8.5h
		}, lr),
		rollBack: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    RollBackName,
			Help:    "Time from a weight-0 final verdict (rollback or abort) being issued to its publication: how long the mesh waited to be told to roll back.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10ms to 5.5m
		}, lr),
		running: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: RunningName,
			Help: "Rollouts this instance runs now, by current step (1-based).",
		}, append(lr, "step")),
		unpublished: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: UnpublishedName,
			Help: "Rollbacks this instance decided (weight-0 final verdicts persisted) and has not yet published.",
		}, lr),
		tracked: map[string]tracked{},
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: UnpublishedAgeName,
		Help: "Age of the oldest rollback this instance decided and has not yet published; 0 when none.",
	}, func() float64 { return m.oldestUnpublished(now()) })
	return m
}

// Started counts a rollout started by a deploy event.
func (m *Metrics) Started(r Rollout) {
	m.started.WithLabelValues(r.Template, r.Namespace).Inc()
	m.initialise(r)
}

// initialise creates r's counter series at 0 before anything ends, so that
// increase() over them sees the first rollback of a template in a
// namespace (a series that is born at 1 shows no increase), and its
// unpublished-rollbacks gauge at 0.
func (m *Metrics) initialise(r Rollout) {
	for _, o := range Outcomes {
		m.ended.WithLabelValues(r.Template, r.Namespace, o)
	}
	m.unpublished.WithLabelValues(r.Template, r.Namespace)
}

// Published records a verdict of r put on the stream at time at: a final
// verdict ends the rollout (outcome, duration), a judged rollback gives
// the time to detect, and a weight-0 final verdict the time to roll back.
func (m *Metrics) Published(r Rollout, v Verdict, at time.Time) {
	if !v.Final {
		return
	}
	m.ended.WithLabelValues(r.Template, r.Namespace, v.Outcome).Inc()
	m.duration.WithLabelValues(r.Template, r.Namespace, v.Outcome).Observe(Duration(r, v).Seconds())
	if d, ok := TimeToDetect(r, v); ok {
		m.detect.WithLabelValues(r.Template, r.Namespace).Observe(d.Seconds())
	}
	if d, ok := TimeToRollBack(v, at); ok {
		m.rollBack.WithLabelValues(r.Template, r.Namespace).Observe(d.Seconds())
	}
}

// Duration is the rollout duration of r ended by final verdict v: from
// the deploy event to v's issue, never negative.
func Duration(r Rollout, v Verdict) time.Duration { return nonNegative(v.IssuedAt.Sub(r.Created)) }

// TimeToDetect is the time from the start of r's first judged window to
// the issue of v, when v is a judged rollback (outcome rolled_back);
// false otherwise.
func TimeToDetect(r Rollout, v Verdict) (time.Duration, bool) {
	if !v.Final || v.Outcome != OutcomeRolledBack || v.Verdict != VerdictRollback {
		return 0, false
	}
	return nonNegative(v.IssuedAt.Sub(r.Start)), true
}

// TimeToRollBack is the time from the issue of v, a final verdict that
// sets the canary's weight to 0, to its publication at published; false
// for any other verdict.
func TimeToRollBack(v Verdict, published time.Time) (time.Duration, bool) {
	if !v.Final || v.NextWeight != 0 {
		return 0, false
	}
	return nonNegative(published.Sub(v.IssuedAt)), true
}

// nonNegative is d, or 0 for a negative d: clocks of replicas may differ
// a little.
func nonNegative(d time.Duration) time.Duration { return max(d, 0) }

// Track sets where rollout r stands on this instance: counted as running
// at its step until it has ended, and as an unpublished rollback while
// p says so.
func (m *Metrics) Track(r Rollout, p Position) {
	t := tracked{template: r.Template, namespace: r.Namespace}
	if !p.Ended {
		t.step = strconv.Itoa(p.Step)
	}
	t.unpublished, t.since = p.RollbackUnpublished, p.Since
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.tracked[r.ID]
	if ok {
		m.release(old)
	} else {
		m.initialise(r) // a rollout resumed from another replica
	}
	if t.step != "" {
		m.running.WithLabelValues(t.template, t.namespace, t.step).Inc()
	}
	if t.unpublished {
		m.unpublished.WithLabelValues(t.template, t.namespace).Inc()
	}
	if t.step == "" && !t.unpublished {
		delete(m.tracked, r.ID)
		return
	}
	m.tracked[r.ID] = t
}

// Untrack forgets analysis id: its runner on this instance stopped.
func (m *Metrics) Untrack(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.tracked[id]; ok {
		m.release(old)
		delete(m.tracked, id)
	}
}

// release takes t out of the gauges; m.mu is held.
func (m *Metrics) release(t tracked) {
	if t.step != "" {
		m.running.WithLabelValues(t.template, t.namespace, t.step).Dec()
	}
	if t.unpublished {
		m.unpublished.WithLabelValues(t.template, t.namespace).Dec()
	}
}

func (m *Metrics) oldestUnpublished(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		oldest time.Time
		found  bool
	)
	for _, t := range m.tracked {
		if t.unpublished && (!found || t.since.Before(oldest)) {
			oldest, found = t.since, true
		}
	}
	if !found {
		return 0
	}
	return nonNegative(now.Sub(oldest)).Seconds()
}
