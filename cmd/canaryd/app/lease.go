package app

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
)

// startRunner runs analysis id in its own goroutine unless it already
// runs here or the daemon is stopping.
func (a *App) startRunner(id string) {
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if a.stopped || a.running[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	a.running[id] = cancel
	a.metrics.active.Inc()
	a.runWG.Go(func() {
		defer func() {
			cancel()
			a.runMu.Lock()
			delete(a.running, id)
			a.runMu.Unlock()
			a.metrics.active.Dec()
		}()
		a.run(ctx, id)
	})
}

// stopRunners stops every analysis and returns the ids that were running.
func (a *App) stopRunners(cancel context.CancelFunc) []string {
	a.runMu.Lock()
	a.stopped = true
	ids := make([]string, 0, len(a.running))
	for id := range a.running {
		ids = append(ids, id)
	}
	a.runMu.Unlock()
	cancel()
	a.runWG.Wait()
	return ids
}

// releaseLeases hands the analyses back so that another replica resumes
// them at its next scan, recording the verdicts their runners published
// since their last write. A write of a stopped runner may still land
// between our read and our write: a conflict is read again.
func (a *App) releaseLeases(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		a.runMu.Lock()
		published, known := a.published[id]
		a.runMu.Unlock()
		for try := 0; ; try++ {
			r, rev, err := a.store.Get(ctx, id)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if r.Lease.Owner != a.opts.InstanceID || r.Settled() {
				break
			}
			r.Lease = record.Lease{}
			if known && published > r.Published && published <= r.Seq {
				r.Published = published
			}
			_, err = a.store.Update(ctx, r, rev)
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && try < 5 {
				continue
			}
			if err != nil {
				errs = append(errs, err)
			}
			break
		}
	}
	return errors.Join(errs...)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// scanLoop takes over, at start and every ScanInterval, the analyses whose
// owner stopped or died.
func (a *App) scanLoop(ctx context.Context) {
	for {
		// The next scan is due an interval after this one began, however
		// long this one takes.
		next := a.clock.Now().Add(a.opts.ScanInterval)
		a.scan(ctx)
		if !a.wait(ctx, next) {
			return
		}
	}
}

func (a *App) scan(ctx context.Context) {
	ids, err := a.store.IDs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.metrics.natsErrors.Inc()
			a.logger.Error("scan analyses", "err", err)
		}
		return
	}
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	a.runMu.Lock()
	for id := range a.settled {
		if !listed[id] { // expired from the bucket
			delete(a.settled, id)
		}
	}
	a.runMu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		a.runMu.Lock()
		skip := a.running[id] != nil || a.settled[id] || a.creating[id] > 0
		a.runMu.Unlock()
		if skip {
			continue
		}
		r, rev, err := a.store.Get(ctx, id)
		if err != nil {
			continue
		}
		if r.Settled() {
			// Settled is for good: never read this one again.
			a.runMu.Lock()
			a.settled[id] = true
			a.runMu.Unlock()
			continue
		}
		now := a.clock.Now()
		if r.Lease.Owner != a.opts.InstanceID && now.Before(r.Lease.Expires) {
			continue
		}
		prev := r.Lease.Owner
		r.Lease = record.Lease{Owner: a.opts.InstanceID, Expires: maxTime(now, r.NextDue()).Add(a.opts.LeaseGrace)}
		if _, err := a.store.Update(ctx, r, rev); err != nil {
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				a.metrics.natsErrors.Inc()
				a.logger.Error("take over analysis", "analysis_id", id, "err", err)
			}
			continue
		}
		a.logger.Info("resuming analysis", "analysis_id", id, "previous_owner", prev, "seq", r.Seq, "published", r.Published)
		a.startRunner(id)
	}
}
