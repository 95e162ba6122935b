// Package check looks at a loaded config further than configs.Load does, as
// promtool check config does for Prometheus: every query is rendered and
// parsed with Prometheus' own PromQL parser, settings that load but cannot
// work as meant are warned about, and Live runs each query once against a
// real Prometheus to say which return nothing and why.
//
// It lives apart from configs so that configs (imported by the judge) does
// not pull in the PromQL parser and, through it, net/http.
package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// SampleTarget is what Queries renders queries with: a service, a namespace,
// two versions and the value "value" for every variable a template uses.
func SampleTarget(t *spec.Template) analysis.Target {
	target := analysis.Target{
		Service:   "service",
		Namespace: "namespace",
		Baseline:  analysis.Version{Version: "v1"},
		Canary:    analysis.Version{Version: "v2"},
		Vars:      map[string]string{},
	}
	for i := range t.Metrics {
		if qt := t.Metrics[i].QueryTemplate(); qt != nil {
			for _, v := range qt.Variables() {
				target.Vars[v] = "value"
			}
		}
	}
	return target
}

// Queries renders every metric's query for both roles with SampleTarget,
// the way the daemon renders them, and parses each with the PromQL parser.
// A query that does not parse, or that is not an instant vector or a scalar
// (what a range query needs), is a problem at the metric's query field.
func Queries(cfg *configs.Config) configs.Problems {
	var ps configs.Problems
	for ti := range cfg.Templates {
		t := &cfg.Templates[ti]
		target := SampleTarget(t)
		for mi := range t.Metrics {
			path := fmt.Sprintf("templates[%d].metrics[%d].query", ti, mi)
			qs, err := render(t, mi, target)
			if err != nil {
				ps = append(ps, problem(cfg, path, "%v", err))
				continue
			}
			for _, q := range qs {
				if msg := parse(q.Expr); msg != "" {
					ps = append(ps, problem(cfg, path, "%s (rendered for the %s with sample values: %s)", msg, q.Role, q.Expr))
					break // the other role's query has the same mistake
				}
			}
		}
	}
	return ps
}

// render renders metric mi of t for both roles through analysis.Queries,
// the daemon's own rendering.
func render(t *spec.Template, mi int, target analysis.Target) ([]metrics.Query, error) {
	one := *t
	one.Metrics = t.Metrics[mi : mi+1]
	end := time.Unix(0, 0).Add(time.Duration(t.Interval))
	return analysis.Queries(&one, target, 0, time.Unix(0, 0), end, nil, nil)
}

// parse returns why expr is not a query a range query can run, or "".
func parse(expr string) string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return "invalid PromQL: " + err.Error()
	}
	switch e.Type() {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
		return ""
	}
	return fmt.Sprintf("the query gives a %s; a judgement needs an instant vector or a scalar per step", e.Type())
}

// Warnings lists settings that load but are unlikely to do what was meant:
// an allowed_change of 0 (any change at all in the bad direction counts, so
// noise alone holds or rolls back a healthy canary), and a min_samples above
// the points one interval holds at the query step (the latest-interval test
// then never has enough, and the first judgements can only hold).
func Warnings(cfg *configs.Config) configs.Problems {
	var ps configs.Problems
	for ti := range cfg.Templates {
		t := &cfg.Templates[ti]
		points := int(time.Duration(t.Interval) / t.QueryStep())
		if t.MinSamples > points {
			// Reported once for the template, for the metrics that inherit it.
			field := fmt.Sprintf("templates[%d].min_samples", ti)
			msg := tooFew(t.MinSamples, points, t)
			if cfg.Line(field) == 0 {
				msg = strings.Replace(msg, " is more", " (the default) is more", 1)
			}
			ps = append(ps, problem(cfg, field, "%s", msg))
		}
		for mi := range t.Metrics {
			m := &t.Metrics[mi]
			path := fmt.Sprintf("templates[%d].metrics[%d]", ti, mi)
			margined := m.Test == spec.TestPaired || m.Test == spec.TestMannWhitney
			if margined && m.AllowedChange != nil && *m.AllowedChange == 0 {
				ps = append(ps, problem(cfg, path+".allowed_change",
					"0 tolerates no change at all: noise alone will hold or roll back a healthy canary; give the change you accept (e.g. 0.05 for 5%%)"))
			}
			field := path + ".min_samples"
			if m.MinSamples > points && cfg.Line(field) != 0 {
				ps = append(ps, problem(cfg, field, "%s", tooFew(m.MinSamples, points, t)))
			}
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

func tooFew(minSamples, points int, t *spec.Template) string {
	return fmt.Sprintf("%d is more than the %d points one interval of %s holds at the query step %s: the latest interval never has enough, and early judgements can only hold",
		minSamples, points, t.Interval, model.Duration(t.QueryStep()))
}

// problem is a finding at path, on the line of path or, for a field left
// to its default, of the nearest field above it that the file gives.
func problem(cfg *configs.Config, path, format string, args ...any) configs.Problem {
	line := 0
	for p := path; line == 0 && p != ""; {
		line = cfg.Line(p)
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return configs.Problem{File: cfg.File, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)}
}
