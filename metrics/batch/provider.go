package batch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/companion"
)

// Source is what a Provider needs from the metrics source: a query's
// samples as usual (metrics.Provider, used for every query that is not
// batched), and one range query's series unmerged, with their labels, to
// split among the analyses of a batch. metrics/prometheus.Source is one.
type Source interface {
	metrics.Provider
	FetchMatrix(ctx context.Context, q metrics.Query) (model.Matrix, []string, error)
}

// Defaults of Options.
const (
	DefaultWindow  = 50 * time.Millisecond
	DefaultMaxSize = 500
)

// maxShapes bounds the cache of query shapes; templates make few, so
// reaching it means queries are not rendered from templates and the cache
// starts again.
const maxShapes = 10000

// Options configure a Provider.
type Options struct {
	// Window is how long a batch waits for more queries after its first;
	// default DefaultWindow. It is added to the fetch time of a query that
	// is not alone in its batch.
	Window time.Duration
	// MaxSize sends a batch as soon as it holds this many queries; default
	// DefaultMaxSize.
	MaxSize int
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the provider's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Provider is a metrics.Provider that shares range queries between
// analyses: queries arriving within Window for the same window, step and
// role whose rendered PromQL differs only in the values of equality
// matchers are sent as one query (see the package documentation), and its
// series are split back to each caller. It is safe for concurrent use.
type Provider struct {
	src    Source
	window time.Duration
	max    int
	logger *slog.Logger

	mu     sync.Mutex
	shapes map[string]*shape
	groups map[groupKey]*group
	bufs   sync.Pool // *[]byte for lexing

	requests prometheus.Counter
	queries  *prometheus.CounterVec
}

// groupKey says which queries may share a request: one shape, one window,
// one role, and the same values in every literal that is not an equality
// matcher.
type groupKey struct {
	shape      *shape
	fresh      *shape // the freshness companion's; nil without one
	fixed      string
	role       metrics.Role
	start, end int64
	step       time.Duration
}

type member struct {
	ctx   context.Context
	q     metrics.Query
	vals  []string
	fvals []string // the freshness companion's literal values
	done  chan struct{}
	// alone asks the caller to send its own query: the batch could not
	// answer it exactly.
	alone bool
	out   metrics.Samples
}

type group struct {
	shape   *shape
	fresh   *shape
	members []*member
	timer   *time.Timer
}

// New returns a Provider over src.
func New(src Source, o Options) *Provider {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(o.Registerer)
	p := &Provider{
		src:    src,
		window: o.Window,
		max:    o.MaxSize,
		logger: o.Logger,
		shapes: map[string]*shape{},
		groups: map[groupKey]*group{},
		requests: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_batch_requests_total",
			Help: "Range queries sent on behalf of several analyses' queries.",
		}),
		queries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_batch_queries_total",
			Help: "Queries fetched through the batching provider, by how: batched, alone (no other query to share with), refused (a shape that cannot be batched safely), fallback (the batch failed or could not answer it).",
		}, []string{"how"}),
	}
	for _, h := range []string{"batched", "alone", "refused", "fallback"} {
		p.queries.WithLabelValues(h)
	}
	return p
}

// Fetch fetches q, sharing one request with other queries of its batch
// when it can, and q's freshness companion (q.Freshness) likewise, joined
// to the batch's query in the same request (companion.Join). The samples are exactly those
// the source would return for q alone; when the batch cannot guarantee
// that (a failed request, several series without an aggregate, native
// histograms), q is sent alone.
func (p *Provider) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	sh, vals, fixed, ok := p.lexShape(q.Expr)
	var fsh *shape
	var fvals []string
	if ok && q.Freshness != "" {
		var ffixed string
		fsh, fvals, ffixed, ok = p.lexShape(q.Freshness)
		fixed += "\x01" + ffixed
	}
	if !ok {
		p.queries.WithLabelValues("refused").Inc()
		return p.src.Fetch(ctx, q)
	}
	m := &member{ctx: ctx, q: q, vals: vals, fvals: fvals, done: make(chan struct{})}
	p.add(groupKey{shape: sh, fresh: fsh, fixed: fixed, role: q.Role, start: q.Start.UnixNano(), end: q.End.UnixNano(), step: q.Step}, m)
	select {
	case <-m.done:
	case <-ctx.Done():
		return metrics.Samples{}, fmt.Errorf("query %s: %w", q, ctx.Err())
	}
	if m.alone {
		return p.src.Fetch(ctx, q)
	}
	return m.out, nil
}

