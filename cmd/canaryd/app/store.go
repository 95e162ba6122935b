package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// historyCap bounds the verdicts a record keeps; only the latest keeps its
// per-metric evidence, so that a record of a template with many metrics
// stays far below NATS' 1 MiB message limit. Every verdict's evidence is
// on the stream.
const historyCap = 32

// keyPrefix prefixes every analysis key in the bucket.
const keyPrefix = "analysis."

// Record is everything canaryd knows of one analysis: it lives in the
// key-value bucket under analysis.<id> and is only ever changed with
// compare-and-swap on its revision, so that replicas never overwrite each
// other.
//
// Verdicts are persisted before they are published: Seq counts the
// verdicts issued and Published those known to be on the stream. The
// owner records a verdict as published with its next write, so a replica
// resuming a record with Published < Seq publishes the rest again under
// the same message ids, which JetStream deduplicates.
//
// In the bucket the judge's state is in its binary form (base64 in the
// JSON), and history entries before the latest carry neither evidence nor
// the analysis' id, service and namespace, which the record holds once.
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
	// History holds the latest verdicts, oldest first. A runner keeps the
	// entries it has published, but the latest, encoded in older instead.
	History []Verdict `json:"history"`
	Lease   Lease     `json:"lease"`

	// older holds the encoded entries of the history before History, in
	// order, kept by the runner between judgements so that a write
	// encodes only what changed.
	older olderHistory
	// state is the judge's state in its binary form, in place of Judge,
	// while a runner keeps the record between judgements.
	state []byte
}

// olderHistory is a list of encoded history entries in one buffer.
type olderHistory struct {
	buf  []byte
	ends []int32 // end of each entry in buf
}

func (h *olderHistory) len() int { return len(h.ends) }

func (h *olderHistory) add(e []byte) {
	h.buf = append(h.buf, e...)
	h.ends = append(h.ends, int32(len(h.buf)))
}

// drop removes the first n entries.
func (h *olderHistory) drop(n int) {
	if n <= 0 {
		return
	}
	cut := int(h.ends[n-1])
	h.buf = h.buf[:copy(h.buf, h.buf[cut:])]
	h.ends = h.ends[:copy(h.ends, h.ends[n:])]
	for i := range h.ends {
		h.ends[i] -= int32(cut)
	}
}

// appendList appends the entries separated by commas.
func (h *olderHistory) appendList(b []byte) []byte {
	start := int32(0)
	for i, end := range h.ends {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, h.buf[start:end]...)
		start = end
	}
	return b
}

// packState moves the judge's state into its binary form, which is a
// little smaller in memory and what a write needs.
func (r *Record) packState() error {
	if r.Judge == nil {
		return nil
	}
	b, err := r.Judge.AppendBinary(r.state[:0])
	if err != nil {
		return err
	}
	r.state, r.Judge = b, nil
	return nil
}

// recordHead is a Record's JSON but for its history.
type recordHead struct {
	ID         string           `json:"id"`
	Event      Event            `json:"event"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	Start      time.Time        `json:"start"`
	Interval   time.Duration    `json:"interval"`
	Plan       rollout.Plan     `json:"plan"`
	Position   rollout.Position `json:"position"`
	JudgeState []byte           `json:"judge_state"`
	Seq        int              `json:"seq"`
	Published  int              `json:"published"`
	Lease      Lease            `json:"lease"`
}

// historyEntry is a verdict before the latest, as the record stores it.
type historyEntry struct {
	Seq        int              `json:"seq"`
	Step       int              `json:"step"`
	Weight     float64          `json:"weight"`
	NextWeight float64          `json:"next_weight"`
	Verdict    analysis.Verdict `json:"verdict"`
	Final      bool             `json:"final,omitempty"`
	Outcome    rollout.Outcome  `json:"outcome,omitempty"`
	Score      analysis.Float   `json:"score"`
	Reason     string           `json:"reason"`
	IssuedAt   time.Time        `json:"issued_at"`
}

func encodeHistoryEntry(v *Verdict) ([]byte, error) {
	return json.Marshal(historyEntry{Seq: v.Seq, Step: v.Step, Weight: v.Weight, NextWeight: v.NextWeight, Verdict: v.Verdict,
		Final: v.Final, Outcome: v.Outcome, Score: v.Score, Reason: v.Reason, IssuedAt: v.IssuedAt})
}

// MarshalJSON encodes r as the bucket stores it.
func (r *Record) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends r's JSON to b: the head through encoding/json, the
// history spliced in, each entry encoded at most once (Verdict.enc).
func (r *Record) appendJSON(b []byte) ([]byte, error) {
	h := recordHead{ID: r.ID, Event: r.Event, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Start: r.Start,
		Interval: r.Interval, Plan: r.Plan, Position: r.Position, Seq: r.Seq, Published: r.Published, Lease: r.Lease}
	if r.Judge != nil {
		var err error
		if h.JudgeState, err = r.Judge.AppendBinary(nil); err != nil {
			return nil, err
		}
	} else {
		h.JudgeState = r.state
	}
	head, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"history":[`...)
	b = r.older.appendList(b)
	n := r.older.len()
	for i := range r.History {
		v := &r.History[i]
		if n > 0 {
			b = append(b, ',')
		}
		n++
		if i < len(r.History)-1 && v.Seq <= r.Published {
			e, err := encodeHistoryEntry(v)
			if err != nil {
				return nil, err
			}
			b = append(b, e...)
			continue
		}
		if v.stripped {
			return nil, fmt.Errorf("analysis %s: the latest verdict's evidence was let go before the record was written", r.ID)
		}
		e, err := v.encode()
		if err != nil {
			return nil, err
		}
		b = append(b, e...)
	}
	return append(b, "]}"...), nil
}

