// Package prometheus fetches canaryd's samples from a Prometheus server: a
// metrics.Provider over the HTTP API's range queries (client_golang's
// api/prometheus/v1), with a per-attempt timeout, bounded retries with
// backoff on timeouts, 5xx and 429 (never on other 4xx), a limit on requests
// in flight, and errors that say what to do.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/companion"
)

// maxSteps is the most steps Prometheus evaluates in one range query
// ((end - start) / step); it refuses longer ones with a 400.
const maxSteps = 11000

// Source is a metrics.Provider backed by one Prometheus server. It is safe
// for concurrent use; at most configs.Prometheus.MaxConcurrency requests are in flight.
type Source struct {
	cfg    configs.Prometheus
	url    string // cfg.URL with any password masked: what logs and errors show
	q      rangeQuerier
	hc     *http.Client // nil when q is not HTTP
	sem    chan struct{}
	logger *slog.Logger
	m      sourceMetrics
}

// sourceMetrics instruments a Source.
type sourceMetrics struct {
	duration prom.Histogram
	errors   *prom.CounterVec
	retries  prom.Counter
	inFlight prom.Gauge
}

// New returns a Source for cfg, which must validate. It registers, on reg
// (which may be nil):
//
//	canaryd_prometheus_request_duration_seconds  histogram, one observation per HTTP attempt
//	canaryd_prometheus_query_errors_total{kind}   Fetch calls that failed, by kind
//	canaryd_prometheus_query_retries_total        attempts repeated after a retryable failure
//	canaryd_prometheus_requests_in_flight         requests being made now
//
// Registering two Sources on one registry panics; give each its own label
// with prometheus.WrapRegistererWith.
func New(cfg configs.Prometheus, logger *slog.Logger, reg prom.Registerer) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := config.NewClientFromConfig(cfg.HTTPClientConfig, "canaryd_prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus: http client: %w", err)
	}
	q, err := newAPIQuerier(cfg.URL, hc)
	if err != nil {
		return nil, fmt.Errorf("prometheus: api client: %w", err)
	}
	s := newSource(cfg, q, logger, reg)
	s.hc = hc
	return s, nil
}

func newSource(cfg configs.Prometheus, q rangeQuerier, logger *slog.Logger, reg prom.Registerer) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	s := &Source{
		cfg:    cfg,
		q:      q,
		sem:    make(chan struct{}, cfg.MaxConcurrency),
		url:    redactURL(cfg.URL),
		logger: logger.With("prometheus", redactURL(cfg.URL)),
		m: sourceMetrics{
			duration: f.NewHistogram(prom.HistogramOpts{
				Name:    "canaryd_prometheus_request_duration_seconds",
				Help:    "Duration of range query requests to Prometheus, one observation per attempt.",
				Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
			}),
			errors: f.NewCounterVec(prom.CounterOpts{
				Name: "canaryd_prometheus_query_errors_total",
				Help: "Range queries to Prometheus that failed after any retries, by kind of failure.",
			}, []string{"kind"}),
			retries: f.NewCounter(prom.CounterOpts{
				Name: "canaryd_prometheus_query_retries_total",
				Help: "Range query attempts repeated after a timeout, a 5xx or a 429.",
			}),
			inFlight: f.NewGauge(prom.GaugeOpts{
				Name: "canaryd_prometheus_requests_in_flight",
				Help: "Range query requests to Prometheus in flight.",
			}),
		},
	}
	for _, k := range errorKinds() {
		s.m.errors.WithLabelValues(kindLabel(k))
	}
	return s
}

// redactURL masks the password of a URL's user info, which would
// otherwise reach logs, verdicts and the API with every query error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // Validate refuses such a URL before it gets here
	}
	return u.Redacted()
}

// Close releases the Source's idle connections. Fetch still works after it.
func (s *Source) Close() {
	if s.hc != nil {
		s.hc.CloseIdleConnections()
	}
}