// lexShape lexes expr and returns its shape, its literal values and the
// values every member of a batch must share; false when it cannot be
// batched.
func (p *Provider) lexShape(expr string) (*shape, []string, string, bool) {
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	key, vals, err := lexInto(*bp, expr)
	var sh *shape
	if err == nil && len(vals) > 0 {
		sh = p.shapeOf(key, vals)
	}
	*bp = key[:0]
	p.bufs.Put(bp)
	if sh == nil {
		return nil, nil, "", false
	}
	fixed, ok := sh.groupValues(vals)
	return sh, vals, fixed, ok
}

// shapeOf returns the cached shape of the lexed key, analysing it the
// first time.
func (p *Provider) shapeOf(key []byte, vals []string) *shape {
	p.mu.Lock()
	sh := p.shapes[string(key)] // no allocation for the lookup
	p.mu.Unlock()
	if sh != nil {
		return sh
	}
	sh = newShape(lexed{key: string(key), vals: vals})
	if sh.refused != nil {
		p.logger.Debug("query shape not batchable", "query", sh.probe, "reason", sh.refused)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if first := p.shapes[sh.key]; first != nil {
		return first // analysed meanwhile by another caller: groups go by the shape's pointer
	}
	if len(p.shapes) >= maxShapes {
		clear(p.shapes)
	}
	p.shapes[sh.key] = sh
	return sh
}

// groupValues returns the values of vals that every member of a batch must
// share (all but equality matchers), joined; false when the shape is
// refused or vals give one label two equality values.
func (sh *shape) groupValues(vals []string) (string, bool) {
	if sh.refused != nil {
		return "", false
	}
	var b strings.Builder
	for i, s := range sh.slots {
		if s.typ != labels.MatchEqual {
			b.WriteString(vals[i])
			b.WriteByte(0)
			continue
		}
		for j := range i {
			if sh.slots[j].typ == labels.MatchEqual && sh.slots[j].label == s.label && vals[j] != vals[i] {
				return "", false
			}
		}
	}
	return b.String(), true
}

// add puts m in its batch, and sends the batch when it is full.
func (p *Provider) add(k groupKey, m *member) {
	p.mu.Lock()
	g := p.groups[k]
	if g == nil {
		g = &group{shape: k.shape, fresh: k.fresh}
		p.groups[k] = g
		g.timer = time.AfterFunc(p.window, func() {
			p.mu.Lock()
			if p.groups[k] != g {
				p.mu.Unlock()
				return // sent when it filled up
			}
			delete(p.groups, k)
			p.mu.Unlock()
			p.send(g)
		})
	}
	g.members = append(g.members, m)
	full := len(g.members) >= p.max
	if full {
		delete(p.groups, k)
		g.timer.Stop()
	}
	p.mu.Unlock()
	if full {
		go p.send(g)
	}
}

// send answers a batch: one request for all its members, split by the
// labels that tell them apart.
func (p *Provider) send(g *group) {
	ms := g.members
	if len(ms) == 1 {
		p.queries.WithLabelValues("alone").Inc()
		aloneAll(ms)
		return
	}
	vals := make([][]string, len(ms))
	fvals := make([][]string, len(ms))
	for i, m := range ms {
		vals[i], fvals[i] = m.vals, m.fvals
	}
	expr, split, err := g.shape.rewrite(vals)
	var fexpr string
	if err == nil && g.fresh != nil {
		var fsplit []string
		fexpr, fsplit, err = g.fresh.rewrite(fvals)
		if err == nil && !slices.Equal(split, fsplit) {
			err = refusef("the freshness companion tells analyses apart by %v, the query by %v", fsplit, split)
		}
	}
	if err != nil {
		p.logger.Debug("batch refused", "query", ms[0].q.Expr, "queries", len(ms), "reason", err)
		p.queries.WithLabelValues("refused").Add(float64(len(ms)))
		aloneAll(ms)
		return
	}
	q := ms[0].q
	q.Expr, q.Aggregate, q.Freshness = expr, "", ""
	// The request serves every member: one caller giving up must not fail
	// the others, so it runs to its end, bounded by the source's own
	// timeouts, even when every caller has left.
	bctx := context.WithoutCancel(ms[0].ctx)
	if g.fresh != nil {
		// The companion rides in the same request (see companion.Join);
		// its series come back labelled apart from the query's.
		q.Expr = companion.Join(expr, fexpr)
	}
	mat, warnings, err := p.src.FetchMatrix(bctx, q)
	p.requests.Inc()
	if err != nil {
		p.logger.Warn("batched query failed; sending each query alone", "metric", q.Metric, "role", q.Role, "queries", len(ms), "err", err)
		p.queries.WithLabelValues("fallback").Add(float64(len(ms)))
		aloneAll(ms)
		return
	}
	var fmat model.Matrix
	if g.fresh != nil {
		mat, fmat = companion.Split(mat)
	}

	// Each member's value of each split label, from the first slot that
	// holds it.
	slotOf := make([]int, len(split))
	for j, l := range split {
		slotOf[j] = slices.IndexFunc(g.shape.slots, func(s slot) bool { return s.label == l })
	}
	var kb strings.Builder
	keyOf := func(value func(j int) string) string {
		if len(split) == 1 {
			return value(0)
		}
		kb.Reset()
		for j := range split {
			kb.WriteString(value(j))
			kb.WriteByte(0)
		}
		return kb.String()
	}
	byKey := make(map[string][]*model.SampleStream, len(ms))
	for _, ss := range mat {
		k := keyOf(func(j int) string { return string(ss.Metric[model.LabelName(split[j])]) })
		byKey[k] = append(byKey[k], ss)
	}
	var freshByKey map[string][]*model.SampleStream
	if g.fresh != nil {
		freshByKey = make(map[string][]*model.SampleStream, len(ms))
		for _, ss := range fmat {
			k := keyOf(func(j int) string { return string(ss.Metric[model.LabelName(split[j])]) })
			freshByKey[k] = append(freshByKey[k], ss)
		}
	}
	var batched, fallback int
	for _, m := range ms {
		k := keyOf(func(j int) string { return m.vals[slotOf[j]] })
		if toSamples(m, byKey[k], warnings) && (g.fresh == nil || setFreshness(m, freshByKey[k])) {
			batched++
		} else {
			fallback++
		}
		close(m.done)
	}
	p.queries.WithLabelValues("batched").Add(float64(batched))
	p.queries.WithLabelValues("fallback").Add(float64(fallback))
}

// toSamples gives m its series as the source's Fetch would have: merged
// by m's aggregate, tallied over m's window. It returns false, marking m
// alone, when only the source's own answer would be exact: native
// histograms, or several series without an aggregate (whose error names
// the series).
func toSamples(m *member, streams []*model.SampleStream, warnings []string) bool {
	series := make([]metrics.Series, len(streams))
	for i, ss := range streams {
		if len(ss.Histograms) > 0 {
			m.alone = true
			return false
		}
		s := metrics.Series{Times: make([]int64, len(ss.Values)), Values: make([]float64, len(ss.Values))}
		for j, v := range ss.Values {
			s.Times[j] = int64(v.Timestamp)
			s.Values[j] = float64(v.Value)
		}
		series[i] = s
	}
	times, values, err := metrics.Combine(m.q.Aggregate, series)
	if err != nil {
		m.alone = true
		return false
	}
	out := metrics.Samples{Query: m.q.Expr, Times: times, Values: values, Warnings: slices.Clone(warnings)}
	out.Tally(m.q.Start, m.q.End, m.q.Step)
	m.out = out
	return true
}

// setFreshness gives m's samples their freshness from m's share of the
// companion's answer, merged by the newest sample as the source does;
// false, marking m alone, on native histograms.
func setFreshness(m *member, streams []*model.SampleStream) bool {
	if len(streams) == 1 && len(streams[0].Histograms) == 0 {
		// The usual share: one series, aligned to the points here without
		// copying it first (what SetFreshness does).
		out, vs := &m.out, streams[0].Values
		out.FreshnessKnown, out.SampleTimes, out.LastSample = true, make([]int64, len(out.Times)), 0
		j := 0
		for i, t := range out.Times {
			for j < len(vs) && int64(vs[j].Timestamp) < t {
				j++
			}
			if j < len(vs) && int64(vs[j].Timestamp) == t {
				out.SampleTimes[i] = metrics.SampleTimeMillis(float64(vs[j].Value))
			}
		}
		for _, v := range vs {
			out.LastSample = max(out.LastSample, metrics.SampleTimeMillis(float64(v.Value)))
		}
		return true
	}
	series := make([]metrics.Series, len(streams))
	for i, ss := range streams {
		if len(ss.Histograms) > 0 {
			m.alone = true
			return false
		}
		s := metrics.Series{Times: make([]int64, len(ss.Values)), Values: make([]float64, len(ss.Values))}
		for j, v := range ss.Values {
			s.Times[j], s.Values[j] = int64(v.Timestamp), float64(v.Value)
		}
		series[i] = s
	}
	times, values, err := metrics.Combine(metrics.AggregateMax, series)
	if err != nil {
		m.alone = true
		return false
	}
	m.out.SetFreshness(times, values)
	return true
}

func aloneAll(ms []*member) {
	for _, m := range ms {
		m.alone = true
		close(m.done)
	}
}
