// Package runner runs analyses: it starts one from a deploy event (NATS or
// the API), judges it interval after interval through its template's
// rollout (package rollout's state machine), persists every judgement in
// the analysis' record before publishing its verdict, and holds each
// analysis through a lease: a replica takes over the analyses whose owner
// stopped or died (the orphan scan), and hands its own back when it stops.
//
// A Runner has no clock of its own (Clock) and reads the config and the
// metrics source through functions, so that a reload takes effect at the
// next judgement.
//
// # Replicas and crashes
//
// Replicas share one durable pull consumer of deploy events, so each event
// is handled by one of them. An analysis is owned through a lease in its
// key-value record (owner and expiry, updated only with compare-and-swap):
// the owner judges it; when the owner stops gracefully it releases the
// lease, and when it dies the lease expires one grace period after the
// judgement that was due, and the first replica to notice takes the
// analysis over with compare-and-swap. Every judgement is persisted before
// its verdict is published, and verdicts carry the message id
// <analysis_id>-<seq>, so a replica resuming a crashed one republishes
// what may not have left, and JetStream stores it once.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
	"github.com/canaryd/canaryd/rollout/sli"
	"github.com/canaryd/canaryd/stats"
)

// Options are what a Runner needs; every field is required but Hooks.
type Options struct {
	// InstanceID names this replica in leases.
	InstanceID string
	// LeaseGrace is how long after a missed judgement another replica may
	// take an analysis over; a judgement's queries get half of it.
	LeaseGrace time.Duration
	// ScanInterval is how often orphaned analyses are looked for.
	ScanInterval time.Duration
	Logger       *slog.Logger
	Clock        Clock
	Metrics      *Metrics
	// SLI records the release SLIs (package rollout/sli).
	SLI       *sli.Metrics
	Store     *record.Store
	Publisher *bus.Publisher
	// Audit is the audit trail every decision is appended to (see
	// audit.go); nil keeps none.
	Audit *bus.AuditLog
	// Config and Source return the current config and metrics source: a
	// reload replaces them.
	Config func() *configs.Config
	Source func() metrics.Provider
	// Companions writes each query's freshness companion (the daemon's
	// is metrics/companion.Of); nil learns nothing of freshness.
	Companions metrics.Companions
	Hooks      Hooks
}

// Hooks let tests observe and interrupt a runner at exact points; a hook
// returning false abandons the analysis there, as a crash would.
type Hooks struct {
	// Judged runs after a judgement is persisted, before its verdict is
	// published.
	Judged func(ctx context.Context, owner, id string, seq int) bool
	// Published runs after verdicts are published, before they are
	// recorded as published.
	Published func(ctx context.Context, owner, id string, seq int) bool
}

// Runner runs the analyses this replica owns.
type Runner struct {
	opts    Options
	logger  *slog.Logger
	clock   Clock
	metrics *Metrics
	sli     *sli.Metrics
	store   *record.Store
	pub     *bus.Publisher
	runCtx  context.Context

	judges judgePool
	hashes templateHashes

	runMu   sync.Mutex
	running map[string]context.CancelFunc
	settled map[string]bool // analyses the scan need not read again
	// published holds, for analyses whose runner stopped, the verdicts it
	// knew to be published: ReleaseLeases records them, so that a restart
	// need not publish them again.
	published map[string]int
	creating  map[string]int // analyses being created, not yet running
	stopped   bool
	runWG     sync.WaitGroup
}

// New returns a runner whose analyses run until ctx ends (StopRunners
// takes the function that ends it).
func New(ctx context.Context, o Options) *Runner {
	return &Runner{
		opts: o, logger: o.Logger, clock: o.Clock, metrics: o.Metrics, sli: o.SLI, store: o.Store, pub: o.Publisher, runCtx: ctx,
		running: map[string]context.CancelFunc{}, settled: map[string]bool{}, published: map[string]int{}, creating: map[string]int{},
	}
}

// retryDelay is how long an analysis waits after a failed NATS or
// key-value operation before it tries again.
const retryDelay = 5 * time.Second

// ErrInvalid marks an event that cannot start an analysis.
var ErrInvalid = errors.New("invalid event")

