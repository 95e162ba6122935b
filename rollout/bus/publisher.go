package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/rollout/message"
)

// Publisher publishes to JetStream with message ids, so that a message
// published twice (a retry, or a replica resuming a crashed one) is stored
// once.
type Publisher struct {
	js     jetstream.JetStream
	stream jetstream.Stream // the stream verdicts go to
}

// NewPublisher returns a publisher to js whose verdicts go to stream.
func NewPublisher(js jetstream.JetStream, stream jetstream.Stream) *Publisher {
	return &Publisher{js: js, stream: stream}
}

// OnStream reports whether v is the latest message on its subject: then
// it was published, and publishing it again would only rely on the
// stream's duplicate window, which a long outage outlasts. A verdict
// followed by another analysis' of the same service is not recognised
// (false), and is published again under its message id.
func (p *Publisher) OnStream(ctx context.Context, v *message.Verdict) (bool, error) {
	var m *jetstream.RawStreamMsg
	err := Retry(ctx, ElectionWait, func(ctx context.Context) (err error) {
		m, err = p.stream.GetLastMsgForSubject(ctx, v.PublishedOn())
		return err
	})
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

// Publish publishes v as JSON on subject under msgID.
func (p *Publisher) Publish(ctx context.Context, subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	return p.PublishBytes(ctx, subject, msgID, b)
}

// PublishBytes publishes b on subject under msgID, waiting out a leader
// election (ElectionWait): a publish tried again is stored once.
func (p *Publisher) PublishBytes(ctx context.Context, subject, msgID string, b []byte) error {
	m := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	err := Retry(ctx, ElectionWait, func(ctx context.Context) error {
		_, err := p.js.PublishMsg(ctx, m)
		return err
	})
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// Verdict publishes v's summary (message.VerdictSummary, under 1 KB) on
// its subject under its message id. The verdict with its evidence goes to
// the audit record and the analysis' record, where analysis_id and seq
// find it.
func (p *Publisher) Verdict(ctx context.Context, v *message.Verdict) error {
	s := v.Summary()
	b, err := s.Encode()
	if err != nil {
		return fmt.Errorf("encode verdict %s: %w", v.MsgID(), err)
	}
	return p.PublishBytes(ctx, s.PublishedOn(), s.MsgID(), b)
}
