package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// ErrClosed is returned by ingestion, appends, queries and Start on a
// Source after Close.
var ErrClosed = errors.New("embedded metrics source closed")

// Options configure a Source. The zero value works: every field has a
// default.
type Options struct {
	// Logger receives the source's logs; nil discards them. The TSDB's own
	// logs are passed on at warning level and above.
	Logger *slog.Logger
	// Registerer, if not nil, receives the source's metrics
	// (canaryd_embedded_*) and those of the TSDB head (prometheus_tsdb_*)
	// and the PromQL engine (prometheus_engine_*). Registering two Sources
	// on one registry panics; wrap it with prometheus.WrapRegistererWith.
	Registerer prometheus.Registerer
	// Retention is how much sample time is kept behind the newest sample;
	// older data is dropped in steps, so up to 1.25×Retention may be held.
	// Default 1h.
	Retention time.Duration
	// LookbackDelta is how far back a query looks for a series' latest
	// sample at each step; default 5m, as in Prometheus. A request may
	// override it with the lookback_delta parameter.
	LookbackDelta time.Duration
	// QueryTimeout bounds each query; a request's timeout parameter can
	// only shorten it. Default 2m, as in Prometheus.
	QueryTimeout time.Duration
	// MaxSamples bounds the samples one query may hold in memory; default
	// 50,000,000, as in Prometheus.
	MaxSamples int
	// Dir is where the temporary directory holding the TSDB head's
	// memory-mapped chunks is made; default os.TempDir(). Close removes it.
	Dir string
	// Now, if not nil, gives the evaluation time of an instant query that
	// names none. Without it such a query is evaluated at the newest
	// sample's time: the source has no clock of its own.
	Now func() time.Time
	// HTTPClient makes Scrape's requests; default a client with a 10s
	// timeout. The context passed to Scrape bounds each request too.
	HTTPClient *http.Client
}

// Defaults of Options.
const (
	DefaultRetention     = time.Hour       // DefaultRetention is Options.Retention's default.
	DefaultLookbackDelta = 5 * time.Minute // DefaultLookbackDelta is Prometheus's lookback delta.
	DefaultQueryTimeout  = 2 * time.Minute // DefaultQueryTimeout is Prometheus's query timeout.
	DefaultMaxSamples    = 50_000_000      // DefaultMaxSamples is Prometheus's query sample limit.
)

// subqueryStep is the step of a subquery that names none, in milliseconds:
// Prometheus uses its global evaluation interval, 1m by default.
const subqueryStep = int64(time.Minute / time.Millisecond)

// Source is an in-memory TSDB head with a PromQL engine over it. It is safe
// for concurrent use: ingestion of different targets, appends and queries
// run in parallel.
type Source struct {
	opts   Options
	logger *slog.Logger
	dir    string
	head   *tsdb.Head
	engine *promql.Engine
	m      sourceMetrics

	// life guards closed: every operation holds it for reading, Close
	// for writing.
	life   sync.RWMutex
	closed bool

	targetsMu sync.Mutex
	targets   map[string]*target // by the target labels' string form

	truncating atomic.Bool
	background sync.WaitGroup // head truncations in progress

	srvMu sync.Mutex
	srv   *server // nil when not serving
}

// sourceMetrics instruments a Source.
type sourceMetrics struct {
	appended     prometheus.Counter
	rejected     *prometheus.CounterVec
	scrapeFailed prometheus.Counter
	queries      *prometheus.CounterVec
}

// Reasons a sample is rejected, the reason label of
// canaryd_embedded_samples_rejected_total.
const (
	reasonOutOfOrder  = "out_of_order"
	reasonOutOfBounds = "out_of_bounds"
	reasonDuplicate   = "duplicate_timestamp"
	reasonInvalid     = "invalid_labels"
)