// Create stores a new analysis for e, owned by this instance, and starts
// it. An id already stored returns the stored record and record.ErrDuplicate.
func (rn *Runner) Create(ctx context.Context, e message.Event) (*record.Record, error) {
	cfg := rn.opts.Config()
	if err := e.Validate(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	tmpl := cfg.Template(e.Template)
	now := rn.clock.Now()
	interval := time.Duration(tmpl.Interval)
	// Windows start on a whole query step, so that analyses of one
	// template started within a step query the same windows, and the
	// batching provider can answer them with one query.
	start := now
	if step := tmpl.QueryStep(); !start.Truncate(step).Equal(start) {
		start = start.Truncate(step).Add(step)
	}
	r := &record.Record{
		ID:        e.ID,
		Event:     e,
		CreatedAt: now.UTC(),
		UpdatedAt: now.UTC(),
		Start:     start,
		Interval:  interval,
		Lag:       time.Duration(tmpl.Lag),
		Rollout:   rollout.New(rollout.PlanOf(tmpl)),
		Judge:     analysis.NewJudge(tmpl).NewState(),
		History:   []record.Verdict{},
		MaxLag:    time.Duration(tmpl.MaxLag),
		Lease:     record.Lease{Owner: rn.opts.InstanceID, Expires: start.Add(interval + time.Duration(tmpl.Lag+tmpl.MaxLag) + rn.opts.LeaseGrace)},
	}
	// Until its runner starts, the orphan scan must not take the new
	// analysis for one of ours left behind.
	rn.runMu.Lock()
	rn.creating[e.ID]++
	rn.runMu.Unlock()
	defer func() {
		rn.runMu.Lock()
		if rn.creating[e.ID]--; rn.creating[e.ID] == 0 {
			delete(rn.creating, e.ID)
		}
		rn.runMu.Unlock()
	}()
	if _, err := rn.store.Create(ctx, r); err != nil {
		if errors.Is(err, record.ErrDuplicate) {
			rn.metrics.Events.WithLabelValues("duplicate").Inc()
			old, _, gerr := rn.store.Get(ctx, e.ID)
			if gerr != nil {
				return nil, errors.Join(err, gerr)
			}
			return old, record.ErrDuplicate
		}
		rn.metrics.NatsErrors.Inc()
		return nil, err
	}
	rn.metrics.Events.WithLabelValues("started").Inc()
	rn.sli.Started(sliRollout(r))
	rn.logger.Info("analysis started", "analysis_id", r.ID, "service", e.Service, "namespace", e.Namespace,
		"template", e.Template, "baseline", e.Baseline.Version, "canary", e.Canary.Version)
	rn.startRunner(r.ID)
	return r, nil
}

// wait blocks until the clock reaches t; false when ctx ended first.
func (rn *Runner) wait(ctx context.Context, t time.Time) bool {
	c, stop := rn.clock.TimerAt(t)
	defer stop()
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	}
}

