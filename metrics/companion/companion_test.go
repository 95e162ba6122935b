package companion

import (
	"errors"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

func TestOf(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{`up{job="a"}`, `max(timestamp(up{job="a"}))`},
		{`histogram_quantile(0.99, sum by (le) (rate(lat_bucket{service="s",track="canary"}[1m])))`,
			`max(timestamp(lat_bucket{service="s",track="canary"}))`},
		// The same selector twice is followed once.
		{`rate(x{a="1"}[1m]) / rate(x{a="1"}[5m])`, `max(timestamp(x{a="1"}))`},
		// Several: the stalest.
		{`sum(rate(req{code=~"5.."}[1m])) / sum(rate(req[1m]))`,
			`(max(timestamp(req{code=~"5.."})) - clamp_min(max(timestamp(req{code=~"5.."})) - max(timestamp(req)), 0))`},
		// An offset shifts the sample times back; @ is left out.
		{`x offset 5m`, `(max(timestamp(x offset 5m)) + 300)`},
		{`x @ 1700000000 + y`, `max(timestamp(y))`},
		{`max_over_time(g{s="a"}[5m:30s])`, `max(timestamp(g{s="a"}))`},
	}
	for _, tt := range tests {
		got, err := Of(tt.expr)
		if err != nil || got != tt.want {
			t.Errorf("Of(%s) = %s, %v\nwant %s", tt.expr, got, err, tt.want)
		}
	}
	for _, bad := range []string{`vector(1)`, `x @ 100`, `sum(`} {
		if got, err := Of(bad); err == nil {
			t.Errorf("Of(%s) = %s, want an error", bad, got)
		}
	}
	if _, err := Of(`time()`); !errors.Is(err, ErrNone) {
		t.Errorf("Of(time()) error %v, want ErrNone", err)
	}
}

// TestJoin checks that a joined query parses for vector queries and
// does not for scalar ones (the caller then sends them apart).
func TestJoin(t *testing.T) {
	for expr, ok := range map[string]bool{
		`sum(rate(req{code=~"5.."}[1m])) / sum(rate(req[1m]))`: true,
		`up{job="a"}`:                   true,
		`scalar(sum(up{job="a"}))`:      false,
		`scalar(up{a="1"}) * 2`:         false,
		`sum(up{job="a"}) or vector(0)`: true,
	} {
		c, err := Of(expr)
		if err != nil {
			t.Fatalf("Of(%s): %v", expr, err)
		}
		_, err = parser.NewParser(parser.Options{}).ParseExpr(Join(expr, c))
		if (err == nil) != ok {
			t.Errorf("Join(%s) parses: %v, want %v", expr, err, ok)
		}
	}
}

func TestSplit(t *testing.T) {
	q1 := &model.SampleStream{Metric: model.Metric{"service": "a"}}
	q2 := &model.SampleStream{Metric: model.Metric{"service": "b"}}
	f1 := &model.SampleStream{Metric: model.Metric{"service": "a", Label: Value}}
	f2 := &model.SampleStream{Metric: model.Metric{"service": "b", Label: Value}}
	q, f := Split(model.Matrix{q1, f1, q2, f2})
	if len(q) != 2 || q[0] != q1 || q[1] != q2 || len(f) != 2 || f[0] != f1 || f[1] != f2 {
		t.Errorf("Split = %v, %v", q, f)
	}
	q, f = Split(model.Matrix{q1})
	if len(q) != 1 || q[0] != q1 || f != nil {
		t.Errorf("Split without a companion = %v, %v", q, f)
	}
}
