package batch

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/strutil"
)

// lexed is a rendered query cut at its string literals: key is the query
// with every string literal replaced by a NUL byte (queries rendered from
// one template for different analyses have the same key), and vals holds
// the literals' unquoted values in order.
type lexed struct {
	key  string
	vals []string
}

// lex cuts expr at its string literals, so that queries can be grouped
// without parsing each one. It scans the way the PromQL lexer does for
// what matters here: "double", 'single' and `raw` strings, backslash
// escapes in the first two, and # comments to the end of the line. A shape
// is only ever batched after its probe parses with every literal in a
// label matcher, so a query this scan misreads is sent alone, never
// rewritten wrongly.
func lex(expr string) (lexed, error) {
	key, vals, err := lexInto(nil, expr)
	if err != nil {
		return lexed{}, err
	}
	return lexed{key: string(key), vals: vals}, nil
}

// lexInto is lex appending the key to buf, so that a caller with a
// reused buffer looks shapes up without allocating the key. The values
// are substrings of expr unless they hold escapes.
func lexInto(buf []byte, expr string) (key []byte, vals []string, err error) {
	if strings.IndexByte(expr, 0) >= 0 {
		return nil, nil, errors.New("lex query: NUL byte")
	}
	key = buf[:0]
	last := 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; c {
		case '#':
			nl := strings.IndexByte(expr[i:], '\n')
			if nl < 0 {
				i = len(expr)
				break
			}
			i += nl
		case '"', '\'', '`':
			end, escaped := -1, false
			for j := i + 1; j < len(expr); j++ {
				if expr[j] == '\\' && c != '`' {
					escaped = true
					j++
					continue
				}
				if expr[j] == c {
					end = j
					break
				}
			}
			if end < 0 {
				return nil, nil, fmt.Errorf("lex query: unterminated string at %d", i)
			}
			v := expr[i+1 : end]
			if escaped {
				u, err := strutil.Unquote(expr[i : end+1])
				if err != nil {
					return nil, nil, fmt.Errorf("lex query: string %s: %w", expr[i:end+1], err)
				}
				v = u
			}
			key = append(key, expr[last:i]...)
			key = append(key, 0)
			last = end + 1
			if vals == nil {
				vals = make([]string, 0, 4)
			}
			vals = append(vals, v)
			i = end
		}
	}
	return append(key, expr[last:]...), vals, nil
}

// slot is what a string literal of a shape is: the value of a label
// matcher.
type slot struct {
	label string
	typ   labels.MatchType
}

// shape is what is known of every query with one lexed key: which matcher
// each string literal is, and whether such queries can be batched at all.
type shape struct {
	key   string
	slots []slot
	// probe is the query with every literal i replaced by slotValue(i):
	// parsing it gives an AST whose matchers say which slot they hold.
	probe string
	// refused says why queries of this shape are never batched; nil when
	// they may be.
	refused error
}

// slotValue is the stand-in for literal i in a shape's probe.
func slotValue(i int) string { return "__canaryd_batch_slot_" + strconv.Itoa(i) + "__" }

// slotIndex returns i for slotValue(i), -1 for anything else.
func slotIndex(v string) int {
	s, ok := strings.CutPrefix(v, "__canaryd_batch_slot_")
	if !ok {
		return -1
	}
	s, ok = strings.CutSuffix(s, "__")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// errRefused marks a query shape or batch that cannot be rewritten safely.
var errRefused = errors.New("not batchable")

func refusef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRefused}, args...)...)
}

