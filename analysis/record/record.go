// Package record is what canaryd keeps of an analysis (Record: the deploy
// event, the judged windows, the rollout's state machine, the judge's
// state, the latest verdicts and the lease) and its store: a JetStream
// key-value bucket written only with compare-and-swap, so that replicas
// never overwrite each other.
//
// The record's JSON is a stored format with a version of its own
// (Format): records written by earlier versions are read, each version
// pinned byte for byte by a golden test (TestRecordFormats), and a record
// of a later version is refused whole (ErrUnreadable) rather than read in
// part. A runner's write encodes only what changed since its last (past
// verdicts are kept encoded between judgements).
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// HistoryCap bounds the verdicts a record keeps; only the latest keeps its
// per-metric evidence, so that a record of a template with many metrics
// stays far below NATS' 1 MiB message limit. Every verdict's evidence is
// in its audit record.
const HistoryCap = 32

// Format is the version of the record's stored JSON, its "format" field.
// Format 1 (no field) is what daemons wrote before the field: the same
// layout, with the judge's state in binary form or, earlier still, as a
// JSON object. A later format's record is unreadable here: an upgrade
// that changes the layout raises Format, and replicas of the version
// before skip its records (ErrUnreadable) instead of misreading them.
const Format = 2

// ErrUnreadable marks a stored record this version cannot read: written
// by a later version (a higher Format) or corrupt. Reading it again gives
// the same answer.
var ErrUnreadable = errors.New("unreadable record")

// KeyPrefix prefixes every analysis key in the bucket.
const KeyPrefix = "analysis."

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
	// Lag is the template's telemetry lag when the analysis started: a
	// window is judged Lag after it ends, so that its last scrapes are in
	// the metrics source (NextDue).
	Lag time.Duration `json:"lag,omitempty"`
	// MaxLag is the template's max_lag when the analysis started: how much
	// longer than Lag a judgement may wait for its window's last scrapes
	// (LatestDue).
	MaxLag time.Duration `json:"max_lag,omitempty"`
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
	// indexed is the state Store.Index last wrote for this copy of the
	// record, so that its writes index an outcome once.
	indexed string
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
	final, awaiting    bool
	approval           *rollout.Approval
	budget             *rollout.Budget
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
		reason: string(reason), seq: int32(v.Seq), step: int32(v.Step), verdict: uint8(vi), outcome: uint8(oi), final: v.Final,
		awaiting: v.AwaitingApproval, approval: v.Approval, budget: v.Budget}
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
	if p.awaiting {
		b = append(b, `,"awaiting_approval":true`...)
	}
	if p.approval != nil {
		a, err := json.Marshal(p.approval)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"approval":`...)
		b = append(b, a...)
	}
	if p.budget != nil {
		a, err := json.Marshal(p.budget)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"budget":`...)
		b = append(b, a...)
	}
	b = append(b, `,"score":`...)
	b = p.score.AppendJSON(b)
	b = append(b, `,"reason":`...)
	b = append(b, p.reason...)
	b = append(b, `,"issued_at":"`...)
	b = time.Unix(0, p.issued).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

// LoadState decodes the judge's state into st: the judgement at hand
// starts from it.
func (r *Record) LoadState(st *analysis.State) error {
	if err := r.packState(); err != nil {
		return err
	}
	return st.UnmarshalBinary(r.state)
}

