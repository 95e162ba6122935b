package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// historyCap bounds the verdicts a record keeps, and evidenceCap those of
// them that keep their per-metric evidence, so that a record of a
// template with many metrics stays far below NATS' 1 MiB message limit.
// Every verdict's evidence is on the stream.
const (
	historyCap  = 32
	evidenceCap = 1
)

// keyPrefix prefixes every analysis key in the bucket.
const keyPrefix = "analysis."

// Record is everything canaryd knows of one analysis: it lives in the
// key-value bucket under analysis.<id> and is only ever changed with
// compare-and-swap on its revision, so that replicas never overwrite each
// other.
//
// Verdicts are persisted before they are published: Seq counts the
// verdicts issued and Published those known to be on the stream. A
// replica resuming a record with Published < Seq publishes the rest again
// under the same message ids, which JetStream deduplicates.
type Record struct {
	ID        string    `json:"id"`
	Event     Event     `json:"event"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Start and Interval fix the judged windows: judgement k covers
	// [Start+(k−1)·Interval, Start+k·Interval].
	Start    time.Time     `json:"start"`
	Interval time.Duration `json:"interval"`
	// Plan is the template's rollout plan when the analysis started.
	Plan     rollout.Plan     `json:"plan"`
	Position rollout.Position `json:"position"`
	// Judge is the judge's sequential state.
	Judge     *analysis.State `json:"judge_state"`
	Seq       int             `json:"seq"`
	Published int             `json:"published"`
	// History holds the latest verdicts, oldest first.
	History []Verdict `json:"history"`
	Lease   Lease     `json:"lease"`
}

// Lease says which instance runs an analysis and until when: an instance
// takes over an analysis only when its lease has expired, and only with
// compare-and-swap, so one instance at a time judges it.
type Lease struct {
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires"`
}

// State returns "running" or how the analysis ended.
func (r *Record) State() string {
	if r.Position.Outcome == rollout.Running {
		return "running"
	}
	return string(r.Position.Outcome)
}

// Done reports whether the analysis has ended.
func (r *Record) Done() bool { return r.Position.Outcome != rollout.Running }

// settled reports whether nothing is left to do: ended and every verdict
// published.
func (r *Record) settled() bool { return r.Done() && r.Published >= r.Seq }

// nextDue is when the next judgement is due.
func (r *Record) nextDue() time.Time {
	return r.Start.Add(time.Duration(r.Position.Judgements+1) * r.Interval)
}

// Latest returns the latest verdict, or nil before the first.
func (r *Record) Latest() *Verdict {
	if len(r.History) == 0 {
		return nil
	}
	return &r.History[len(r.History)-1]
}

// addVerdict appends v to the history, keeping the latest historyCap, and
// the evidence of the latest evidenceCap and of any not yet published.
func (r *Record) addVerdict(v Verdict) {
	r.History = append(r.History, v)
	if n := len(r.History); n > historyCap {
		r.History = append(r.History[:0], r.History[n-historyCap:]...)
	}
	for i := range len(r.History) - evidenceCap {
		if h := &r.History[i]; h.Seq <= r.Published {
			h.Metrics = []analysis.MetricResult{}
		}
	}
}

// errDuplicate is returned by store.create when the id is taken.
var errDuplicate = errors.New("analysis exists")

// errNotFound is returned by store.get for an unknown id.
var errNotFound = errors.New("analysis not found")

// store keeps records in a JetStream key-value bucket.
type store struct {
	kv jetstream.KeyValue
}

func (s *store) create(ctx context.Context, r *Record) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	rev, err := s.kv.Create(ctx, keyPrefix+r.ID, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("create analysis %s: %w", r.ID, err)
	}
	return rev, nil
}

func (s *store) get(ctx context.Context, id string) (*Record, uint64, error) {
	e, err := s.kv.Get(ctx, keyPrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get analysis %s: %w", id, err)
	}
	r := &Record{}
	if err := json.Unmarshal(e.Value(), r); err != nil {
		return nil, 0, fmt.Errorf("decode analysis %s: %w", id, err)
	}
	return r, e.Revision(), nil
}

// update writes r if the stored revision is still rev; a conflict is
// jetstream.ErrKeyRevisionMismatch.
func (s *store) update(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	n, err := s.kv.Update(ctx, keyPrefix+r.ID, b, rev)
	if err != nil {
		return 0, fmt.Errorf("update analysis %s: %w", r.ID, err)
	}
	return n, nil
}

// ids lists the ids of every stored analysis.
func (s *store) ids(ctx context.Context) ([]string, error) {
	l, err := s.kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list analyses: %w", err)
	}
	defer func() { _ = l.Stop() }()
	var ids []string
	for k := range l.Keys() {
		if id, ok := strings.CutPrefix(k, keyPrefix); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