// New starts a Source with opts. It registers, on opts.Registerer (if any):
//
//	canaryd_embedded_samples_appended_total            samples stored, stale markers included
//	canaryd_embedded_samples_rejected_total{reason}    samples refused: out_of_order, out_of_bounds, duplicate_timestamp, invalid_labels
//	canaryd_embedded_scrapes_failed_total              Ingest, IngestGatherer and Scrape calls that stored nothing
//	canaryd_embedded_queries_total{endpoint,result}    API queries by endpoint and outcome (success or Prometheus's error type)
//
// and the TSDB head's and the PromQL engine's own metrics. Close it when
// done: it holds a temporary directory.
func New(opts Options) (*Source, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "canaryd-embedded-")
	if err != nil {
		return nil, fmt.Errorf("embedded: temporary directory: %w", err)
	}

	hopts := tsdb.DefaultHeadOptions()
	hopts.ChunkDirRoot = dir
	tsdbLogger := slog.New(minLevel{next: opts.Logger.Handler(), min: slog.LevelWarn}).With("component", "tsdb")
	head, err := tsdb.NewHead(opts.Registerer, tsdbLogger, nil, nil, hopts, nil)
	if err == nil {
		// No write-ahead log to replay: Init only marks the head ready and
		// lets it take samples of any time, Unix 0 and before included.
		if err = head.Init(math.MinInt64); err != nil {
			err = errors.Join(err, head.Close())
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("embedded: tsdb head: %w", err), os.RemoveAll(dir))
	}

	s := &Source{
		opts:    opts,
		logger:  opts.Logger,
		dir:     dir,
		head:    head,
		targets: make(map[string]*target),
	}
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:                   opts.Logger.With("component", "promql"),
		Reg:                      opts.Registerer,
		MaxSamples:               opts.MaxSamples,
		Timeout:                  opts.QueryTimeout,
		LookbackDelta:            opts.LookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
	})
	s.m = newSourceMetrics(opts.Registerer)
	return s, nil
}

