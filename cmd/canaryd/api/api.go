// Package api is canaryd's HTTP API: analyses (create, list, show, abort,
// the latest verdict, the gate a CD tool reads: Argo Rollouts' web metric),
// Flagger's webhooks,
// the report pages, /metrics and the health and reload endpoints. It
// holds no state: the daemon's store, runner and config are reached
// through Options.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// Options are what the API serves; the functions return the daemon's
// current parts (the store and runner are nil until it has started).
type Options struct {
	Store  func() *record.Store
	Runner func() *runner.Runner
	// Audit is the audit trail (nil until the daemon has started, with
	// the store).
	Audit  func() *bus.AuditLog
	Config func() *configs.Config
	Source func() metrics.Provider
	// Companions writes each query's freshness companion for the
	// report's fetches (see runner.Options).
	Companions metrics.Companions
	Ready      func() bool
	// Assets reports the health of the NATS streams (package bus).
	Assets     func(context.Context) []bus.Health
	Reload     func() error
	Clock      runner.Clock
	Logger     *slog.Logger
	InstanceID string
	// Gatherer is what /metrics serves.
	Gatherer prometheus.Gatherer
}

// API serves the daemon over HTTP.
type API struct{ opts Options }

// New returns the API of o.
func New(o Options) *API { return &API{opts: o} }

func (a *API) store() *record.Store { return a.opts.Store() }

// Handler returns the daemon's HTTP API, the report pages (/analyses),
// /metrics and the health endpoints.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/analyses", a.postAnalysis)
	mux.HandleFunc("GET /api/v1/analyses", a.listAnalyses)
	mux.HandleFunc("GET /api/v1/analyses/{id}", a.getAnalysis)
	mux.HandleFunc("GET /api/v1/analyses/{id}/verdict", a.getVerdict)
	mux.HandleFunc("POST /api/v1/analyses/{id}/abort", a.postAbort)
	mux.HandleFunc("GET /api/v1/analyses/{id}/audit", a.getAudit)
	mux.HandleFunc("GET /api/v1/analyses/{id}/gate", a.getGate)
	mux.HandleFunc("POST /api/v1/analyses/{id}/gate", a.postGate)
	mux.HandleFunc("POST /api/v1/flagger/pre-rollout", a.flaggerPreRollout)
	mux.HandleFunc("POST /api/v1/flagger/confirm-traffic-increase", a.flaggerConfirmTrafficIncrease)
	mux.HandleFunc("POST /api/v1/analyses/{id}/approve", a.postAnswer(true))
	mux.HandleFunc("POST /api/v1/analyses/{id}/deny", a.postAnswer(false))
	mux.HandleFunc("POST /api/v1/flagger/confirm-promotion", a.flaggerConfirmPromotion)
	mux.HandleFunc("POST /api/v1/flagger/rollback", a.flaggerRollback)
	pages := report.Handler(reportSource{a}, a.opts.Logger, a.opts.Clock.Now)
	mux.Handle("GET /analyses", pages)
	mux.Handle("GET /analyses/{id}", pages)
	overview := report.OverviewHandler(overviewSource{a}, bus.AnalysisTTL, a.opts.Logger, a.opts.Clock.Now)
	for _, p := range []string{"GET /overview", "GET /oncall", "GET /api/v1/rollouts"} {
		mux.Handle(p, overview)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(
		a.opts.Gatherer,
		promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(a.opts.Logger.Handler(), slog.LevelError)},
	))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
	})
	mux.HandleFunc("GET /-/ready", a.ready)
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.opts.Reload(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	return jsonErrors(mux)
}

// readyTimeout bounds the asset health a readiness probe asks for.
const readyTimeout = 2 * time.Second

