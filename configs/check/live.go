package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// Prometheus is the part of Prometheus' HTTP API that Live uses;
// client_golang's v1.API has it.
type Prometheus interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
	LabelValues(ctx context.Context, label string, matches []string, startTime, endTime time.Time, opts ...v1.Option) (model.LabelValues, v1.Warnings, v1.Infos, error)
}

// Result is what one metric's query for one role returned.
type Result struct {
	Template string
	Metric   string
	Role     metrics.Role
	Query    string // the rendered PromQL
	Series   int    // how many series came back
	Err      error  // the query failed
	// Why explains an empty result, one finding a line: which selector
	// matches nothing, and which values its labels have instead.
	Why []string
}

// maxValues bounds the label values listed in a finding.
const maxValues = 10

// Live runs every query of every template of cfg once, as the daemon would
// for target over the interval that ends at end, and explains each empty
// result from the series that do exist. Templates lists the templates to
// check; none means all.
func Live(ctx context.Context, p Prometheus, cfg *configs.Config, target analysis.Target, end time.Time, templates ...string) []Result {
	var out []Result
	for ti := range cfg.Templates {
		t := &cfg.Templates[ti]
		if len(templates) > 0 && !slices.Contains(templates, t.Name) {
			continue
		}
		start := end.Add(-time.Duration(t.Interval))
		for mi := range t.Metrics {
			qs, err := render(t, mi, target)
			if err != nil {
				out = append(out, Result{Template: t.Name, Metric: t.Metrics[mi].Name, Err: err})
				continue
			}
			for _, q := range qs {
				r := Result{Template: t.Name, Metric: q.Metric, Role: q.Role, Query: q.Expr}
				rng := v1.Range{Start: start.Add(q.Step), End: end, Step: q.Step}
				v, _, _, err := p.QueryRange(ctx, q.Expr, rng)
				switch {
				case err != nil:
					r.Err = err
				default:
					if m, ok := v.(model.Matrix); ok {
						r.Series = len(m)
					}
					if r.Series == 0 {
						r.Why = explain(ctx, p, q.Expr, rng.Start, rng.End)
					}
				}
				out = append(out, r)
			}
		}
		if t.SLO != nil {
			out = append(out, liveSLO(ctx, p, t, target, end)...)
		}
	}
	return out
}

// liveSLO runs the queries of t's SLO once, as the daemon would before a
// promotion at end: each window's error ratio, one point (role service).
func liveSLO(ctx context.Context, p Prometheus, t *spec.Template, target analysis.Target, end time.Time) []Result {
	qs, err := analysis.BudgetQueries(t, target, 0, end)
	if err != nil {
		return []Result{{Template: t.Name, Metric: spec.SLOMetric, Role: metrics.Service, Err: err}}
	}
	var out []Result
	for _, q := range qs {
		r := Result{Template: t.Name, Metric: q.Metric, Role: q.Role, Query: q.Expr}
		v, _, _, err := p.QueryRange(ctx, q.Expr, v1.Range{Start: q.Start, End: q.End, Step: q.Step})
		if err != nil {
			r.Err = err
		} else if m, ok := v.(model.Matrix); ok {
			r.Series = len(m)
		}
		if err == nil && r.Series == 0 {
			r.Why = explain(ctx, p, q.Expr, q.Start.Add(-time.Duration(t.Interval)), q.End)
		}
		out = append(out, r)
	}
	return out
}

// explain looks at each selector of expr: whether its metric exists, and
// which of its matchers match no series of it, with the values that exist.
func explain(ctx context.Context, p Prometheus, expr string, start, end time.Time) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return []string{"invalid PromQL: " + err.Error()}
	}
	var sels []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			sels = append(sels, vs)
		}
		return nil
	})
	has := func(ms ...*labels.Matcher) (bool, error) {
		names, _, _, err := p.LabelValues(ctx, model.MetricNameLabel, []string{selector(ms)}, start, end)
		return len(names) > 0, err
	}
	var why []string
	allMatch := true
	for _, vs := range sels {
		var name *labels.Matcher
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				name = m
			}
		}
		shown := vs.String()
		if name != nil {
			ok, err := has(name)
			if err != nil {
				return append(why, fmt.Sprintf("%s: %v", shown, err))
			}
			if !ok {
				allMatch = false
				why = append(why, fmt.Sprintf("%s: no series named %s in the window", shown, name.Value))
				continue
			}
		}
		bad := false
		for _, m := range vs.LabelMatchers {
			if m == name {
				continue
			}
			ms := []*labels.Matcher{m}
			if name != nil {
				ms = append(ms, name)
			}
			ok, err := has(ms...)
			if err != nil {
				return append(why, fmt.Sprintf("%s: %v", shown, err))
			}
			if ok {
				continue
			}
			bad = true
			var scope []string
			if name != nil {
				scope = []string{selector([]*labels.Matcher{name})}
			}
			values, _, _, err := p.LabelValues(ctx, m.Name, scope, start, end)
			if err != nil {
				return append(why, fmt.Sprintf("%s: %v", shown, err))
			}
			why = append(why, fmt.Sprintf("%s: no series with %s; %s", shown, m, valuesOf(m.Name, values)))
		}
		if !bad && len(vs.LabelMatchers) > 1 {
			ok, err := has(vs.LabelMatchers...)
			if err != nil {
				return append(why, fmt.Sprintf("%s: %v", shown, err))
			}
			if !ok {
				bad = true
				why = append(why, fmt.Sprintf("%s: each matcher matches series, but no series matches them all", shown))
			}
		}
		if bad {
			allMatch = false
		}
	}
	if allMatch {
		why = append(why, "every selector matches series, yet the query returns nothing: a range such as [1m] needs two samples in it, and an operator drops series whose labels differ")
	}
	return why
}

func selector(ms []*labels.Matcher) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}

func valuesOf(label string, values model.LabelValues) string {
	if len(values) == 0 {
		return "the series have no label " + label
	}
	s := make([]string, 0, maxValues)
	for i, v := range values {
		if i == maxValues {
			s = append(s, fmt.Sprintf("and %d more", len(values)-maxValues))
			break
		}
		s = append(s, string(v))
	}
	return label + " has: " + strings.Join(s, ", ")
}
