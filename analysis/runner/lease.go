package runner

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
)

// startRunner runs analysis id in its own goroutine unless it already
// runs here or the daemon is stopping.
func (rn *Runner) startRunner(id string) {
	rn.runMu.Lock()
	defer rn.runMu.Unlock()
	if rn.stopped || rn.running[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(rn.runCtx)
	rn.running[id] = cancel
	rn.metrics.Active.Inc()
	rn.runWG.Go(func() {
		defer func() {
			cancel()
			rn.runMu.Lock()
			delete(rn.running, id)
			rn.runMu.Unlock()
			rn.metrics.Active.Dec()
		}()
		rn.run(ctx, id)
	})
}

// StopRunners stops every analysis and returns the ids that were running.
func (rn *Runner) StopRunners(cancel context.CancelFunc) []string {
	rn.runMu.Lock()
	rn.stopped = true
	ids := make([]string, 0, len(rn.running))
	for id := range rn.running {
		ids = append(ids, id)
	}
	rn.runMu.Unlock()
	cancel()
	rn.runWG.Wait()
	return ids
}

// ReleaseLeases hands the analyses back so that another replica resumes
// them at its next scan, recording the verdicts their runners published
// since their last write. A write of a stopped runner may still land
// between our read and our write: a conflict is read again.
func (rn *Runner) ReleaseLeases(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		rn.runMu.Lock()
		published, known := rn.published[id]
		rn.runMu.Unlock()
		for try := 0; ; try++ {
			r, rev, err := rn.store.Get(ctx, id)
			if errors.Is(err, record.ErrUnreadable) {
				break // not ours to hand back: reported by the store
			}
			if err != nil {
				errs = append(errs, err)
				break
			}
			if r.Lease.Owner != rn.opts.InstanceID || r.Settled() {
				break
			}
			r.Lease = record.Lease{}
			if known && published > r.Published && published <= r.Seq {
				r.Published = published
			}
			_, err = rn.store.Update(ctx, r, rev)
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

func maxTime(x, y time.Time) time.Time {
	if x.After(y) {
		return x
	}
	return y
}

func minTime(x, y time.Time) time.Time {
	if x.Before(y) {
		return x
	}
	return y
}

// ScanLoop takes over, at start and every ScanInterval, the analyses whose
// owner stopped or died.
func (rn *Runner) ScanLoop(ctx context.Context) {
	for {
		// The next scan is due an interval after this one began, however
		// long this one takes.
		next := rn.clock.Now().Add(rn.opts.ScanInterval)
		rn.scan(ctx)
		if !rn.wait(ctx, next) {
			return
		}
	}
}

func (rn *Runner) scan(ctx context.Context) {
	ids, err := rn.store.IDs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			rn.metrics.NatsErrors.Inc()
			rn.logger.Error("scan analyses", "err", err)
		}
		return
	}
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	// The index, to repair what a failed index write or an earlier
	// version left out, for every record this scan reads.
	entries, _, err := rn.store.Find(ctx, "", "", "", "", 0)
	if err != nil {
		if ctx.Err() == nil {
			rn.metrics.NatsErrors.Inc()
			rn.logger.Error("scan the index", "err", err)
		}
		return
	}
	indexed := make(map[string][]string, len(entries))
	for _, e := range entries {
		indexed[e.ID()] = append(indexed[e.ID()], e.State)
	}
	rn.runMu.Lock()
	for id := range rn.settled {
		if !listed[id] { // expired from the bucket
			delete(rn.settled, id)
		}
	}
	rn.runMu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		rn.runMu.Lock()
		skip := rn.running[id] != nil || rn.settled[id] || rn.creating[id] > 0
		rn.runMu.Unlock()
		if skip {
			continue
		}
		r, rev, err := rn.store.Get(ctx, id)
		if errors.Is(err, record.ErrUnreadable) {
			// Reported once by the store; like a settled analysis, not
			// read again while it stays in the bucket.
			rn.runMu.Lock()
			rn.settled[id] = true
			rn.runMu.Unlock()
			continue
		}
		if err != nil {
			continue
		}
		if st := indexed[id]; len(st) != 1 || st[0] != r.State() {
			if err := rn.store.Index(ctx, r); err != nil && ctx.Err() == nil {
				rn.metrics.NatsErrors.Inc()
				rn.logger.Error("index analysis", "analysis_id", id, "err", err)
			}
		}
		if r.Settled() {
			// Settled is for good: never read this one again.
			rn.runMu.Lock()
			rn.settled[id] = true
			rn.runMu.Unlock()
			continue
		}
		now := rn.clock.Now()
		if r.Lease.Owner != rn.opts.InstanceID && now.Before(r.Lease.Expires) {
			continue
		}
		prev, expired := r.Lease.Owner, r.Lease.Expires
		r.Lease = record.Lease{Owner: rn.opts.InstanceID, Expires: maxTime(now, r.LatestDue()).Add(rn.opts.LeaseGrace)}
		nrev, err := rn.store.Update(ctx, r, rev)
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				rn.metrics.NatsErrors.Inc()
				rn.logger.Error("take over analysis", "analysis_id", id, "err", err)
			}
			continue
		}
		rn.logger.Info("resuming analysis", "analysis_id", id, "previous_owner", prev, "seq", r.Seq, "published", r.Published)
		rn.auditTakeover(ctx, r, prev, expired, nrev)
		rn.startRunner(id)
	}
}
