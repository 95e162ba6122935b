package bus

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ElectionWait bounds how long an operation on a stream waits out its
// leader's loss: NATS elects a new leader within a few seconds (its Raft
// election timeout is at most 9 s), so a judgement made during an
// election is written and published late instead of failing its
// interval.
const ElectionWait = 20 * time.Second

// tryTimeout bounds one try within Retry, so that a request sent to a
// leader that died is given up and sent again to the next.
const tryTimeout = 5 * time.Second

// Transient reports whether err is what a stream says while it has no
// leader or the connection is moving to another server: no responders,
// a request that timed out, JetStream temporarily unavailable.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 || apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled
	}
	return false
}

// Retry runs op until it succeeds, fails for good, ctx ends or wait has
// passed, backing off with jitter between tries; each try gets at most
// tryTimeout. It returns op's last error.
func Retry(ctx context.Context, wait time.Duration, op func(context.Context) error) error {
	deadline := time.Now().Add(wait)
	for try := 0; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		err := op(tctx)
		cancel()
		if err == nil || ctx.Err() != nil || !Transient(err) {
			return err
		}
		d := Backoff(try, 50*time.Millisecond, time.Second)
		if time.Now().Add(d).After(deadline) {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// Backoff is the delay before try (0 first): base·2^try capped at most,
// with full jitter in its upper half, so that replicas that lost the same
// server do not come back in step.
//
//	d = min(base·2^try, most);  Backoff ∈ [d/2, d)
func Backoff(try int, base, most time.Duration) time.Duration {
	d := most
	if try < 30 && base<<try < most {
		d = base << try
	}
	return d/2 + rand.N(d/2+1)
}
