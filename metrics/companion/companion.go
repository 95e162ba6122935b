package companion

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// maxSelectors bounds the distinct selectors a companion takes (each min
// doubles the text of what it folds); further ones are left out, which can
// only make a point look fresher than its stalest input.
const maxSelectors = 4

// Label and Value mark the companion's series in a joined answer.
const (
	Label = "__canaryd_part__"
	Value = "fresh"
)

// ErrNone is returned (wrapped) when a query has no selector whose sample
// times a companion can follow.
var ErrNone = errors.New("no selector whose sample times can be followed")

// Of returns the companion of the PromQL query expr (see the package
// documentation): a query whose value at each step is the time, in Unix
// seconds, of the newest raw sample behind expr at that step. It fails
// when expr does not parse or has no selector to follow (ErrNone).
func Of(expr string) (string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("freshness of %q: %w", expr, err)
	}
	var sels []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || vs.Timestamp != nil || vs.StartOrEnd != 0 {
			return nil
		}
		offset := vs.OriginalOffset
		plain := &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers, OriginalOffset: offset}
		s := "max(timestamp(" + plain.String() + "))"
		if offset != 0 {
			s = "(" + s + " + " + strconv.FormatFloat(offset.Seconds(), 'f', -1, 64) + ")"
		}
		if !slices.Contains(sels, s) {
			sels = append(sels, s)
		}
		return nil
	})
	if len(sels) == 0 {
		return "", fmt.Errorf("freshness of %q: %w", expr, ErrNone)
	}
	sels = sels[:min(len(sels), maxSelectors)]
	q := sels[0]
	for _, b := range sels[1:] {
		q = "(" + q + " - clamp_min(" + q + " - " + b + ", 0))"
	}
	return q, nil
}

// Join returns one query that answers both expr and its companion fresh:
// every series of expr, and those of fresh labelled Label="fresh". A
// query whose result is a scalar cannot be joined (PromQL's or takes
// vectors): the request fails as a bad query, and the caller sends the two
// apart.
func Join(expr, fresh string) string {
	return "(" + expr + ") or label_replace(" + fresh + `, "` + Label + `", "` + Value + `", "", "")`
}

// Split parts a joined answer: the query's own series, in their order, and
// the companion's, in theirs (still labelled by Join). It reuses m's
// array for the query's series; m is not usable afterwards.
func Split(m model.Matrix) (query, fresh model.Matrix) {
	n := 0
	for _, ss := range m {
		if ss.Metric[Label] == Value {
			n++
		}
	}
	if n == 0 {
		return m, nil
	}
	query = m[: 0 : len(m)-n]
	fresh = make(model.Matrix, 0, n)
	for _, ss := range m {
		if ss.Metric[Label] == Value {
			fresh = append(fresh, ss)
			continue
		}
		query = append(query, ss)
	}
	return query, fresh
}
