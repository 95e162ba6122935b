package app

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
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
	"github.com/canaryd/canaryd/stats"
)

// retryDelay is how long an analysis waits after a failed NATS or
// key-value operation before it tries again.
const retryDelay = 5 * time.Second

// errInvalid marks an event that cannot start an analysis.
var errInvalid = errors.New("invalid event")

// create stores a new analysis for e, owned by this instance, and starts
// it. An id already stored returns the stored record and record.ErrDuplicate.
func (a *App) create(ctx context.Context, e message.Event) (*record.Record, error) {
	cfg := a.config()
	if err := e.Validate(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	tmpl := cfg.Template(e.Template)
	now := a.clock.Now()
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
		Rollout:   rollout.New(rollout.PlanOf(tmpl)),
		Judge:     analysis.NewJudge(tmpl).NewState(),
		History:   []record.Verdict{},
		Lease:     record.Lease{Owner: a.opts.InstanceID, Expires: start.Add(interval + a.opts.LeaseGrace)},
	}
	// Until its runner starts, the orphan scan must not take the new
	// analysis for one of ours left behind.
	a.runMu.Lock()
	a.creating[e.ID]++
	a.runMu.Unlock()
	defer func() {
		a.runMu.Lock()
		if a.creating[e.ID]--; a.creating[e.ID] == 0 {
			delete(a.creating, e.ID)
		}
		a.runMu.Unlock()
	}()
	if _, err := a.store.Create(ctx, r); err != nil {
		if errors.Is(err, record.ErrDuplicate) {
			a.metrics.events.WithLabelValues("duplicate").Inc()
			old, _, gerr := a.store.Get(ctx, e.ID)
			if gerr != nil {
				return nil, errors.Join(err, gerr)
			}
			return old, record.ErrDuplicate
		}
		a.metrics.natsErrors.Inc()
		return nil, err
	}
	a.metrics.events.WithLabelValues("started").Inc()
	a.sli.Started(sliRollout(r))
	a.logger.Info("analysis started", "analysis_id", r.ID, "service", e.Service, "namespace", e.Namespace,
		"template", e.Template, "baseline", e.Baseline.Version, "canary", e.Canary.Version)
	a.startRunner(r.ID)
	return r, nil
}