// Fetch runs q as a range query and returns its samples. Several series are
// merged per q.Aggregate (see metrics.Combine); without an aggregate they are
// an error wrapping metrics.ErrMultipleSeries. A query that matches nothing
// returns empty Samples and no error. Other failures are *QueryError,
// matching one of the Err values of this package.
//
// A query with a freshness companion (q.Freshness) is sent joined with it
// in one request (companion.Join) and its answer split; when Prometheus
// rejects the joined query (a query whose result is a scalar, or one that
// is itself wrong), the two are sent apart, so that errors are the
// query's own.
func (s *Source) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	if err := checkQuery(q); err != nil {
		return metrics.Samples{}, err
	}
	if !metrics.ValidAggregate(q.Aggregate) {
		return metrics.Samples{}, fmt.Errorf("query %s: unknown aggregate %q (want sum, avg, min or max)", q, q.Aggregate)
	}
	if q.Freshness == "" {
		v, warnings, err := s.fetchWithRetries(ctx, q)
		if err != nil {
			return metrics.Samples{}, s.failed(err)
		}
		samples, err := s.toSamples(q, v)
		if err != nil {
			return metrics.Samples{}, s.failed(err)
		}
		samples.Warnings = warnings
		return samples, nil
	}
	joined := q
	joined.Expr = companion.Join(q.Expr, q.Freshness)
	v, warnings, err := s.fetchWithRetries(ctx, joined)
	if errors.Is(err, ErrBadQuery) {
		return s.fetchApart(ctx, q)
	}
	if err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			qe.Query = q.Expr // what the user wrote, not the joined text
		}
		return metrics.Samples{}, s.failed(err)
	}
	m, err := s.asMatrix(q, v)
	if err != nil {
		return metrics.Samples{}, s.failed(err)
	}
	own, fresh := companion.Split(m)
	samples, err := s.samplesOf(q, own)
	if err != nil {
		return metrics.Samples{}, s.failed(err)
	}
	samples.Warnings = warnings
	if err := setFreshness(&samples, fresh); err != nil {
		return metrics.Samples{}, s.failed(&QueryError{Metric: q.Metric, Role: q.Role, Query: q.Freshness, URL: s.url, Kind: ErrBadResponse, Err: err})
	}
	return samples, nil
}

// fetchApart fetches q and its companion in two requests, side by side
// (a judgement waits for the slower of the two, not their sum).
func (s *Source) fetchApart(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	var (
		fresh    model.Matrix
		freshErr error
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		fq := q
		fq.Expr, fq.Aggregate, fq.Freshness = q.Freshness, "", ""
		fresh, _, freshErr = s.FetchMatrix(ctx, fq)
	}()
	v, warnings, err := s.fetchWithRetries(ctx, q)
	<-done
	if err != nil {
		return metrics.Samples{}, s.failed(err)
	}
	samples, err := s.toSamples(q, v)
	if err != nil {
		return metrics.Samples{}, s.failed(err)
	}
	samples.Warnings = warnings
	if freshErr != nil {
		return metrics.Samples{}, freshErr // counted by FetchMatrix
	}
	if err := setFreshness(&samples, fresh); err != nil {
		return metrics.Samples{}, s.failed(&QueryError{Metric: q.Metric, Role: q.Role, Query: q.Freshness, URL: s.url, Kind: ErrBadResponse, Err: err})
	}
	return samples, nil
}

// setFreshness fills s's freshness from the companion's answer, which
// aggregates to one series (several, which only a server that ignores the
// aggregation would send, are merged by their newest sample).
func setFreshness(s *metrics.Samples, m model.Matrix) error {
	series := make([]metrics.Series, len(m))
	for i, ss := range m {
		if len(ss.Histograms) > 0 {
			return fmt.Errorf("the freshness companion returned native histograms")
		}
		sr := metrics.Series{Times: make([]int64, len(ss.Values)), Values: make([]float64, len(ss.Values))}
		for j, p := range ss.Values {
			sr.Times[j], sr.Values[j] = int64(p.Timestamp), float64(p.Value)
		}
		series[i] = sr
	}
	times, values, err := metrics.Combine(metrics.AggregateMax, series)
	if err != nil {
		return err
	}
	s.SetFreshness(times, values)
	return nil
}

// checkQuery refuses, before anything is sent, a query no Prometheus can
// answer.
func checkQuery(q metrics.Query) error {
	switch {
	case q.Expr == "":
		return fmt.Errorf("query %s: empty query", q)
	case q.Step <= 0:
		return fmt.Errorf("query %s: step must be positive, got %s", q, q.Step)
	case q.End.Before(q.Start):
		return fmt.Errorf("query %s: end %s is before start %s", q, q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	case q.End.Sub(q.Start)/q.Step > maxSteps:
		return fmt.Errorf("query %s: %s at a %s step is %d points, more than Prometheus answers per series (%d); use a larger step",
			q, q.End.Sub(q.Start), q.Step, metrics.ExpectedPoints(q.Start, q.End, q.Step), maxSteps+1)
	}
	return nil
}

func (s *Source) failed(err error) error {
	kind := context.Canceled
	var qe *QueryError
	if errors.As(err, &qe) {
		kind = qe.Kind
	}
	s.m.errors.WithLabelValues(kindLabel(kind)).Inc()
	return err
}

func (s *Source) fetchWithRetries(ctx context.Context, q metrics.Query) (model.Value, []string, error) {
	timeout := time.Duration(s.cfg.Timeout)
	r := v1.Range{Start: q.Start, End: q.End, Step: q.Step}
	for attempt := 1; ; attempt++ {
		v, warnings, status, err := s.attempt(ctx, q.Expr, r, timeout)
		if err == nil {
			return v, warnings, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, fmt.Errorf("query %s: %w", q, ctxErr)
		}
		kind, cause := classify(err, status)
		qe := &QueryError{Metric: q.Metric, Role: q.Role, Query: q.Expr, URL: s.url,
			Kind: kind, Status: status, Attempts: attempt, Timeout: timeout, Err: cause}
		if !retryable(kind) || attempt > s.cfg.MaxRetries {
			return nil, nil, qe
		}
		wait := s.backoff(attempt)
		s.logger.Warn("prometheus query failed, retrying", "metric", q.Metric, "role", q.Role,
			"attempt", attempt, "kind", kindLabel(kind), "status", status, "backoff", wait, "err", cause)
		s.m.retries.Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("query %s: %w (waiting to retry after: %w)", q, ctx.Err(), qe)
		case <-t.C:
		}
	}
}

