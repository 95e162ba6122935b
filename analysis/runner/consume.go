package runner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// pullAhead is how many deploy events a replica holds unacknowledged.
const pullAhead = 16

// deployWorkers is how many deploy events an instance handles at once.
// Events of one service (one subject) go to one worker, in order.
const deployWorkers = 16

// Consume handles deploy events from the shared durable consumer until
// the returned function stops it.
func (rn *Runner) Consume(cons jetstream.Consumer) (stop func(context.Context) error, err error) {
	// A few events are pulled ahead. With one at a time the iterator
	// stalls under load: when the event arrives before the client has
	// finished sending its pull request, no new request is sent until two
	// heartbeats (30s) are missed (found by TestReliabilityBurst). Events
	// pulled ahead by a replica that stops are redelivered after AckWait.
	it, err := cons.Messages(jetstream.PullMaxMessages(pullAhead))
	if err != nil {
		return nil, err
	}
	var workers sync.WaitGroup
	queues := make([]chan jetstream.Msg, deployWorkers)
	for i := range queues {
		q := make(chan jetstream.Msg, 2)
		queues[i] = q
		workers.Go(func() {
			for msg := range q {
				rn.handleDeploy(rn.runCtx, msg)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for _, q := range queues {
				close(q)
			}
			workers.Wait()
		}()
		for {
			msg, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				rn.metrics.NatsErrors.Inc()
				rn.logger.Warn("deploy events", "err", err)
				continue
			}
			h := fnv.New32a()
			_, _ = h.Write([]byte(msg.Subject()))
			queues[h.Sum32()%deployWorkers] <- msg
		}
	}()
	return func(ctx context.Context) error {
		it.Stop()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			// Events still being handled are not acknowledged: they are
			// delivered again, here or to another replica.
			return fmt.Errorf("deploy events still being handled: %w", ctx.Err())
		}
	}, nil
}

// handleDeploy starts the analysis of one deploy event. An invalid event
// is terminated (never redelivered) and rejected on canary.rejected; a
// repeated id is acknowledged and starts nothing; a failure to store is
// redelivered later, and rejected at the last delivery.
func (rn *Runner) handleDeploy(ctx context.Context, msg jetstream.Msg) {
	raw := msg.Data()
	e, err := message.DecodeEvent(raw)
	if err == nil {
		ns, svc := message.DeployNames(msg.Subject())
		if ns == "" || svc == "" || ns != e.Namespace || svc != e.Service {
			err = errors.New("the event's namespace and service must match its subject " + message.DeployPrefix + "<namespace>.<service>")
		}
	}
	if err == nil {
		_, err = rn.Create(ctx, e)
		switch {
		case err == nil:
			rn.ack(msg)
			return
		case errors.Is(err, record.ErrDuplicate):
			rn.logger.Info("duplicate deploy event ignored", "analysis_id", e.ID)
			rn.ack(msg)
			return
		case !errors.Is(err, ErrInvalid):
			if md, merr := msg.Metadata(); merr == nil && md.NumDelivered >= bus.MaxDeliver {
				// The server will not deliver it again: say so.
				err = fmt.Errorf("could not store the analysis after %d deliveries: %w", md.NumDelivered, err)
				break
			}
			rn.logger.Error("store analysis; will retry", "analysis_id", e.ID, "err", err)
			if nerr := msg.NakWithDelay(retryDelay); nerr != nil {
				rn.metrics.NatsErrors.Inc()
			}
			return
		}
	}
	rn.reject(ctx, msg, raw, &e, err)
}

func (rn *Runner) reject(ctx context.Context, msg jetstream.Msg, raw []byte, e *message.Event, reason error) {
	rn.metrics.Events.WithLabelValues("rejected").Inc()
	rej := message.NewRejection(msg.Subject(), raw, e, reason, rn.clock.Now())
	subj := (rej).PublishedOn()
	rn.logger.Warn("deploy event rejected", "subject", msg.Subject(), "event_id", e.ID, "reason", rej.Reason)
	id := "rejected-" + subj
	if md, err := msg.Metadata(); err == nil {
		id = "rejected-" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rn.pub.Publish(pctx, subj, id, rej); err != nil {
		rn.metrics.NatsErrors.Inc()
		rn.logger.Error("publish rejection", "err", err)
	}
	if err := msg.Term(); err != nil {
		rn.metrics.NatsErrors.Inc()
		rn.logger.Error("terminate rejected event", "err", err)
	}
}

func (rn *Runner) ack(msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		rn.metrics.NatsErrors.Inc()
		rn.logger.Error("ack deploy event", "err", err)
	}
}