// newShape analyses the shape of l: it parses the probe, maps every string
// literal to its matcher, and refuses anything whose result might change
// when analyses are told apart by extra grouping labels.
func newShape(l lexed) *shape {
	sh := &shape{key: l.key, slots: make([]slot, len(l.vals))}
	parts := strings.Split(l.key, "\x00")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(p)
		if i < len(parts)-1 {
			b.WriteString(strconv.Quote(slotValue(i)))
		}
	}
	sh.probe = b.String()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(sh.probe)
	if err != nil {
		sh.refused = refusef("parse: %v", err)
		return sh
	}
	seen := make([]bool, len(sh.slots))
	if err := check(expr, func(m *labels.Matcher) error {
		i := slotIndex(m.Value)
		if i < 0 {
			return nil
		}
		if i >= len(seen) || seen[i] {
			return refusef("string literal %d used twice", i)
		}
		seen[i] = true
		sh.slots[i] = slot{label: m.Name, typ: m.Type}
		return nil
	}); err != nil {
		sh.refused = err
		return sh
	}
	if i := slices.Index(seen, false); i >= 0 {
		sh.refused = refusef("string literal %d is not a label matcher value", i)
	}
	return sh
}

// batchableAggregations may take extra grouping labels without changing
// any group's value: each is computed within its group alone.
var batchableAggregations = map[parser.ItemType]bool{
	parser.SUM: true, parser.AVG: true, parser.MIN: true, parser.MAX: true, parser.COUNT: true,
	parser.STDDEV: true, parser.STDVAR: true, parser.GROUP: true, parser.QUANTILE: true,
}

// batchableFunctions map each input series to output series with the same
// labels (at most the metric name dropped), so a label every input carries
// reaches the output unchanged. Functions that invent, rewrite or remove
// labels, or make vectors from nothing (label_replace, absent, vector,
// scalar, time, sort_by_label, info), are not here.
var batchableFunctions = map[string]bool{
	"abs": true, "ceil": true, "floor": true, "round": true, "exp": true, "ln": true, "log2": true, "log10": true,
	"sqrt": true, "sgn": true, "clamp": true, "clamp_min": true, "clamp_max": true, "timestamp": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
	"predict_linear": true, "resets": true, "changes": true,
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "sum_over_time": true,
	"count_over_time": true, "quantile_over_time": true, "stddev_over_time": true, "stdvar_over_time": true,
	"last_over_time": true, "present_over_time": true, "mad_over_time": true,
	"histogram_quantile": true, "histogram_fraction": true, "histogram_count": true, "histogram_sum": true,
	"histogram_avg": true, "histogram_stddev": true, "histogram_stdvar": true,
	"sort": true, "sort_desc": true,
}

// check walks e and refuses any node that batching might change; it calls
// matcher for every label matcher of every selector.
func check(e parser.Expr, matcher func(*labels.Matcher) error) error {
	switch n := e.(type) {
	case *parser.VectorSelector:
		for _, m := range n.LabelMatchers {
			if err := matcher(m); err != nil {
				return err
			}
		}
		return nil
	case *parser.MatrixSelector:
		return check(n.VectorSelector, matcher)
	case *parser.SubqueryExpr:
		return check(n.Expr, matcher)
	case *parser.ParenExpr:
		return check(n.Expr, matcher)
	case *parser.UnaryExpr:
		return check(n.Expr, matcher)
	case *parser.NumberLiteral:
		return nil
	case *parser.Call:
		if !batchableFunctions[n.Func.Name] {
			return refusef("function %s", n.Func.Name)
		}
		for _, a := range n.Args {
			if err := check(a, matcher); err != nil {
				return err
			}
		}
		return nil
	case *parser.AggregateExpr:
		if !batchableAggregations[n.Op] {
			return refusef("aggregation %s", n.Op)
		}
		if n.Without {
			return refusef("%s without (...)", n.Op)
		}
		if n.Param != nil {
			if err := check(n.Param, matcher); err != nil {
				return err
			}
		}
		return check(n.Expr, matcher)
	case *parser.BinaryExpr:
		if n.Op == parser.LOR {
			return refusef("or")
		}
		if vm := n.VectorMatching; vm != nil && (vm.FillValues.LHS != nil || vm.FillValues.RHS != nil) {
			return refusef("fill modifiers")
		}
		if err := check(n.LHS, matcher); err != nil {
			return err
		}
		return check(n.RHS, matcher)
	}
	return refusef("expression %T", e)
}