// UnmarshalJSON decodes a Record as the bucket stores it, filling in the
// history entries' analysis id, service and namespace.
func (r *Record) UnmarshalJSON(data []byte) error {
	var d struct {
		recordHead
		History []Verdict `json:"history"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	h := &d.recordHead
	*r = Record{ID: h.ID, Event: h.Event, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt, Start: h.Start, Interval: h.Interval,
		Plan: h.Plan, Position: h.Position, Seq: h.Seq, Published: h.Published, History: d.History, Lease: h.Lease}
	if r.History == nil {
		r.History = []Verdict{}
	}
	for i := range r.History {
		v := &r.History[i]
		if v.AnalysisID == "" {
			v.AnalysisID, v.Service, v.Namespace = r.ID, r.Event.Service, r.Event.Namespace
		}
		if v.Metrics == nil {
			v.Metrics = []analysis.MetricResult{}
		}
	}
	if len(h.JudgeState) > 0 {
		r.Judge = &analysis.State{}
		if err := r.Judge.UnmarshalBinary(h.JudgeState); err != nil {
			return fmt.Errorf("judge state: %w", err)
		}
	}
	return nil
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

// addVerdict appends v to the history, keeping the latest historyCap.
func (r *Record) addVerdict(v Verdict) {
	r.History = append(r.History, v)
	if n := r.older.len() + len(r.History); n > historyCap {
		// slices.Delete zeroes what it moves past, so that the backing
		// array keeps no verdict alive.
		drop := min(n-historyCap, r.older.len())
		r.older.drop(drop)
		if n -= drop; n > historyCap {
			r.History = slices.Delete(r.History, 0, n-historyCap)
		}
	}
}

// retire moves the published verdicts before the latest from History to
// older, encoded once, and lets go of the latest's evidence and encoding
// once it is published: a runner keeps what its next write needs and no
// more. The record must not be shown (its History is partial).
func (r *Record) retire() error {
	i := 0
	for ; i < len(r.History)-1 && r.History[i].Seq <= r.Published; i++ {
		e, err := encodeHistoryEntry(&r.History[i])
		if err != nil {
			return err
		}
		r.older.add(e)
	}
	r.History = slices.Delete(r.History, 0, i)
	if n := len(r.History); n > 0 && r.History[n-1].Seq <= r.Published {
		last := &r.History[n-1]
		last.Metrics, last.enc, last.stripped = nil, nil, true
	}
	return nil
}

// errDuplicate is returned by store.create when the id is taken.
var errDuplicate = errors.New("analysis exists")

// errNotFound is returned by store.get for an unknown id.
var errNotFound = errors.New("analysis not found")

// store keeps records in a JetStream key-value bucket.
type store struct {
	kv jetstream.KeyValue
	// stream is the bucket's stream.
	stream jetstream.Stream
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
	b, err := r.appendJSON(nil)
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	n, err := s.kv.Update(ctx, keyPrefix+r.ID, b, rev)
	if err != nil {
		return 0, fmt.Errorf("update analysis %s: %w", r.ID, err)
	}
	return n, nil
}

// ids lists the ids of every stored analysis, from the bucket's subject
// index: the server reads no record, so listing costs the same whatever
// the records hold (a key lister would load every record).
func (s *store) ids(ctx context.Context) ([]string, error) {
	filter := "$KV." + s.kv.Bucket() + "." + keyPrefix + ">"
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("list analyses: %w", err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		if id, ok := strings.CutPrefix(subj, filter[:len(filter)-1]); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