// run judges analysis id for as long as this instance owns it. The lease
// makes this runner the record's only writer, so it keeps the record and
// its revision between judgements and reads the store again only after a
// write fails (an abort, a takeover, an error).
func (rn *Runner) run(ctx context.Context, id string) {
	log := rn.logger.With("analysis_id", id)
	var (
		r      *record.Record
		rev    uint64
		noData noDataWatch
		// hash is the hash of the template last judged with ("" before
		// the first judgement here, which reads it from the trail).
		hash    string
		hashSet bool
	)
	defer rn.sli.Untrack(id)
	defer func() {
		rn.runMu.Lock()
		if rn.stopped && r != nil {
			rn.published[id] = r.Published
		}
		rn.runMu.Unlock()
	}()
	for ctx.Err() == nil {
		if r == nil {
			var err error
			r, rev, err = rn.store.Get(ctx, id)
			if err != nil {
				r = nil
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, record.ErrNotFound) {
					log.Warn("analysis deleted from the store; stopping")
					return
				}
				if errors.Is(err, record.ErrUnreadable) {
					return // reported by the store; reading again cannot help
				}
				rn.metrics.NatsErrors.Inc()
				log.Error("read analysis", "err", err)
				rn.wait(ctx, rn.clock.Now().Add(retryDelay))
				continue
			}
		}
		if r.Lease.Owner != rn.opts.InstanceID {
			log.Info("analysis owned by another instance; stopping", "owner", r.Lease.Owner)
			return
		}
		rn.sli.Track(sliRollout(r), sliPosition(r))
		if r.Published < r.Seq {
			var ok bool
			if rev, ok = rn.publishPending(ctx, log, r, rev); !ok {
				return
			}
			if rev == 0 {
				r = nil // re-read
			}
			continue
		}
		if r.Done() {
			return
		}
		due := r.NextDue()
		if !rn.wait(ctx, due) {
			return
		}
		cfg := rn.opts.Config()
		tmpl := cfg.Template(r.Event.Template)
		if tmpl == nil {
			log.Error("template no longer in the config; retrying", "template", r.Event.Template)
			rn.wait(ctx, rn.clock.Now().Add(r.Interval))
			continue
		}
		if cur := rn.hashes.of(cfg, tmpl); !hashSet || cur != hash {
			if !hashSet {
				hash, hashSet = rn.lastTemplateHash(ctx, r), true
			}
			if hash != "" && hash != cur {
				rn.auditTemplate(ctx, log, r, hash, cur)
			}
			hash = cur
		}
		// A judgement must end well within the lease, or another replica
		// takes the analysis over while this one still fetches: queries
		// still running at half the grace fail, and the metric holds.
		in, began, err := rn.fetch(ctx, log, r, tmpl, due)
		if err != nil {
			log.Error("fetch", "err", err)
			rn.wait(ctx, rn.clock.Now().Add(retryDelay))
			continue
		}
		if ctx.Err() != nil {
			return
		}
		for i := range in {
			if in[i].Err != nil {
				rn.metrics.QueryErrors.Inc()
				log.Warn("query failed", "metric", tmpl.Metrics[i].Name, "err", in[i].Err)
			}
		}
		noData.observe(rn.metrics, log, tmpl, in, rn.clock.Now())
		// The judgement is made on r in place; if it cannot be written,
		// r is dropped and read again.
		pj := rn.judges.get(cfg, tmpl)
		judge, out, st := pj.Judge, &pj.out, &pj.state
		err = r.LoadState(st)
		if err == nil {
			err = judge.Judge(st, in, out)
		}
		if err != nil {
			if errors.Is(err, analysis.ErrStateMismatch) {
				// The template's metrics changed under a reload: judge
				// the rest of the analysis afresh rather than stop.
				log.Warn("template metrics changed; restarting the judge's state", "err", err)
				*st = *judge.NewState()
				err = judge.Judge(st, in, out)
			}
			if err != nil {
				rn.judges.put(pj)
				log.Error("judge", "err", err)
				r = nil
				rn.wait(ctx, rn.clock.Now().Add(retryDelay))
				continue
			}
		}
		judge.Explain(out)
		// A judgement that would promote under an SLO measures the
		// service's error budget for the rollout's gate.
		budgetCtx, cancel := context.WithTimeout(ctx, rn.opts.LeaseGrace/2)
		analysis.GateBudget(budgetCtx, rn.opts.Source(), tmpl, r.Event.Target(), &r.Rollout, out, r.Judgements(),
			r.WindowEnd().Add(-r.Interval), r.WindowEnd(), nil)
		cancel()
		if ctx.Err() != nil {
			rn.judges.put(pj)
			return // stopping: a budget the stop cut short is no measurement
		}
		now := rn.clock.Now()
		v := record.NewVerdict(r, out.Apply(&r.Rollout), out, now)
		r.SaveState(st)
		rn.judges.put(pj)
		r.AddVerdict(v)
		r.UpdatedAt = now.UTC()
		r.Lease.Expires = maxTime(now, r.LatestDue()).Add(rn.opts.LeaseGrace)
		if rev, err = rn.store.Update(ctx, r, rev); err != nil {
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				rn.metrics.NatsErrors.Inc()
				log.Error("persist judgement", "err", err)
			}
			r = nil // re-read: another writer (abort, takeover) may have won
			continue
		}
		rn.metrics.JudgementDuration.Observe(time.Since(began).Seconds())
		if rn.opts.Hooks.Judged != nil && !rn.opts.Hooks.Judged(ctx, rn.opts.InstanceID, id, r.Seq) {
			return
		}
		log.Info("verdict", "seq", v.Seq, "verdict", v.Verdict, "step", v.Step, "weight", v.Weight,
			"next_weight", v.NextWeight, "score", float64(v.Score), "final", v.Final, "reason", v.Reason)
		rn.metrics.Verdicts.WithLabelValues(string(v.Verdict)).Inc()
		var ok bool
		if rev, ok = rn.publishLatest(ctx, log, r, rev, due); !ok {
			return
		}
		if rev == 0 {
			r = nil // re-read
		}
	}
}