// rewrite builds the one query that answers every member of a batch. vals
// holds each member's literal values; split returns the labels whose values
// tell the members apart. Every equality matcher on a split label becomes a
// regex alternation of the members' values, every aggregation also groups
// by the split labels, and every on(...) also matches on them. It is
// refused unless every selector pins every split label with an equality
// matcher, so that each member's series keep their own value of those
// labels through every step of the evaluation.
func (sh *shape) rewrite(vals [][]string) (query string, split []string, err error) {
	if sh.refused != nil {
		return "", nil, sh.refused
	}
	// Split labels: those of equality slots whose values differ.
	varies := make([]bool, len(sh.slots))
	for i, s := range sh.slots {
		if s.typ != labels.MatchEqual {
			continue
		}
		for _, v := range vals[1:] {
			if v[i] != vals[0][i] {
				varies[i] = true
				if !slices.Contains(split, s.label) {
					split = append(split, s.label)
				}
				break
			}
		}
	}
	if len(split) == 0 {
		return sh.fill(vals[0]), nil, nil
	}
	if slices.Contains(split, model.MetricNameLabel) {
		return "", nil, refusef("metric names differ")
	}
	slices.Sort(split)
	// Each member holds one value per split label (the provider sends a
	// query whose equality matchers disagree on a label alone), so every
	// matcher on a split label must be one of those varying equalities: a
	// fixed value or another operator on it would mix analyses.
	for i, s := range sh.slots {
		if slices.Contains(split, s.label) && !varies[i] {
			return "", nil, refusef("label %s is also matched with a fixed value or operator", s.label)
		}
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(sh.probe)
	if err != nil {
		return "", nil, refusef("parse: %v", err)
	}
	alternation := func(i int) string {
		vs := make([]string, len(vals))
		for j, v := range vals {
			vs[j] = regexp.QuoteMeta(v[i])
		}
		slices.Sort(vs)
		return strings.Join(slices.Compact(vs), "|")
	}
	var walkErr error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if walkErr != nil {
			return walkErr
		}
		switch n := n.(type) {
		case *parser.VectorSelector:
			pinned := map[string]bool{}
			for k, m := range n.LabelMatchers {
				i := slotIndex(m.Value)
				if i < 0 {
					continue
				}
				typ, v := m.Type, vals[0][i]
				if varies[i] {
					typ, v = labels.MatchRegexp, alternation(i)
				}
				if m.Type == labels.MatchEqual && slices.Contains(split, m.Name) {
					pinned[m.Name] = true
				}
				nm, err := labels.NewMatcher(typ, m.Name, v)
				if err != nil {
					walkErr = fmt.Errorf("matcher %s: %w", m.Name, err)
					return walkErr
				}
				n.LabelMatchers[k] = nm
			}
			for _, l := range split {
				if !pinned[l] {
					walkErr = refusef("a selector does not pin %s", l)
					return walkErr
				}
			}
		case *parser.AggregateExpr:
			n.Grouping = union(n.Grouping, split)
		case *parser.BinaryExpr:
			vm := n.VectorMatching
			if vm == nil {
				break
			}
			switch {
			case vm.On:
				vm.MatchingLabels = union(vm.MatchingLabels, split)
			case slices.ContainsFunc(split, func(l string) bool { return slices.Contains(vm.MatchingLabels, l) }):
				walkErr = refusef("ignoring a label that tells analyses apart")
				return walkErr
			}
		}
		return nil
	})
	if walkErr != nil {
		return "", nil, walkErr
	}
	return expr.String(), split, nil
}

// fill returns the shape's query with vals in its literals: a member's own
// query, as the lexer saw it.
func (sh *shape) fill(vals []string) string {
	parts := strings.Split(sh.key, "\x00")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(p)
		if i < len(parts)-1 {
			b.WriteString(strconv.Quote(vals[i]))
		}
	}
	return b.String()
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, l := range b {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