// ready answers 200 when the daemon is started and connected and every
// stream it uses has a leader, with each stream's health (a lost replica
// shows as degraded); 503 otherwise.
func (a *API) ready(w http.ResponseWriter, r *http.Request) {
	if !a.opts.Ready() {
		writeError(w, http.StatusServiceUnavailable, errors.New("not ready: starting, stopping or disconnected from NATS"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	var assets []bus.Health
	if a.opts.Assets != nil {
		assets = a.opts.Assets(ctx)
	}
	for _, h := range assets {
		if h.Status == bus.Unavailable {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"error": fmt.Sprintf("not ready: stream %s unavailable: %s", h.Stream, h.Error), "assets": assets})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "assets": assets})
}

// jsonErrors makes the mux's own answers for unknown paths (404) and
// methods (405, with its Allow header) JSON errors like the API's.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		c := &statusOnly{header: http.Header{}}
		h.ServeHTTP(c, r)
		if allow := c.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		code := c.code
		if code == 0 {
			code = http.StatusNotFound
		}
		writeError(w, code, fmt.Errorf("%s %s: %s", r.Method, r.URL.Path, strings.ToLower(http.StatusText(code))))
	})
}

// statusOnly keeps the status and headers a handler writes, and drops the
// body.
type statusOnly struct {
	header http.Header
	code   int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

// AnalysisView is an analysis as the API shows it.
type AnalysisView struct {
	ID        string            `json:"id"`
	Service   string            `json:"service"`
	Namespace string            `json:"namespace"`
	Template  string            `json:"template"`
	Baseline  analysis.Version  `json:"baseline"`
	Canary    analysis.Version  `json:"canary"`
	Variables map[string]string `json:"variables,omitempty"`
	State     string            `json:"state"`
	// Gate is what a CD tool's gate reads (rollout.Gate): succeeded,
	// failed or running.
	Gate       rollout.Gate    `json:"gate"`
	Step       int             `json:"step"`
	Steps      []float64       `json:"steps"`
	Weight     float64         `json:"weight"`
	Judgements int             `json:"judgements"`
	Verdicts   int             `json:"verdicts"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	NextDue    *time.Time      `json:"next_judgement_due,omitempty"`
	Owner      string          `json:"owner,omitempty"`
	Latest     *record.Verdict `json:"latest_verdict,omitempty"`
	// AwaitingApproval is the step the rollout waits to enter, for a
	// person's approval; Approvals are the answers given so far.
	AwaitingApproval int                `json:"awaiting_approval_step,omitempty"`
	Approvals        []rollout.Approval `json:"approvals,omitempty"`
	// History holds the latest verdicts, oldest first (detail view only).
	History []record.Verdict `json:"history,omitempty"`
	// Queries are the PromQL queries of every metric, as the analysis
	// runs them (detail view only; verdicts leave them out, since they are
	// the same at every judgement).
	Queries []MetricQueries `json:"queries,omitempty"`
	// Error says why the analysis' record cannot be read (written by a
	// later canaryd, or corrupt); then only ID is set.
	Error string `json:"error,omitempty"`
}

// MetricQueries are one metric's queries for an analysis.
type MetricQueries struct {
	Metric   string `json:"metric"`
	Baseline string `json:"baseline"`
	Canary   string `json:"canary"`
}

// queriesOf renders the queries of r's metrics with the running template,
// nil when it is gone or a query does not render.
func (a *API) queriesOf(r *record.Record) []MetricQueries {
	tmpl := a.opts.Config().Template(r.Event.Template)
	if tmpl == nil {
		return nil
	}
	qs, err := analysis.Queries(tmpl, r.Event.Target(), 0, r.Start, r.Start.Add(r.Interval), nil, nil)
	if err != nil || len(qs) != 2*len(tmpl.Metrics) {
		return nil
	}
	out := make([]MetricQueries, len(tmpl.Metrics))
	for i := range out {
		out[i] = MetricQueries{Metric: tmpl.Metrics[i].Name, Baseline: qs[2*i].Expr, Canary: qs[2*i+1].Expr}
	}
	return out
}

func viewOf(r *record.Record, detail bool) AnalysisView {
	v := AnalysisView{
		ID:         r.ID,
		Service:    r.Event.Service,
		Namespace:  r.Event.Namespace,
		Template:   r.Event.Template,
		Baseline:   r.Event.Baseline,
		Canary:     r.Event.Canary,
		Variables:  r.Event.Variables,
		State:      r.State(),
		Gate:       r.Gate(),
		Step:       r.Step(),
		Steps:      r.Plan.Steps,
		Weight:     r.Weight(),
		Judgements: r.Judgements(),
		Verdicts:   r.Seq,
		CreatedAt:  r.CreatedAt,
		UpdatedAt:  r.UpdatedAt,
		Owner:      r.Lease.Owner,
		Latest:     r.Latest(),
	}
	v.AwaitingApproval, _ = r.Awaiting()
	v.Approvals = r.Approvals
	if !r.Done() {
		due := r.NextDue().UTC()
		v.NextDue = &due
	}
	if detail {
		v.History = r.History
	}
	return v
}

// detailOf is the detail view of r: viewOf with the metrics' queries.
func (a *API) detailOf(r *record.Record) AnalysisView {
	v := viewOf(r, true)
	v.Queries = a.queriesOf(r)
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// readBody reads a request body of at most message.MaxEventBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, message.MaxEventBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("request body larger than %d bytes", mbe.Limit)
	}
	return b, err
}

func (a *API) storeOrUnavailable(w http.ResponseWriter) bool {
	if a.store() == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("not started"))
		return false
	}
	return true
}

func (a *API) postAnalysis(w http.ResponseWriter, r *http.Request) {
	if !a.storeOrUnavailable(w) {
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	e, err := message.DecodeEvent(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if e.ID == "" {
		e.ID = nuid.Next()
	}
	rec, err := a.opts.Runner().Create(r.Context(), e)
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, a.detailOf(rec))
	case errors.Is(err, record.ErrDuplicate):
		writeJSON(w, http.StatusOK, a.detailOf(rec))
	case errors.Is(err, runner.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	default:
		writeError(w, http.StatusServiceUnavailable, err)
	}
}

// records returns every stored analysis this daemon can read, by
// creation, and the ids of those it cannot with their errors.
func (a *API) records(ctx context.Context) ([]*record.Record, []AnalysisView, error) {
	ids, err := a.store().IDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]*record.Record, 0, len(ids))
	var unreadable []AnalysisView
	for _, id := range ids {
		r, _, err := a.store().Get(ctx, id)
		if errors.Is(err, record.ErrNotFound) {
			continue
		}
		if errors.Is(err, record.ErrUnreadable) {
			unreadable = append(unreadable, AnalysisView{ID: id, Error: err.Error()})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(x, y *record.Record) int {
		if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return recs, unreadable, nil
}

// Listing's page sizes, and how many of a page's records are read at
// once.
const (
	defaultLimit = 100
	maxLimit     = 1000
	pageReaders  = 8
)

// listAnalyses lists analyses, filtered by service, namespace and state,
// in creation order, a page of limit at a time: the index (record.Store's
// Find) names them without reading a record, and only the page's records
// are read. continue is the token the previous page answered with.
func (a *API) listAnalyses(w http.ResponseWriter, r *http.Request) {
	if !a.storeOrUnavailable(w) {
		return
	}
	q := r.URL.Query()
	state, service, namespace := q.Get("state"), q.Get("service"), q.Get("namespace")
	switch state {
	case "", record.Running, string(rollout.Succeeded), string(rollout.RolledBack), string(rollout.Expired), string(rollout.Aborted), string(rollout.RolledBackAfterPromotion):
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("state %q is not one of running, succeeded, rolled_back, expired, aborted, rolled_back_after_promotion", state))
		return
	}
	for _, f := range []struct{ name, value string }{{"service", service}, {"namespace", namespace}} {
		if f.value != "" && !message.ValidName(f.value) {
			writeJSON(w, http.StatusOK, map[string]any{"analyses": []AnalysisView{}}) // no analysis has such a name
			return
		}
	}
	limit := defaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q is not a number from 1 to %d", l, maxLimit))
			return
		}
		limit = n
	}
	after := q.Get("continue")
	if after != "" && !record.ValidCursor(after) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("continue %q is not a token a listing answered with", after))
		return
	}
	page, more, err := a.store().Find(r.Context(), namespace, service, state, after, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	next := ""
	if more {
		next = page[len(page)-1].Cursor
	}
	recs, errs := a.summaries(r.Context(), page)
	out := make([]AnalysisView, 0, len(page))
	for i, e := range page {
		switch err := errs[i]; {
		case errors.Is(err, record.ErrNotFound): // left the bucket (its TTL)
			a.store().Forget(e)
			continue
		case errors.Is(err, record.ErrUnreadable):
			out = append(out, AnalysisView{ID: e.ID(), Service: e.Service, Namespace: e.Namespace, Error: err.Error()})
			continue
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		if state != "" && recs[i].State() != state {
			continue // ended since the index was read
		}
		out = append(out, viewOf(recs[i], false))
	}
	body := map[string]any{"analyses": out}
	if next != "" {
		body["continue"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// summaries reads the records of a page of index entries as summaries
// (record.Store's Summary), a few at a time: each read is a round trip to
// the server. errs[i] is entry i's error.
func (a *API) summaries(ctx context.Context, page []record.Entry) (recs []*record.Record, errs []error) {
	recs, errs = make([]*record.Record, len(page)), make([]error, len(page))
	var wg sync.WaitGroup
	sem := make(chan struct{}, pageReaders)
	for i := range page {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			recs[i], errs[i] = a.store().Summary(ctx, page[i].ID())
		})
	}
	wg.Wait()
	return recs, errs
}

func (a *API) lookup(w http.ResponseWriter, r *http.Request) *record.Record {
	if !a.storeOrUnavailable(w) {
		return nil
	}
	id := r.PathValue("id")
	if !message.ValidID(id) {
		writeError(w, http.StatusNotFound, fmt.Errorf("analysis %q not found", id))
		return nil
	}
	rec, _, err := a.store().Get(r.Context(), id)
	switch {
	case errors.Is(err, record.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Errorf("analysis %q not found", id))
		return nil
	case errors.Is(err, record.ErrUnreadable):
		writeError(w, http.StatusInternalServerError, err)
		return nil
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
		return nil
	}
	return rec
}

func (a *API) getAnalysis(w http.ResponseWriter, r *http.Request) {
	if rec := a.lookup(w, r); rec != nil {
		writeJSON(w, http.StatusOK, a.detailOf(rec))
	}
}

// getVerdict answers 200 whenever the analysis exists, so that it works as
// an Argo Rollouts web metric: before the first judgement the verdict is
// hold.
func (a *API) getVerdict(w http.ResponseWriter, r *http.Request) {
	rec := a.lookup(w, r)
	if rec == nil {
		return
	}
	if v := rec.Latest(); v != nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	weight := rec.Weight()
	writeJSON(w, http.StatusOK, &message.Verdict{
		AnalysisID: rec.ID,
		Service:    rec.Event.Service,
		Namespace:  rec.Event.Namespace,
		Step:       rec.Step(),
		Weight:     weight,
		NextWeight: weight,
		Verdict:    analysis.Hold,
		Reason:     "no judgement yet: the first is due at " + rec.NextDue().UTC().Format(time.RFC3339),
		Metrics:    []analysis.MetricResult{},
		IssuedAt:   a.opts.Clock.Now().UTC(),
	})
}

func (a *API) postAbort(w http.ResponseWriter, r *http.Request) {
	rec := a.lookup(w, r)
	if rec == nil {
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("decode abort request: %w", err))
			return
		}
	}
	rec, err = a.opts.Runner().Abort(r.Context(), rec.ID, body.Reason)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, a.detailOf(rec))
}