// wait blocks until the clock reaches t; false when ctx ended first.
func (a *App) wait(ctx context.Context, t time.Time) bool {
	c, stop := a.clock.TimerAt(t)
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
func (a *App) run(ctx context.Context, id string) {
	log := a.logger.With("analysis_id", id)
	var (
		r      *record.Record
		rev    uint64
		noData noDataWatch
	)
	defer a.sli.Untrack(id)
	defer func() {
		a.runMu.Lock()
		if a.stopped && r != nil {
			a.published[id] = r.Published
		}
		a.runMu.Unlock()
	}()
	for ctx.Err() == nil {
		if r == nil {
			var err error
			r, rev, err = a.store.Get(ctx, id)
			if err != nil {
				r = nil
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, record.ErrNotFound) {
					log.Warn("analysis deleted from the store; stopping")
					return
				}
				a.metrics.natsErrors.Inc()
				log.Error("read analysis", "err", err)
				a.wait(ctx, a.clock.Now().Add(retryDelay))
				continue
			}
		}
		if r.Lease.Owner != a.opts.InstanceID {
			log.Info("analysis owned by another instance; stopping", "owner", r.Lease.Owner)
			return
		}
		a.sli.Track(sliRollout(r), sliPosition(r))
		if r.Published < r.Seq {
			var ok bool
			if rev, ok = a.publishPending(ctx, log, r, rev); !ok {
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
		if !a.wait(ctx, due) {
			return
		}
		cfg := a.config()
		tmpl := cfg.Template(r.Event.Template)
		if tmpl == nil {
			log.Error("template no longer in the config; retrying", "template", r.Event.Template)
			a.wait(ctx, a.clock.Now().Add(r.Interval))
			continue
		}
		// A judgement must end well within the lease, or another replica
		// takes the analysis over while this one still fetches: queries
		// still running at half the grace fail, and the metric holds.
		began := time.Now()
		fetchCtx, cancel := context.WithTimeout(ctx, a.opts.LeaseGrace/2)
		in, err := analysis.Fetch(fetchCtx, a.source(), tmpl, r.Event.Target(), r.Judgements(), due.Add(-r.Interval), due, nil)
		cancel()
		a.metrics.fetchDuration.Observe(time.Since(began).Seconds())
		if err != nil {
			log.Error("fetch", "err", err)
			a.wait(ctx, a.clock.Now().Add(retryDelay))
			continue
		}
		if ctx.Err() != nil {
			return
		}
		for i := range in {
			if in[i].Err != nil {
				a.metrics.queryErrors.Inc()
				log.Warn("query failed", "metric", tmpl.Metrics[i].Name, "err", in[i].Err)
			}
		}
		noData.observe(a.metrics, log, tmpl, in, a.clock.Now())
		// The judgement is made on r in place; if it cannot be written,
		// r is dropped and read again.
		pj := a.judges.get(cfg, tmpl)
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
				a.judges.put(pj)
				log.Error("judge", "err", err)
				r = nil
				a.wait(ctx, a.clock.Now().Add(retryDelay))
				continue
			}
		}
		judge.Explain(out)
		now := a.clock.Now()
		v := record.NewVerdict(r, out.Apply(&r.Rollout), out, now)
		r.SaveState(st)
		a.judges.put(pj)
		r.AddVerdict(v)
		r.UpdatedAt = now.UTC()
		r.Lease.Expires = maxTime(now, r.NextDue()).Add(a.opts.LeaseGrace)
		if rev, err = a.store.Update(ctx, r, rev); err != nil {
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				a.metrics.natsErrors.Inc()
				log.Error("persist judgement", "err", err)
			}
			r = nil // re-read: another writer (abort, takeover) may have won
			continue
		}
		a.metrics.judgementDuration.Observe(time.Since(began).Seconds())
		if a.hooks.judged != nil && !a.hooks.judged(ctx, a.opts.InstanceID, id, r.Seq) {
			return
		}
		log.Info("verdict", "seq", v.Seq, "verdict", v.Verdict, "step", v.Step, "weight", v.Weight,
			"next_weight", v.NextWeight, "score", float64(v.Score), "final", v.Final, "reason", v.Reason)
		a.metrics.verdicts.WithLabelValues(string(v.Verdict)).Inc()
		var ok bool
		if rev, ok = a.publishLatest(ctx, log, r, rev, due); !ok {
			return
		}
		if rev == 0 {
			r = nil // re-read
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
func (a *App) publishLatest(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64, due time.Time) (uint64, bool) {
	v := &r.History[len(r.History)-1]
	if v.Seq != r.Seq || r.Published != r.Seq-1 {
		return rev, true // more than one pending: publishPending's loop
	}
	if !a.publish(ctx, log, v) {
		return rev, true
	}
	a.metrics.verdictDelay.Observe(a.clock.Now().Sub(due).Seconds())
	a.sli.Published(sliRollout(r), sliVerdict(v), a.clock.Now())
	if a.hooks.published != nil && !a.hooks.published(ctx, a.opts.InstanceID, r.ID, r.Seq) {
		return 0, false
	}
	r.Published = r.Seq
	if r.Done() {
		return a.recordPublished(ctx, log, r, rev), true
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
func (a *App) publishPending(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64) (uint64, bool) {
	for i := range r.History {
		v := &r.History[i]
		if v.Seq <= r.Published {
			continue
		}
		// A verdict already on the stream (the runner that published it
		// stopped before recording it) is not published again: the
		// stream's duplicate window may have passed.
		if ok, err := a.pub.OnStream(ctx, &v.Message); err == nil && ok {
			continue
		}
		if !a.publish(ctx, log, v) {
			return 0, true
		}
		a.sli.Published(sliRollout(r), sliVerdict(v), a.clock.Now())
	}
	if a.hooks.published != nil && !a.hooks.published(ctx, a.opts.InstanceID, r.ID, r.Seq) {
		return 0, false
	}
	r.Published = r.Seq
	return a.recordPublished(ctx, log, r, rev), true
}

// publish publishes v; on failure it counts and logs the error, waits
// retryDelay and returns false.
func (a *App) publish(ctx context.Context, log *slog.Logger, v *record.Verdict) bool {
	b, err := v.Encode()
	if err == nil {
		err = a.pub.Verdict(ctx, &v.Message, b)
	}
	if err != nil && ctx.Err() == nil {
		a.metrics.natsErrors.Inc()
		log.Error("publish verdict", "seq", v.Seq, "err", err)
		a.wait(ctx, a.clock.Now().Add(retryDelay))
	}
	return err == nil
}

// recordPublished writes r once its verdicts are published and returns
// the new revision, or 0 when the write failed and the record must be
// read again (a conflict: another writer won; an error: it is counted,
// logged and waited on).
func (a *App) recordPublished(ctx context.Context, log *slog.Logger, r *record.Record, rev uint64) uint64 {
	if r.Done() {
		r.UpdatedAt = a.clock.Now().UTC() // when the final verdict was known published: rolloutOf
	}
	nrev, err := a.store.Update(ctx, r, rev)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			a.metrics.natsErrors.Inc()
			log.Error("record published verdicts", "err", err)
			a.wait(ctx, a.clock.Now().Add(retryDelay))
		}
		return 0
	}
	return nrev
}

// abort ends analysis id with weight 0 and publishes the final verdict.
func (a *App) abort(ctx context.Context, id, reason string) (*record.Record, error) {
	for {
		r, rev, err := a.store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Done() {
			return r, nil
		}
		now := a.clock.Now()
		v := record.NewVerdict(r, r.Abort(), nil, now)
		v.Reason = "aborted"
		if reason != "" {
			v.Reason = "aborted: " + reason
		}
		r.AddVerdict(v)
		r.UpdatedAt = now.UTC()
		rev, err = a.store.Update(ctx, r, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			a.metrics.natsErrors.Inc()
			return nil, err
		}
		a.logger.Info("analysis aborted", "analysis_id", id, "reason", reason)
		// A runner here would only learn of the abort at its next write.
		a.runMu.Lock()
		if stop := a.running[id]; stop != nil {
			stop()
		}
		a.runMu.Unlock()
		a.metrics.verdicts.WithLabelValues(string(v.Verdict)).Inc()
		// The owner, if any, stops at its next write; the verdict is
		// published here, and by any resuming replica if this fails.
		a.publishPending(ctx, a.logger.With("analysis_id", id), r, rev)
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
	pools map[*configs.Template]*sync.Pool
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
func (p *judgePool) get(cfg *configs.Config, t *configs.Template) *pooledJudge {
	sp := p.pool(cfg, t)
	j := sp.Get().(*pooledJudge)
	j.pool = sp
	return j
}

// put returns a judge; it must not be used after.
func (p *judgePool) put(j *pooledJudge) { j.pool.Put(j) }

func (p *judgePool) pool(cfg *configs.Config, t *configs.Template) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg != cfg || p.pools == nil {
		p.cfg, p.pools = cfg, map[*configs.Template]*sync.Pool{}
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