// fetch fetches the window of r's next judgement, due at due. With a
// max_lag, a window whose last scrapes have not arrived (analysis.Late) is
// fetched again, every query step (at least a second), until they have or
// until due + MaxLag; then it is judged as it is, its repeats dropped as
// stale. The wait is observed in canaryd_judgement_data_wait_seconds, a
// window still late counted in canaryd_judgement_data_late_total. began is
// when the fetch that returned started: the judgement's own time counts
// from there.
func (rn *Runner) fetch(ctx context.Context, log *slog.Logger, r *record.Record, tmpl *spec.Template, due time.Time) (in []analysis.Input, began time.Time, err error) {
	deadline := due.Add(r.MaxLag)
	retry := max(tmpl.QueryStep(), time.Second)
	var names []string
	for {
		began = time.Now()
		fetchCtx, cancel := context.WithTimeout(ctx, rn.opts.LeaseGrace/2)
		in, err = analysis.Fetch(fetchCtx, rn.opts.Source(), rn.opts.Companions, tmpl, r.Event.Target(), r.Judgements(), r.WindowEnd().Add(-r.Interval), r.WindowEnd(), nil)
		cancel()
		rn.metrics.FetchDuration.Observe(time.Since(began).Seconds())
		if err != nil || r.MaxLag <= 0 || ctx.Err() != nil {
			return in, began, err
		}
		if names == nil {
			names = make([]string, len(tmpl.Metrics))
			for i := range tmpl.Metrics {
				names[i] = tmpl.Metrics[i].Name
			}
		}
		now := rn.clock.Now()
		late := analysis.Late(in, names)
		if late == "" {
			rn.metrics.DataWait.Observe(max(now.Sub(due), 0).Seconds())
			return in, began, nil
		}
		if !now.Before(deadline) {
			rn.metrics.DataWait.Observe(max(now.Sub(due), 0).Seconds())
			rn.metrics.DataLate.Inc()
			log.Warn("judging a window whose last scrapes did not arrive within max_lag", "max_lag", r.MaxLag, "late", late)
			return in, began, nil
		}
		log.Debug("waiting for the window's last scrapes", "late", late)
		if !rn.wait(ctx, minTime(now.Add(retry), deadline)) {
			return in, began, nil
		}
	}
}

// publishLatest publishes the verdict just persisted and records it as
// published in r only: the next judgement's write persists that, so a
// judgement costs one key-value write. A final verdict is recorded at
// once, which settles the analysis. If publishing fails, r keeps
// Published < Seq and the run loop retries through publishPending.
// due is when the judged interval ended. It returns the record's revision
// (0: read it again) and false when a test hook abandoned the analysis.
func (rn *Runner) publishLatest(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64, due time.Time) (uint64, bool) {
	v := &r.History[len(r.History)-1]
	if v.Seq != r.Seq || r.Published != r.Seq-1 {
		return rev, true // more than one pending: publishPending's loop
	}
	if !rn.publish(ctx, log, r, v) {
		return rev, true
	}
	rn.metrics.VerdictDelay.Observe(rn.clock.Now().Sub(due).Seconds())
	rn.sli.Published(sliRollout(r), sliVerdict(v), rn.clock.Now())
	if rn.opts.Hooks.Published != nil && !rn.opts.Hooks.Published(ctx, rn.opts.InstanceID, r.ID, r.Seq) {
		return 0, false
	}
	r.Published = r.Seq
	if r.Done() {
		return rn.recordPublished(ctx, log, r, rev), true
	}
	if err := r.Retire(); err != nil {
		log.Error("retire published verdicts", "err", err)
		return 0, true
	}
	return rev, true
}

// publishPending publishes the verdicts r holds beyond Published, then
// records them as published, and returns the record's new revision: 0
// when the caller must read the record again, and false when a test hook
// abandoned the analysis. Pending verdicts are always within the history,
// which holds far more verdicts than can be pending.
func (rn *Runner) publishPending(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64) (uint64, bool) {
	for i := range r.History {
		v := &r.History[i]
		if v.Seq <= r.Published {
			continue
		}
		// A verdict already on the stream (the runner that published it
		// stopped before recording it) is not published again: the
		// stream's duplicate window may have passed.
		if ok, err := rn.pub.OnStream(ctx, &v.Message); err == nil && ok {
			continue
		}
		if !rn.publish(ctx, log, r, v) {
			return 0, true
		}
		rn.sli.Published(sliRollout(r), sliVerdict(v), rn.clock.Now())
	}
	if rn.opts.Hooks.Published != nil && !rn.opts.Hooks.Published(ctx, rn.opts.InstanceID, r.ID, r.Seq) {
		return 0, false
	}
	r.Published = r.Seq
	return rn.recordPublished(ctx, log, r, rev), true
}

