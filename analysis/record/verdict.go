package record

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// Verdict is a verdict as a record keeps it: the wire message (package
// message) with its encoding, made once for the record and the audit
// trail (the stream carries its summary, message.VerdictSummary).
type Verdict struct {
	Message

	// enc is the verdict's JSON; stripped says its evidence was let go
	// after publishing.
	enc      []byte
	stripped bool
}

// Message is the wire verdict, named so that embedded its fields, Verdict
// included, are promoted.
type Message = message.Verdict

// Encode returns v's JSON, encoding it at most once.
func (v *Verdict) Encode() ([]byte, error) {
	if v.enc == nil {
		b, err := v.AppendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode verdict %s: %w", v.MsgID(), err)
		}
		v.enc = b
	}
	return v.enc, nil
}

// NewVerdict returns the verdict of r that decision d and judgement j (nil
// for an abort) make, issued at now.
func NewVerdict(r *Record, d rollout.Decision, j *analysis.Judgement, now time.Time) Verdict {
	return Verdict{Message: message.NewVerdict(r.ID, r.Event.Service, r.Event.Namespace, d, j, now)}
}
