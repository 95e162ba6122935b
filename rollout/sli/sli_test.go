package sli

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rolloutOf(id, template string) Rollout {
	return Rollout{ID: id, Template: template, Namespace: "prod", Created: t0, Start: t0.Add(30 * time.Second)}
}

func TestPublished(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, func() time.Time { return t0 })
	good, bad, abort := rolloutOf("a", "web"), rolloutOf("b", "web"), rolloutOf("c", "api")
	for _, r := range []Rollout{good, bad, abort} {
		m.Started(r)
	}
	// Verdicts that do not end a rollout change nothing but the gauges.
	m.Published(good, Verdict{Verdict: "promote", NextWeight: 50, IssuedAt: t0.Add(90 * time.Second)}, t0.Add(91*time.Second))
	m.Published(good, Verdict{Verdict: "promote", Final: true, Outcome: OutcomeSucceeded, NextWeight: 100, IssuedAt: t0.Add(200 * time.Second)}, t0.Add(201*time.Second))
	m.Published(bad, Verdict{Verdict: "rollback", Final: true, Outcome: OutcomeRolledBack, IssuedAt: t0.Add(150 * time.Second)}, t0.Add(152*time.Second))
	m.Published(abort, Verdict{Verdict: "rollback", Final: true, Outcome: OutcomeAborted, IssuedAt: t0.Add(40 * time.Second)}, t0.Add(40*time.Second+500*time.Millisecond))

	want := `
# HELP canaryd_rollouts_ended_total Rollouts whose final verdict was published, by outcome (succeeded, rolled_back, expired, aborted, rolled_back_after_promotion).
# TYPE canaryd_rollouts_ended_total counter
canaryd_rollouts_ended_total{namespace="prod",outcome="aborted",template="api"} 1
canaryd_rollouts_ended_total{namespace="prod",outcome="aborted",template="web"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="expired",template="api"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="expired",template="web"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="rolled_back",template="api"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="rolled_back",template="web"} 1
canaryd_rollouts_ended_total{namespace="prod",outcome="rolled_back_after_promotion",template="api"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="rolled_back_after_promotion",template="web"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="succeeded",template="api"} 0
canaryd_rollouts_ended_total{namespace="prod",outcome="succeeded",template="web"} 1
# HELP canaryd_rollouts_started_total Rollouts (analyses) started by a deploy event.
# TYPE canaryd_rollouts_started_total counter
canaryd_rollouts_started_total{namespace="prod",template="api"} 1
canaryd_rollouts_started_total{namespace="prod",template="web"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), EndedName, StartedName); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		name   string
		labels prometheus.Labels
		count  uint64
		sum    float64
	}{
		// Deploy event to final verdict.
		{DurationName, prometheus.Labels{"template": "web", "namespace": "prod", "outcome": OutcomeSucceeded}, 1, 200},
		{DurationName, prometheus.Labels{"template": "web", "namespace": "prod", "outcome": OutcomeRolledBack}, 1, 150},
		// First judged window's start to the rollback verdict; the abort
		// detected nothing.
		{DetectName, prometheus.Labels{"template": "web", "namespace": "prod"}, 1, 120},
		{DetectName, prometheus.Labels{"template": "api", "namespace": "prod"}, 0, 0},
		// Issued to published, for every weight-0 final verdict.
		{RollBackName, prometheus.Labels{"template": "web", "namespace": "prod"}, 1, 2},
		{RollBackName, prometheus.Labels{"template": "api", "namespace": "prod"}, 1, 0.5},
	} {
		count, sum := histogram(t, reg, c.name, c.labels)
		if count != c.count || sum != c.sum {
			t.Errorf("%s%v: count %d sum %v, want %d and %v", c.name, c.labels, count, sum, c.count, c.sum)
		}
	}
}

func TestTrack(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := t0
	m := New(reg, func() time.Time { return now })
	a, b, c := rolloutOf("a", "web"), rolloutOf("b", "web"), rolloutOf("c", "web")
	m.Track(a, Position{Step: 1})
	m.Track(b, Position{Step: 1})
	m.Track(c, Position{Step: 1})
	m.Track(a, Position{Step: 2}) // a promoted
	m.Track(a, Position{Step: 2}) // seen again: counted once
	// b rolled back, and its verdict is not on the stream yet.
	m.Track(b, Position{Step: 1, Ended: true, RollbackUnpublished: true, Since: t0.Add(-90 * time.Second)})
	assertGauges(t, reg, `
canaryd_rollback_unpublished_oldest_seconds 90
canaryd_rollbacks_unpublished{namespace="prod",template="web"} 1
canaryd_rollouts_running{namespace="prod",step="1",template="web"} 1
canaryd_rollouts_running{namespace="prod",step="2",template="web"} 1
`)
	// Published; c's runner stops (handed to another replica).
	m.Track(b, Position{Step: 1, Ended: true})
	m.Untrack(c.ID)
	m.Untrack("never-tracked")
	now = now.Add(time.Hour)
	assertGauges(t, reg, `
canaryd_rollback_unpublished_oldest_seconds 0
canaryd_rollbacks_unpublished{namespace="prod",template="web"} 0
canaryd_rollouts_running{namespace="prod",step="1",template="web"} 0
canaryd_rollouts_running{namespace="prod",step="2",template="web"} 1
`)
	m.Untrack(a.ID)
	// A rollout resumed here (never Started here) has its outcome series
	// from the first Track: its rollback will show as an increase.
	count := func() int { n, _ := testutil.GatherAndCount(reg, EndedName); return n }
	if n := count(); n != len(Outcomes) {
		t.Errorf("%d series of %s after tracking one template and namespace, want %d", n, EndedName, len(Outcomes))
	}
	if n := len(m.tracked); n != 0 {
		t.Errorf("%d analyses still tracked after every runner stopped", n)
	}
}

// TestInstances holds that two daemons can live in one process: nothing
// is registered globally.
func TestInstances(t *testing.T) {
	for range 2 {
		New(prometheus.NewRegistry(), time.Now)
	}
}

func assertGauges(t *testing.T, reg *prometheus.Registry, want string) {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{UnpublishedAgeName, UnpublishedName, RunningName} {
		for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
			if strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ") {
				b.WriteString(line + "\n")
			}
		}
	}
	got := gather(t, reg, UnpublishedAgeName, UnpublishedName, RunningName)
	if strings.TrimSpace(got) != strings.TrimSpace(b.String()) {
		t.Errorf("gauges:\n%s\nwant:\n%s", got, b.String())
	}
}

// gather returns the samples of the named metrics, one per line, in the
// registry's order.
func gather(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		keep := false
		for _, n := range names {
			keep = keep || mf.GetName() == n
		}
		if !keep {
			continue
		}
		for _, mt := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			if len(mt.GetLabel()) > 0 {
				var ls []string
				for _, l := range mt.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				b.WriteString("{" + strings.Join(ls, ",") + "}")
			}
			b.WriteString(" " + strconv.FormatFloat(mt.GetGauge().GetValue(), 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}

func histogram(t *testing.T, reg *prometheus.Registry, name string, labels prometheus.Labels) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			if len(mt.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range mt.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
		}
	}
	return 0, 0
}
