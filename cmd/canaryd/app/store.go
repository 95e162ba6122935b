package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
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
	ID        string        `json:"id"`
	Event     message.Event `json:"event"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	// Start and Interval fix the judged windows: judgement k covers
	// [Start+(k−1)·Interval, Start+k·Interval].
	Start    time.Time     `json:"start"`
	Interval time.Duration `json:"interval"`
	// Rollout is the rollout's state machine (plan, position, verdicts
	// issued), its plan the template's when the analysis started.
	rollout.Rollout
	// Judge is the judge's sequential state.
	Judge     *analysis.State `json:"judge_state"`
	Published int             `json:"published"`
	// History holds the latest verdicts, oldest first. A runner keeps the
	// entries it has published, but the latest, encoded in older instead.
	History []Verdict `json:"history"`
	Lease   Lease     `json:"lease"`

	// older holds the encoded entries of the history before History, in
	// order, kept by the runner between judgements so that a write
	// encodes only what changed.
	older []pastVerdict
	// state is the judge's state in its binary form, in place of Judge,
	// while a runner keeps the record between judgements.
	state []byte
}

// pastVerdict is a published verdict before the latest, as a runner keeps
// it between judgements: the fields of its history entry, with the reason
// already in JSON and shared with the previous entry when they are equal.
type pastVerdict struct {
	weight, nextWeight float64
	score              analysis.Float
	issued             int64 // Unix nanoseconds
	reason             string
	seq, step          int32
	verdict, outcome   uint8 // indexes in pastVerdicts and pastOutcomes
	final              bool
}

// pastVerdicts and pastOutcomes are the values a past verdict can hold.
var (
	pastVerdicts = [...]analysis.Verdict{analysis.Promote, analysis.Hold, analysis.Rollback}
	pastOutcomes = rollout.Outcomes
)

// pastOf returns v as a past verdict; prev is the entry before it, if any.
func pastOf(v *Verdict, prev *pastVerdict) (pastVerdict, error) {
	reason := message.AppendJSONString(nil, v.Reason)
	vi, oi := slices.Index(pastVerdicts[:], v.Verdict), slices.Index(pastOutcomes[:], v.Outcome)
	if vi < 0 || oi < 0 {
		return pastVerdict{}, fmt.Errorf("verdict %s: unknown verdict %q or outcome %q", v.MsgID(), v.Verdict, v.Outcome)
	}
	p := pastVerdict{weight: v.Weight, nextWeight: v.NextWeight, score: v.Score, issued: v.IssuedAt.UnixNano(),
		reason: string(reason), seq: int32(v.Seq), step: int32(v.Step), verdict: uint8(vi), outcome: uint8(oi), final: v.Final}
	if prev != nil && prev.reason == p.reason {
		p.reason = prev.reason
	}
	return p, nil
}

// appendJSON appends p's history entry: exactly what encoding/json makes
// of a historyEntry (TestPastVerdictJSON), without reflection.
func (p *pastVerdict) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(p.seq), 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, int64(p.step), 10)
	b = append(b, `,"weight":`...)
	b, err := message.AppendJSONFloat(b, p.weight)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"next_weight":`...)
	if b, err = message.AppendJSONFloat(b, p.nextWeight); err != nil {
		return nil, err
	}
	b = append(b, `,"verdict":`...)
	b = strconv.AppendQuote(b, string(pastVerdicts[p.verdict]))
	if p.final {
		b = append(b, `,"final":true`...)
	}
	if o := pastOutcomes[p.outcome]; o != "" {
		b = append(b, `,"outcome":`...)
		b = strconv.AppendQuote(b, string(o))
	}
	b = append(b, `,"score":`...)
	b = p.score.AppendJSON(b)
	b = append(b, `,"reason":`...)
	b = append(b, p.reason...)
	b = append(b, `,"issued_at":"`...)
	b = time.Unix(0, p.issued).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
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
	ID        string        `json:"id"`
	Event     message.Event `json:"event"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Start     time.Time     `json:"start"`
	Interval  time.Duration `json:"interval"`
	rollout.Rollout
	JudgeState []byte `json:"judge_state"`
	Published  int    `json:"published"`
	Lease      Lease  `json:"lease"`
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
		Interval: r.Interval, Rollout: r.Rollout, Published: r.Published, Lease: r.Lease}
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
	for i := range r.older {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = r.older[i].appendJSON(b); err != nil {
			return nil, err
		}
	}
	n := len(r.older)
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
		// JudgeState is base64 of the binary form, or, in records
		// written before it, the state's JSON object.
		JudgeState json.RawMessage `json:"judge_state"`
		History    []Verdict       `json:"history"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	h := &d.recordHead
	*r = Record{ID: h.ID, Event: h.Event, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt, Start: h.Start, Interval: h.Interval,
		Rollout: h.Rollout, Published: h.Published, History: d.History, Lease: h.Lease}
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
	switch js := d.JudgeState; {
	case len(js) == 0 || string(js) == "null" || string(js) == `""`:
	case js[0] == '{':
		r.Judge = &analysis.State{}
		if err := json.Unmarshal(js, r.Judge); err != nil {
			return fmt.Errorf("judge state: %w", err)
		}
	default:
		var b []byte
		if err := json.Unmarshal(js, &b); err != nil {
			return fmt.Errorf("judge state: %w", err)
		}
		r.Judge = &analysis.State{}
		if err := r.Judge.UnmarshalBinary(b); err != nil {
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
	if n := len(r.older) + len(r.History); n > historyCap {
		// slices.Delete zeroes what it moves past, so that the backing
		// arrays keep no verdict alive.
		drop := min(n-historyCap, len(r.older))
		r.older = slices.Delete(r.older, 0, drop)
		if n -= drop; n > historyCap {
			r.History = slices.Delete(r.History, 0, n-historyCap)
		}
	}
}

// retire moves the published verdicts before the latest from History to
// older, and lets go of the latest's evidence and encoding
// once it is published: a runner keeps what its next write needs and no
// more. The record must not be shown (its History is partial).
func (r *Record) retire() error {
	i := 0
	for ; i < len(r.History)-1 && r.History[i].Seq <= r.Published; i++ {
		var prev *pastVerdict
		if len(r.older) > 0 {
			prev = &r.older[len(r.older)-1]
		}
		p, err := pastOf(&r.History[i], prev)
		if err != nil {
			return err
		}
		if r.older == nil {
			r.older = make([]pastVerdict, 0, historyCap-1) // no growth slack
		}
		r.older = append(r.older, p)
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
	// bufs holds encoding buffers (*[]byte) for update.
	bufs sync.Pool
	// writes bounds the updates encoded and in flight at once: the
	// bucket's stream takes them one by one, so more only hold more
	// buffers.
	writes chan struct{}
}

// maxWritesInFlight is the size of store.writes.
const maxWritesInFlight = 128

func newStore(kv jetstream.KeyValue, stream jetstream.Stream) *store {
	return &store{kv: kv, stream: stream, writes: make(chan struct{}, maxWritesInFlight)}
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
	select {
	case s.writes <- struct{}{}:
		defer func() { <-s.writes }()
	case <-ctx.Done():
		return 0, fmt.Errorf("update analysis %s: %w", r.ID, ctx.Err())
	}
	// The client copies the value before Update returns, so one buffer
	// serves write after write.
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.bufs.Put(bp)
	b, err := r.appendJSON((*bp)[:0])
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	*bp = b
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
