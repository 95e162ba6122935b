// Package follower is the verdict consumer a mesh adapter runs to set a
// canary's traffic from canaryd's verdicts, robustly:
//
//   - a durable JetStream consumer: an adapter that stops or crashes
//     resumes after the last verdict it acknowledged, and misses none;
//   - a verdict is acknowledged only once Apply succeeded, so one that
//     failed (or whose adapter died while applying it) comes again;
//   - each analysis' verdicts are applied once and never backwards: a
//     verdict whose message id (<analysis_id>-<seq>) is not newer than the
//     last applied for its analysis (a redelivery, a republication after
//     the stream's duplicate window, an older verdict redelivered after a
//     newer one was applied) is acknowledged and skipped;
//   - a message that is no verdict is terminated (never redelivered) and
//     reported, and the rest go on.
//
// A verdict is its summary (message.VerdictSummary: the decision, the
// reason, the metrics by classification), as canaryd publishes it; a full
// verdict published by an earlier canaryd reads as one. Applying it means
// setting the canary's weight to its NextWeight; Final says the analysis
// ended. Setting a weight is idempotent, so a
// verdict applied again after a crash (applied, not yet acknowledged) does
// no harm.
package follower

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/message"
)

// Options configure a Follower.
type Options struct {
	// Durable names the consumer (required): the adapter's name. A
	// Follower started again with it resumes where the last stopped.
	Durable string
	// Stream is canaryd's stream; default configs.DefaultStream.
	Stream string
	// Namespace and Service select the verdicts followed; "" for all.
	Namespace, Service string
	// RetryDelay is how long a verdict whose Apply failed waits before it
	// comes again; default 5s.
	RetryDelay time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before
	// it delivers a verdict again (an adapter that died while applying);
	// default 30s. Keep it above the longest Apply.
	AckWait time.Duration
	// Forget is how long the last verdict applied of an analysis is kept
	// after it (to skip redeliveries and republications); default 24h,
	// above any analysis' lifetime between two verdicts.
	Forget time.Duration
	// Logger reports skipped and malformed messages; default discards.
	Logger *slog.Logger
}

// Apply sets the canary's traffic for verdict v: its weight to
// v.NextWeight. An error leaves v unacknowledged: it comes again after
// Options.RetryDelay.
type Apply func(ctx context.Context, v *message.VerdictSummary) error

// Follower follows canaryd's verdicts for a mesh adapter.
type Follower struct {
	opts  Options
	cons  jetstream.Consumer
	apply Apply
	// last is the last verdict applied, by analysis, kept Forget after
	// it: a final one too, so that an older verdict coming again after it
	// is not applied.
	last map[string]applied
	// handled counts the messages handled, to sweep last now and then.
	handled int
}

// applied is the last verdict applied of an analysis.
type applied struct {
	seq int
	at  time.Time
}

// New creates or binds the durable consumer o.Durable on js, and returns
// a Follower that hands its verdicts to apply.
func New(ctx context.Context, js jetstream.JetStream, o Options, apply Apply) (*Follower, error) {
	if o.Durable == "" {
		return nil, errors.New("follower: Options.Durable is required")
	}
	if o.Stream == "" {
		o.Stream = configs.DefaultStream
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 5 * time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Forget <= 0 {
		o.Forget = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ns, svc := o.Namespace, o.Service
	if ns == "" {
		ns = "*"
	}
	if svc == "" {
		svc = "*"
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, o.Stream, jetstream.ConsumerConfig{
		Durable:       o.Durable,
		Description:   "canaryd verdicts followed by a mesh adapter",
		FilterSubject: message.VerdictSubject(ns, svc),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("follower: consumer %s on %s: %w", o.Durable, o.Stream, err)
	}
	return &Follower{opts: o, cons: cons, apply: apply, last: map[string]applied{}}, nil
}

// Run applies verdicts one at a time, in the stream's order, until ctx
// ends; it returns nil then, or the error that stopped it (the consumer
// deleted under it).
//
// It asks the server for one verdict at a time: a verdict handed to a
// Follower is not acknowledged until applied, and the server sends it
// elsewhere only after AckWait, so a Follower holds no more than the one
// it applies. Run returns once its subscription is gone and the verdict
// in hand is settled, so a Follower started after it gets the next
// verdict at once.
func (f *Follower) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cc, err := f.cons.Consume(func(m jetstream.Msg) { f.handle(runCtx, m) },
		jetstream.PullMaxMessages(1),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				cancel(err)
				return
			}
			f.opts.Logger.Warn("consuming verdicts", "consumer", f.opts.Durable, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("follower: consume %s: %w", f.opts.Durable, err)
	}
	<-runCtx.Done()
	cc.Stop()
	select {
	case <-cc.Closed():
	case <-time.After(closeTimeout):
	}
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil {
		return fmt.Errorf("follower: consumer %s: %w", f.opts.Durable, cause)
	}
	return nil
}

// closeTimeout bounds the wait for a stopped subscription to be gone.
const closeTimeout = 5 * time.Second

// handle applies one message's verdict, or skips or terminates it.
func (f *Follower) handle(ctx context.Context, m jetstream.Msg) {
	log := f.opts.Logger
	var v message.VerdictSummary
	if err := json.Unmarshal(m.Data(), &v); err != nil || v.AnalysisID == "" || v.Seq < 1 {
		log.Warn("not a verdict: dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" && id != v.MsgID() {
		log.Warn("a verdict whose message id is not its own: dropped", "subject", m.Subject(), "msg_id", id, "verdict", v.MsgID())
		_ = m.Term()
		return
	}
	f.sweep()
	if last, ok := f.last[v.AnalysisID]; ok && v.Seq <= last.seq {
		log.Debug("verdict already applied or older than the applied one: skipped", "analysis_id", v.AnalysisID, "seq", v.Seq, "applied", last.seq)
		_ = m.Ack()
		return
	}
	if err := f.apply(ctx, &v); err != nil {
		log.Warn("apply failed: the verdict comes again", "analysis_id", v.AnalysisID, "seq", v.Seq, "retry_in", f.opts.RetryDelay, "err", err)
		_ = m.NakWithDelay(f.opts.RetryDelay)
		return
	}
	f.last[v.AnalysisID] = applied{seq: v.Seq, at: time.Now()}
	// The verdict is applied: acknowledge it even when Run is being
	// stopped, or it comes again to the next adapter for nothing.
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.AckWait)
	defer cancel()
	if err := m.DoubleAck(ackCtx); err != nil {
		log.Warn("acknowledge failed: the verdict may come again (applying it again is harmless)", "analysis_id", v.AnalysisID, "seq", v.Seq, "err", err)
	}
}

// sweep forgets, every 1024 messages, the analyses whose last verdict was
// applied more than Forget ago.
func (f *Follower) sweep() {
	if f.handled++; f.handled%1024 != 0 {
		return
	}
	cut := time.Now().Add(-f.opts.Forget)
	for id, a := range f.last {
		if a.at.Before(cut) {
			delete(f.last, id)
		}
	}
}