// SaveState keeps st, the judge's state after a judgement, in its binary
// form: what the next write stores and the next judgement loads.
func (r *Record) SaveState(st *analysis.State) {
	r.state, _ = st.AppendBinary(r.state[:0]) // appending cannot fail
	if cap(r.state) > len(r.state)+len(r.state)/8 {
		r.state = slices.Clone(r.state) // no growth slack kept between judgements
	}
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
	Format    int           `json:"format"`
	ID        string        `json:"id"`
	Event     message.Event `json:"event"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Start     time.Time     `json:"start"`
	Interval  time.Duration `json:"interval"`
	Lag       time.Duration `json:"lag,omitempty"`
	MaxLag    time.Duration `json:"max_lag,omitempty"`
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
	// AwaitingApproval and Approval: see message.Verdict.
	AwaitingApproval bool              `json:"awaiting_approval,omitempty"`
	Approval         *rollout.Approval `json:"approval,omitempty"`
	// Budget: see message.Verdict; kept in the history (small, and only
	// at promotions), so that the report shows every budget hold.
	Budget   *rollout.Budget `json:"budget,omitempty"`
	Score    analysis.Float  `json:"score"`
	Reason   string          `json:"reason"`
	IssuedAt time.Time       `json:"issued_at"`
}

func encodeHistoryEntry(v *Verdict) ([]byte, error) {
	return json.Marshal(historyEntry{Seq: v.Seq, Step: v.Step, Weight: v.Weight, NextWeight: v.NextWeight, Verdict: v.Verdict,
		Final: v.Final, Outcome: v.Outcome, AwaitingApproval: v.AwaitingApproval, Approval: v.Approval, Budget: v.Budget, Score: v.Score, Reason: v.Reason, IssuedAt: v.IssuedAt})
}

// MarshalJSON encodes r as the bucket stores it.
func (r *Record) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends r's JSON to b: the head through encoding/json, the
// history spliced in, each entry encoded at most once (Verdict.enc).
func (r *Record) appendJSON(b []byte) ([]byte, error) {
	h := recordHead{Format: Format, ID: r.ID, Event: r.Event, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Start: r.Start,
		Interval: r.Interval, Lag: r.Lag, MaxLag: r.MaxLag, Rollout: r.Rollout, Published: r.Published, Lease: r.Lease}
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
		e, err := v.Encode()
		if err != nil {
			return nil, err
		}
		b = append(b, e...)
	}
	return append(b, "]}"...), nil
}

// UnmarshalJSON decodes a Record as the bucket stores it, filling in the
// history entries' analysis id, service and namespace. Every error is
// ErrUnreadable.
func (r *Record) UnmarshalJSON(data []byte) error {
	if err := r.unmarshalJSON(data, true); err != nil {
		return fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return nil
}

// Decode reads a record as the bucket stores it; every error is
// ErrUnreadable.
func Decode(b []byte) (*Record, error) {
	r := &Record{}
	if err := json.Unmarshal(b, r); err != nil {
		if !errors.Is(err, ErrUnreadable) { // not even JSON
			err = fmt.Errorf("%w: %w", ErrUnreadable, err)
		}
		return nil, err
	}
	return r, nil
}

// laterFormat says why a record of format f cannot be read, nil when it
// can.
func laterFormat(f int) error {
	if f <= Format {
		return nil
	}
	return fmt.Errorf("format %d, written by a later canaryd (this one reads formats up to %d)", f, Format)
}

// DecodeSummary reads what a listing shows of a record: all but the
// judge's state, the verdicts before the latest and the latest's
// per-metric evidence, which it does not decode. The record must not be
// written. Every error is ErrUnreadable.
func DecodeSummary(b []byte) (*Record, error) {
	r := &Record{}
	if err := r.unmarshalJSON(b, false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return r, nil
}

// unmarshalJSON decodes a record; full: the judge's state and every
// verdict, else only the latest verdict and no state.
func (r *Record) unmarshalJSON(data []byte, full bool) error {
	var d struct {
		recordHead
		// JudgeState is base64 of the binary form, or, in records
		// written before it, the state's JSON object.
		JudgeState json.RawMessage   `json:"judge_state"`
		History    []json.RawMessage `json:"history"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		// A later format's layout may not decode into this one's: say
		// so rather than what failed.
		var f struct {
			Format int `json:"format"`
		}
		if json.Unmarshal(data, &f) == nil && laterFormat(f.Format) != nil {
			return laterFormat(f.Format)
		}
		return err
	}
	h := &d.recordHead
	if err := laterFormat(h.Format); err != nil {
		return err // never read in part
	}
	hist := d.History
	if !full && len(hist) > 1 {
		hist = hist[len(hist)-1:]
	}
	*r = Record{ID: h.ID, Event: h.Event, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt, Start: h.Start, Interval: h.Interval, Lag: h.Lag, MaxLag: h.MaxLag,
		Rollout: h.Rollout, Published: h.Published, History: make([]Verdict, len(hist)), Lease: h.Lease}
	for i := range r.History {
		v := &r.History[i]
		if full {
			if err := json.Unmarshal(hist[i], v); err != nil {
				return fmt.Errorf("history: %w", err)
			}
		} else {
			// The evidence is skipped, not decoded: its field shadows the
			// verdict's.
			var light struct {
				Message
				Metrics json.RawMessage `json:"metrics"`
			}
			if err := json.Unmarshal(hist[i], &light); err != nil {
				return fmt.Errorf("history: %w", err)
			}
			v.Message = light.Message
		}
		if v.AnalysisID == "" {
			v.AnalysisID, v.Service, v.Namespace = r.ID, r.Event.Service, r.Event.Namespace
		}
		if v.Metrics == nil {
			v.Metrics = []analysis.MetricResult{}
		}
	}
	switch js := d.JudgeState; {
	case !full:
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

// Settled reports whether nothing is left to do: ended and every verdict
// published.
func (r *Record) Settled() bool { return r.Done() && r.Published >= r.Seq }

// NextDue is when the next judgement is due: Lag after its window ends
// (WindowEnd).
func (r *Record) NextDue() time.Time { return r.WindowEnd().Add(r.Lag) }

// LatestDue is the latest the next judgement may be made: NextDue, plus
// MaxLag spent waiting for the window's last scrapes. A lease must last
// beyond it.
func (r *Record) LatestDue() time.Time { return r.NextDue().Add(r.MaxLag) }

// WindowEnd is when the next judgement's window ends: its queries end
// there, Lag before they are made.
func (r *Record) WindowEnd() time.Time {
	return r.Start.Add(time.Duration(r.Position.Judgements+1) * r.Interval)
}

// Latest returns the latest verdict, or nil before the first.
func (r *Record) Latest() *Verdict {
	if len(r.History) == 0 {
		return nil
	}
	return &r.History[len(r.History)-1]
}

// AddVerdict appends v to the history, keeping the latest HistoryCap.
func (r *Record) AddVerdict(v Verdict) {
	r.History = append(r.History, v)
	if n := len(r.older) + len(r.History); n > HistoryCap {
		// slices.Delete zeroes what it moves past, so that the backing
		// arrays keep no verdict alive.
		drop := min(n-HistoryCap, len(r.older))
		r.older = slices.Delete(r.older, 0, drop)
		if n -= drop; n > HistoryCap {
			r.History = slices.Delete(r.History, 0, n-HistoryCap)
		}
	}
}

// Retire moves the published verdicts before the latest from History to
// older, and lets go of the latest's evidence and encoding
// once it is published: a runner keeps what its next write needs and no
// more. The record must not be shown (its History is partial).
func (r *Record) Retire() error {
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
			r.older = make([]pastVerdict, 0, HistoryCap-1) // no growth slack
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