// attempt makes one request, within the concurrency limit and the timeout.
func (s *Source) attempt(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (model.Value, []string, int, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, 0, ctx.Err()
	}
	defer func() { <-s.sem }()
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()

	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	v, warnings, status, err := s.q.queryRange(actx, expr, r, timeout)
	s.m.duration.Observe(time.Since(start).Seconds())
	return v, warnings, status, err
}

// backoff returns the wait before retry n (n >= 1): min_backoff doubled per
// earlier retry, capped at max_backoff, the upper half jittered so that
// queries failing together do not retry together:
//
//	d = min(max_backoff, min_backoff * 2^(n-1));  wait in [d/2, d)
func (s *Source) backoff(n int) time.Duration {
	d := time.Duration(s.cfg.MinBackoff)
	for i := 1; i < n && d < time.Duration(s.cfg.MaxBackoff); i++ {
		d *= 2
	}
	d = min(d, time.Duration(s.cfg.MaxBackoff))
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half)
}

// asMatrix checks that a range query's result is a matrix.
func (s *Source) asMatrix(q metrics.Query, v model.Value) (model.Matrix, error) {
	m, ok := v.(model.Matrix)
	if ok {
		return m, nil
	}
	qe := &QueryError{Metric: q.Metric, Role: q.Role, Query: q.Expr, URL: s.url, Kind: ErrBadResponse, Err: errors.New("no result")}
	if v != nil {
		qe.Err = fmt.Errorf("a range query returned a %s, not a matrix", v.Type())
	}
	return nil, qe
}

// toSamples turns a range query's result into the query's samples.
func (s *Source) toSamples(q metrics.Query, v model.Value) (metrics.Samples, error) {
	matrix, err := s.asMatrix(q, v)
	if err != nil {
		return metrics.Samples{}, err
	}
	return s.samplesOf(q, matrix)
}

// samplesOf turns the series of q's answer into q's samples.
func (s *Source) samplesOf(q metrics.Query, matrix model.Matrix) (metrics.Samples, error) {
	bad := func(kind error, format string, args ...any) error {
		return &QueryError{Metric: q.Metric, Role: q.Role, Query: q.Expr, URL: s.url, Kind: kind, Err: fmt.Errorf(format, args...)}
	}
	// Labels are formatted only for the error that lists them: formatting
	// every series' labels costs more than converting its points.
	withLabels := q.Aggregate == "" && len(matrix) > 1
	series := make([]metrics.Series, len(matrix))
	for i, ss := range matrix {
		if len(ss.Histograms) > 0 {
			return metrics.Samples{}, bad(ErrBadQuery, "series %s holds native histograms, which canaryd cannot judge; take a number from them, e.g. histogram_quantile(0.99, ...)", ss.Metric)
		}
		sr := metrics.Series{Times: make([]int64, len(ss.Values)), Values: make([]float64, len(ss.Values))}
		if withLabels {
			sr.Labels = ss.Metric.String()
		}
		for j, p := range ss.Values {
			if j > 0 && p.Timestamp <= ss.Values[j-1].Timestamp {
				// Prometheus answers in time order; anything else is
				// not a Prometheus answer, and would break the pairing.
				return metrics.Samples{}, bad(ErrBadResponse, "series %s: point at %s does not follow %s (want increasing times)",
					ss.Metric, p.Timestamp.Time().UTC().Format(time.RFC3339Nano), ss.Values[j-1].Timestamp.Time().UTC().Format(time.RFC3339Nano))
			}
			sr.Times[j] = int64(p.Timestamp)
			sr.Values[j] = float64(p.Value)
		}
		series[i] = sr
	}
	times, values, err := metrics.Combine(q.Aggregate, series)
	if err != nil {
		// Only several series without an aggregate fail here (Fetch checked
		// the aggregate); the kind is not repeated in the detail.
		return metrics.Samples{}, bad(metrics.ErrMultipleSeries, "%s", strings.TrimPrefix(err.Error(), metrics.ErrMultipleSeries.Error()+": "))
	}
	out := metrics.Samples{Query: q.Expr, Times: times, Values: values}
	out.Tally(q.Start, q.End, q.Step)
	return out, nil
}
