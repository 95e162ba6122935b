package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// Verdict is published on canary.verdict.<namespace>.<service> after every
// judgement: everything a mesh needs to set the canary's traffic, with the
// evidence behind it.
type Verdict struct {
	AnalysisID string `json:"analysis_id"`
	Service    string `json:"service"`
	Namespace  string `json:"namespace"`
	// Seq numbers the analysis' verdicts from 1; the message id is
	// <analysis_id>-<seq>.
	Seq        int                     `json:"seq"`
	Step       int                     `json:"step"`
	Weight     float64                 `json:"weight"`
	NextWeight float64                 `json:"next_weight"`
	Verdict    analysis.Verdict        `json:"verdict"`
	Final      bool                    `json:"final"`
	Outcome    rollout.Outcome         `json:"outcome,omitempty"`
	Score      analysis.Float          `json:"score"`
	Reason     string                  `json:"reason"`
	Metrics    []analysis.MetricResult `json:"metrics"`
	IssuedAt   time.Time               `json:"issued_at"`

	// enc is the verdict's JSON, encoded once for the record and the
	// stream; stripped says its evidence was let go after publishing.
	enc      []byte
	stripped bool
}

// encode returns v's JSON, encoding it at most once.
func (v *Verdict) encode() ([]byte, error) {
	if v.enc == nil {
		b, err := v.appendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode verdict %s: %w", v.msgID(), err)
		}
		v.enc = b
	}
	return v.enc, nil
}

// msgID is the verdict's Nats-Msg-Id.
func (v *Verdict) msgID() string { return v.AnalysisID + "-" + strconv.Itoa(v.Seq) }

// newVerdict returns the verdict of r that decision d and judgement j (nil
// for an abort) make.
func newVerdict(r *Record, d rollout.Decision, j *analysis.Judgement, now time.Time) Verdict {
	v := Verdict{
		AnalysisID: r.ID,
		Service:    r.Event.Service,
		Namespace:  r.Event.Namespace,
		Seq:        d.Seq,
		Step:       d.Step,
		Weight:     d.Weight,
		NextWeight: d.NextWeight,
		Verdict:    d.Verdict,
		Final:      d.Final,
		Outcome:    d.Outcome,
		IssuedAt:   now.UTC(),
		Metrics:    []analysis.MetricResult{},
	}
	if j != nil {
		v.Score = j.Score
		v.Reason = d.Reason(j.Verdict, j.Reason)
		v.Metrics = append(v.Metrics, j.Metrics...)
		// The queries are the same at every judgement: the analysis
		// shows them once (GET /api/v1/analyses/{id}).
		for i := range v.Metrics {
			m := &v.Metrics[i]
			m.BaselineQuery, m.CanaryQuery = "", ""
			// The judge reuses its warnings' array at its next
			// judgement, which may be another analysis' (judges are
			// pooled): the verdict keeps its own.
			m.Warnings = slices.Clone(m.Warnings)
		}
	}
	return v
}

// publisher publishes to JetStream with message ids, so that a message
// published twice (a retry, or a replica resuming a crashed one) is stored
// once.
type publisher struct {
	js     jetstream.JetStream
	stream jetstream.Stream // the stream verdicts go to
}

// onStream reports whether v is the latest message on its subject: then
// it was published, and publishing it again would only rely on the
// stream's duplicate window, which a long outage outlasts. A verdict
// followed by another analysis' of the same service is not recognised
// (false), and is published again under its message id.
func (p *publisher) onStream(ctx context.Context, v *Verdict) (bool, error) {
	m, err := p.stream.GetLastMsgForSubject(ctx, verdictPrefix+v.Namespace+"."+v.Service)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("last verdict of %s.%s: %w", v.Namespace, v.Service, err)
	}
	var last struct {
		AnalysisID string `json:"analysis_id"`
		Seq        int    `json:"seq"`
	}
	if json.Unmarshal(m.Data, &last) != nil {
		return false, nil
	}
	return last.AnalysisID == v.AnalysisID && last.Seq == v.Seq, nil
}

func (p *publisher) publish(ctx context.Context, subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	return p.publishBytes(ctx, subject, msgID, b)
}

func (p *publisher) publishBytes(ctx context.Context, subject, msgID string, b []byte) error {
	m := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

func (p *publisher) verdict(ctx context.Context, v *Verdict) error {
	b, err := v.encode()
	if err != nil {
		return err
	}
	return p.publishBytes(ctx, verdictPrefix+v.Namespace+"."+v.Service, v.msgID(), b)
}