// publish appends v's audit record, with its evidence, then publishes v's
// summary (a verdict never leaves without its record, where the summary's
// analysis id and seq find its evidence); on failure it counts and logs
// the error, waits retryDelay and returns false.
func (rn *Runner) publish(ctx context.Context, log *slog.Logger, r *record.Record, v *record.Verdict) bool {
	b, err := v.Encode()
	if err == nil {
		if aerr := rn.appendAudit(ctx, log, rn.verdictAudit(r, v), b); aerr != nil {
			if ctx.Err() == nil {
				rn.wait(ctx, rn.clock.Now().Add(retryDelay))
			}
			return false
		}
		err = rn.pub.Verdict(ctx, &v.Message)
	}
	if err != nil && ctx.Err() == nil {
		rn.metrics.NatsErrors.Inc()
		log.Error("publish verdict", "seq", v.Seq, "err", err)
		rn.wait(ctx, rn.clock.Now().Add(retryDelay))
	}
	return err == nil
}

// recordPublished writes r once its verdicts are published and returns
// the new revision, or 0 when the write failed and the record must be
// read again (a conflict: another writer won; an error: it is counted,
// logged and waited on).
func (rn *Runner) recordPublished(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64) uint64 {
	if r.Done() {
		r.UpdatedAt = rn.clock.Now().UTC() // when the final verdict was known published: rolloutOf
	}
	nrev, err := rn.store.Update(ctx, r, rev)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			rn.metrics.NatsErrors.Inc()
			log.Error("record published verdicts", "err", err)
			rn.wait(ctx, rn.clock.Now().Add(retryDelay))
		}
		return 0
	}
	return nrev
}

// Abort ends analysis id with weight 0 and publishes the final verdict.
func (rn *Runner) Abort(ctx context.Context, id, reason string) (*record.Record, error) {
	for {
		r, rev, err := rn.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Done() {
			return r, nil
		}
		now := rn.clock.Now()
		v := record.NewVerdict(r, r.Abort(), nil, now)
		v.Reason = "aborted"
		if reason != "" {
			v.Reason = "aborted: " + reason
		}
		r.AddVerdict(v)
		r.UpdatedAt = now.UTC()
		rev, err = rn.store.Update(ctx, r, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			rn.metrics.NatsErrors.Inc()
			return nil, err
		}
		rn.logger.Info("analysis aborted", "analysis_id", id, "reason", reason)
		// A runner here would only learn of the abort at its next write.
		rn.runMu.Lock()
		if stop := rn.running[id]; stop != nil {
			stop()
		}
		rn.runMu.Unlock()
		rn.metrics.Verdicts.WithLabelValues(string(v.Verdict)).Inc()
		// The owner, if any, stops at its next write; the verdict is
		// published here, and by any resuming replica if this fails.
		rn.publishPending(ctx, rn.logger.With("analysis_id", id), r, rev)
		return r, nil
	}
}

// judgePool lends judges, one per judgement in progress: a judge's
// scratch buffers are needed only while it judges, so thousands of
// analyses share a few. Pools are per template and start afresh when the
// config is reloaded; all judges share one table of exact Mann-Whitney
// distributions, which outlives pooled judges and reloads.
type judgePool struct {
	mu    sync.Mutex
	cfg   *configs.Config
	pools map[*spec.Template]*sync.Pool
	exact *stats.ExactTable
}

// exactTableBytes bounds the judges' shared table of exact distributions:
// the mann-whitney test's block counts stay under 50 for the exact method,
// about 10 KB per pair of sizes.
const exactTableBytes = 8 << 20

// pooledJudge is a judge with its output buffers and a state to decode
// an analysis' state into.
type pooledJudge struct {
	*analysis.Judge
	out   analysis.Judgement
	state analysis.State
	pool  *sync.Pool
}

// get lends a judge for template t of config cfg.
func (p *judgePool) get(cfg *configs.Config, t *spec.Template) *pooledJudge {
	sp := p.pool(cfg, t)
	j := sp.Get().(*pooledJudge)
	j.pool = sp
	return j
}

// put returns a judge; it must not be used after.
func (p *judgePool) put(j *pooledJudge) { j.pool.Put(j) }

func (p *judgePool) pool(cfg *configs.Config, t *spec.Template) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg != cfg || p.pools == nil {
		p.cfg, p.pools = cfg, map[*spec.Template]*sync.Pool{}
	}
	if p.exact == nil {
		p.exact = stats.NewExactTable(exactTableBytes)
	}
	sp := p.pools[t]
	if sp == nil {
		exact := p.exact
		sp = &sync.Pool{New: func() any {
			j := analysis.NewJudge(t)
			j.SetExactTable(exact)
			return &pooledJudge{Judge: j}
		}}
		p.pools[t] = sp
	}
	return sp
}