func (o *Options) defaults() error {
	switch {
	case o.Retention < 0:
		return fmt.Errorf("embedded: retention must not be negative, got %s", o.Retention)
	case o.LookbackDelta < 0:
		return fmt.Errorf("embedded: lookback delta must not be negative, got %s", o.LookbackDelta)
	case o.QueryTimeout < 0:
		return fmt.Errorf("embedded: query timeout must not be negative, got %s", o.QueryTimeout)
	case o.MaxSamples < 0:
		return fmt.Errorf("embedded: max samples must not be negative, got %d", o.MaxSamples)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.LookbackDelta == 0 {
		o.LookbackDelta = DefaultLookbackDelta
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return nil
}

func newSourceMetrics(reg prometheus.Registerer) sourceMetrics {
	f := promauto.With(reg)
	m := sourceMetrics{
		appended: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_embedded_samples_appended_total",
			Help: "Samples stored by the embedded metrics source, stale markers included.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_embedded_samples_rejected_total",
			Help: "Samples the embedded metrics source refused, by reason.",
		}, []string{"reason"}),
		scrapeFailed: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_embedded_scrapes_failed_total",
			Help: "Scrapes the embedded metrics source could not read or parse; they store nothing but stale markers.",
		}),
		queries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_embedded_queries_total",
			Help: "Queries answered by the embedded metrics source's HTTP API, by endpoint and result.",
		}, []string{"endpoint", "result"}),
	}
	for _, r := range []string{reasonOutOfOrder, reasonOutOfBounds, reasonDuplicate, reasonInvalid} {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// Querier returns a querier over the samples in [mint, maxt] (Unix
// milliseconds), making the Source a storage.Queryable for in-process PromQL
// or direct reads. The caller must close it: an open querier holds up the
// truncation that enforces Retention.
func (s *Source) Querier(mint, maxt int64) (storage.Querier, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.querier(mint, maxt)
}

func (s *Source) querier(mint, maxt int64) (storage.Querier, error) {
	// Truncation drops whole chunks; hide the rest of what it dropped too.
	mint = max(mint, s.head.MinTime())
	if mint > maxt {
		return storage.NoopQuerier(), nil
	}
	q, err := tsdb.NewBlockQuerier(tsdb.NewRangeHead(s.head, mint, maxt), mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("embedded: head querier: %w", err)
	}
	// A truncation that began before the querier registered itself does not
	// wait for it: then read only what the truncation keeps, as tsdb.DB does.
	shouldClose, getNew, newMint := s.head.IsQuerierCollidingWithTruncation(mint, maxt)
	if !shouldClose && !getNew {
		return q, nil
	}
	if err := q.Close(); err != nil {
		return nil, fmt.Errorf("embedded: head querier: %w", err)
	}
	if !getNew {
		return storage.NoopQuerier(), nil
	}
	q, err = tsdb.NewBlockQuerier(tsdb.NewRangeHead(s.head, newMint, maxt), newMint, maxt)
	if err != nil {
		return nil, fmt.Errorf("embedded: head querier: %w", err)
	}
	return q, nil
}

// queryable adapts querier to storage.Queryable for the engine, without the
// closed check: the API handler holds the life lock for the whole query.
type queryable struct{ s *Source }

func (q queryable) Querier(mint, maxt int64) (storage.Querier, error) { return q.s.querier(mint, maxt) }

// Span returns the times of the oldest and newest samples held, and false
// when the source holds none.
func (s *Source) Span() (oldest, newest time.Time, ok bool) {
	mint, maxt := s.head.MinTime(), s.head.MaxTime()
	if mint > maxt {
		return time.Time{}, time.Time{}, false
	}
	return time.UnixMilli(mint).UTC(), time.UnixMilli(maxt).UTC(), true
}

// NumSeries returns the number of series held.
func (s *Source) NumSeries() uint64 { return s.head.NumSeries() }

// enforceRetention drops data older than Retention behind the newest sample
// once the head spans 1.25×Retention, so that truncation, which walks every
// series, runs once per quarter Retention of sample time at most. It runs in
// the background: a truncation waits for queries reading the data it drops.
// The caller holds the life lock for reading.
func (s *Source) enforceRetention() {
	if !s.overRetention() || !s.truncating.CompareAndSwap(false, true) {
		return
	}
	s.background.Go(func() {
		for {
			for s.overRetention() {
				if err := s.head.Truncate(s.head.MaxTime() - s.opts.Retention.Milliseconds()); err != nil {
					// The next commit tries again.
					s.logger.Error("embedded: retention: truncating head failed", "err", err)
					s.truncating.Store(false)
					return
				}
			}
			s.truncating.Store(false)
			// Appends that came while this goroutine was busy did not start
			// another one: look again.
			if !s.overRetention() || !s.truncating.CompareAndSwap(false, true) {
				return
			}
		}
	})
}

// overRetention reports whether the head spans more than 1.25×Retention.
func (s *Source) overRetention() bool {
	mint, maxt := s.head.MinTime(), s.head.MaxTime()
	keep := s.opts.Retention.Milliseconds()
	return mint <= maxt && maxt-mint > keep+keep/4
}

// Close stops the HTTP server if one runs (without waiting for requests in
// flight; use Stop for that), waits for operations in progress, and frees
// the head and its temporary directory. Later calls return ErrClosed.
func (s *Source) Close() error {
	var errs []error
	s.srvMu.Lock()
	if s.srv != nil {
		errs = append(errs, s.srv.close())
		s.srv = nil
	}
	s.srvMu.Unlock()

	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.life.Unlock()

	s.background.Wait()
	errs = append(errs, s.engine.Close(), s.head.Close(), os.RemoveAll(s.dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("embedded: close: %w", err)
	}
	return nil
}

// minLevel passes on records at min and above.
type minLevel struct {
	next slog.Handler
	min  slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

func (h minLevel) Handle(ctx context.Context, r slog.Record) error { return h.next.Handle(ctx, r) }

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{next: h.next.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{next: h.next.WithGroup(name), min: h.min}
}
