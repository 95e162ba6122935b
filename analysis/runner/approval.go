package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// ErrNoneAwaiting is returned by AnswerService when no analysis of the
// service waits for an approval, and ErrAmbiguous when more than one does.
var (
	ErrNoneAwaiting = errors.New("no analysis of the service waits for an approval")
	ErrAmbiguous    = errors.New("more than one analysis of the service waits for an approval: name analysis_id")
)

// Answer applies a person's approval or denial (a; its At is set here)
// to analysis id through its rollout (rollout.Rollout.Answer), persists
// it and publishes the verdict it issues. The record comes back with the
// error too: *rollout.ErrAnswered for the same answer given again (nothing
// changes), rollout.ErrEnded or rollout.ErrNotAwaiting (wrapped) for an
// analysis that cannot take it; record.ErrNotFound for an unknown id.
func (rn *Runner) Answer(ctx context.Context, id string, a rollout.Approval) (*record.Record, error) {
	for {
		r, rev, err := rn.store.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("analysis %q: %w", id, err)
		}
		now := rn.clock.Now()
		a.At = now.UTC()
		d, err := r.Answer(a)
		if err != nil {
			return r, err
		}
		v := record.NewVerdict(r, d, nil, now)
		v.Reason = d.Approval.Describe()
		v.Score = analysis.Float(math.NaN()) // nothing judged
		r.AddVerdict(v)
		r.UpdatedAt = now.UTC()
		rev, err = rn.store.Update(ctx, r, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // the owner judged meanwhile: answer the new state
		}
		if err != nil {
			rn.metrics.NatsErrors.Inc()
			return nil, err
		}
		rn.logger.Info("approval answered", "analysis_id", id, "action", d.Approval.Action(), "by", d.Approval.By,
			"step", d.Approval.Step, "seq", v.Seq, "reason", d.Approval.Reason)
		rn.metrics.Verdicts.WithLabelValues(string(v.Verdict)).Inc()
		// The owner learns of the answer at its next write (a conflict
		// makes it read the record again); the verdict goes out here, and
		// from any resuming replica if this fails.
		rn.publishPending(ctx, rn.logger.With("analysis_id", id), r, rev)
		return r, nil
	}
}

// AnswerService answers the approval request req, received for service
// in namespace: for the analysis it names, which must be of that service,
// or else for the one analysis of the service that waits.
func (rn *Runner) AnswerService(ctx context.Context, namespace, service string, req message.ApprovalRequest) (*record.Record, error) {
	if req.Action == "" {
		return nil, errors.New("approval request: action is required on NATS: approve or deny")
	}
	id := req.AnalysisID
	if id == "" {
		ids, err := rn.store.IDs(ctx)
		if err != nil {
			return nil, err
		}
		for _, cand := range ids {
			r, _, err := rn.store.Get(ctx, cand)
			if errors.Is(err, record.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if _, ok := r.Awaiting(); ok && r.Event.Namespace == namespace && r.Event.Service == service {
				if id != "" {
					return nil, fmt.Errorf("%w (%s and %s)", ErrAmbiguous, id, cand)
				}
				id = cand
			}
		}
		if id == "" {
			return nil, fmt.Errorf("%w: %s.%s", ErrNoneAwaiting, namespace, service)
		}
	} else {
		r, _, err := rn.store.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("analysis %q: %w", id, err)
		}
		if r.Event.Namespace != namespace || r.Event.Service != service {
			return nil, fmt.Errorf("analysis %s is of %s.%s, not %s.%s", id, r.Event.Namespace, r.Event.Service, namespace, service)
		}
	}
	return rn.Answer(ctx, id, rollout.Approval{Approved: req.Action == message.ActionApprove, By: req.By, Reason: req.Reason, Step: req.Step})
}

// ReplyOf is the reply to an approval request that Answer or
// AnswerService answered with r and err.
func ReplyOf(r *record.Record, err error) message.ApprovalReply {
	var rep message.ApprovalReply
	if r != nil {
		rep.AnalysisID = r.ID
	}
	var answered *rollout.ErrAnswered
	switch {
	case err == nil:
		rep.Verdict = &r.Latest().Message
	case errors.As(err, &answered):
		rep.Repeated = true
		for i := range r.History {
			if r.History[i].Seq == answered.Previous.Seq {
				rep.Verdict = &r.History[i].Message
			}
		}
	default:
		rep.Error = err.Error()
	}
	return rep
}

// ServeApprovals answers approval requests on
// canary.approval.<namespace>.<service> until the returned function stops
// it. Replicas share a queue group, so each request is answered once.
func (rn *Runner) ServeApprovals(nc *nats.Conn) (stop func(context.Context) error, err error) {
	sub, err := nc.QueueSubscribe(message.ApprovalPrefix+">", "canaryd", func(m *nats.Msg) {
		rep := rn.handleApproval(m)
		if m.Reply == "" {
			return
		}
		if err := m.Respond(encodeReply(rep)); err != nil {
			rn.logger.Warn("reply to approval request", "subject", m.Subject, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to approvals: %w", err)
	}
	return func(context.Context) error { return sub.Drain() }, nil
}

// encodeReply is rep's JSON.
func encodeReply(rep message.ApprovalReply) []byte {
	b, err := json.Marshal(rep)
	if err != nil {
		b, _ = json.Marshal(message.ApprovalReply{AnalysisID: rep.AnalysisID, Error: "encode reply: " + err.Error()})
	}
	return b
}

func (rn *Runner) handleApproval(m *nats.Msg) message.ApprovalReply {
	ns, svc := message.ApprovalNames(m.Subject)
	if ns == "" || svc == "" {
		return message.ApprovalReply{Error: fmt.Sprintf("subject %q is not %s<namespace>.<service>", m.Subject, message.ApprovalPrefix)}
	}
	req, err := message.DecodeApprovalRequest(m.Data)
	if err != nil {
		return message.ApprovalReply{AnalysisID: req.AnalysisID, Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(rn.runCtx, rn.opts.LeaseGrace)
	defer cancel()
	r, err := rn.AnswerService(ctx, ns, svc, req)
	if err != nil && !errors.As(err, new(*rollout.ErrAnswered)) {
		rn.logger.Warn("approval request refused", "subject", m.Subject, "analysis_id", req.AnalysisID, "by", req.By, "err", err)
	}
	return ReplyOf(r, err)
}
