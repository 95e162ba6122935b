package runner

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/rollout/message"
)

// The audit trail: every verdict (a judgement's, an approval's, a
// denial's, an abort's, an expiry's) is appended to the audit stream
// before the verdict itself is published, under the message id
// <analysis_id>-v<seq>, so that no verdict leaves without its record and
// a retried publication (this runner's, or a resuming replica's) stores
// each once. A record that cannot be appended fails the publication like
// a verdict that cannot be published: the decision stays persisted in the
// analysis' record and is published, record first, at the next try.
// Takeovers and template changes are appended when they happen; one that
// cannot be appended within bus.ElectionWait is counted and logged.

// templateHashes caches spec.Template.Hash per template of one config.
type templateHashes struct {
	mu  sync.Mutex
	cfg *configs.Config
	m   map[*spec.Template]string
}

func (h *templateHashes) of(cfg *configs.Config, t *spec.Template) string {
	if t == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg != cfg || h.m == nil {
		h.cfg, h.m = cfg, map[*spec.Template]string{}
	}
	s, ok := h.m[t]
	if !ok {
		s = t.Hash()
		h.m[t] = s
	}
	return s
}

// auditBase returns a record of r by this replica, at now.
func (rn *Runner) auditBase(r *record.Record, action string, now time.Time) *message.AuditRecord {
	cfg := rn.opts.Config()
	return &message.AuditRecord{
		AnalysisID: r.ID, Service: r.Event.Service, Namespace: r.Event.Namespace,
		Action: action, Actor: message.Actor{Kind: message.ActorReplica, Name: rn.opts.InstanceID},
		At: now.UTC(), Template: r.Event.Template, TemplateHash: rn.hashes.of(cfg, cfg.Template(r.Event.Template)),
	}
}

// verdictAudit returns the audit record of verdict v of r: its actor (the
// person who answered a gate, else this replica), and for a judgement,
// the window judged, the queries as sent and the samples of each role.
func (rn *Runner) verdictAudit(r *record.Record, v *record.Verdict) *message.AuditRecord {
	a := rn.auditBase(r, message.AuditActionOf(&v.Message), v.IssuedAt)
	a.ID = message.VerdictAuditID(r.ID, v.Seq)
	a.Reason = v.Reason
	a.Verdict = &v.Message
	if v.Approval != nil {
		a.Actor = message.Actor{Kind: message.ActorPerson, Name: v.Approval.By}
	}
	for i := range v.Metrics {
		m := &v.Metrics[i]
		a.Samples = append(a.Samples, message.AuditSamples{Metric: m.Name, Baseline: m.NBaseline, Canary: m.NCanary})
	}
	// The window and queries of the latest judgement; a verdict that
	// judged nothing (an answer, an abort) or one published later than
	// the next judgement has none.
	cfg := rn.opts.Config()
	tmpl := cfg.Template(r.Event.Template)
	k := r.Judgements() - 1
	if tmpl == nil || len(v.Metrics) == 0 || v.Seq != r.Seq || k < 0 {
		return a
	}
	start := r.Start.Add(time.Duration(k) * r.Interval)
	a.Window = &message.AuditWindow{Start: start, End: start.Add(r.Interval)}
	qs, err := analysis.Queries(tmpl, r.Event.Target(), k, start, start.Add(r.Interval), rn.opts.Companions, nil)
	if err != nil {
		return a
	}
	if v.Budget != nil && tmpl.SLO != nil {
		// The error budget measured for the promotion: its queries too.
		if bqs, err := analysis.BudgetQueries(tmpl, r.Event.Target(), k, start.Add(r.Interval)); err == nil {
			qs = append(qs, bqs...)
		}
	}
	for _, q := range qs {
		a.Queries = append(a.Queries, message.AuditQuery{Metric: q.Metric, Role: string(q.Role), Expr: q.Expr,
			Start: q.Start.UTC(), End: q.End.UTC(), Step: q.Step.String()})
	}
	return a
}

// appendAudit appends a; on failure it counts and logs the error and
// returns it.
func (rn *Runner) appendAudit(ctx context.Context, log *slog.Logger, a *message.AuditRecord, verdict []byte) error {
	if rn.opts.Audit == nil {
		return nil
	}
	err := rn.opts.Audit.Append(ctx, a, verdict)
	if err != nil && ctx.Err() == nil {
		rn.metrics.AuditErrors.Inc()
		log.Error("append audit record", "id", a.ID, "action", a.Action, "err", err)
	}
	return err
}

// auditTakeover records that this replica took r over from prev ("" when
// the lease had been released); rev is the record's revision the takeover
// wrote, which names the record.
// The record carries on the template hash of the trail's latest record:
// the template the analysis was judged with, which this replica's first
// judgement compares its own with (a reload in between is recorded then).
func (rn *Runner) auditTakeover(ctx context.Context, r *record.Record, prev string, expired time.Time, rev uint64) {
	a := rn.auditBase(r, message.AuditTakeover, rn.clock.Now())
	if h := rn.lastTemplateHash(ctx, r); h != "" {
		a.TemplateHash = h
	}
	a.ID = r.ID + "-takeover-" + strconv.FormatUint(rev, 10)
	a.PreviousOwner = prev
	a.Reason = "resumed after its lease was released"
	switch prev {
	case "":
	case rn.opts.InstanceID:
		a.Reason = "resumed by the same replica after it restarted"
	default:
		a.Reason = "took over from " + prev + ", whose lease expired at " + expired.UTC().Format(time.RFC3339)
	}
	_ = rn.appendAudit(ctx, rn.logger.With("analysis_id", r.ID), a, nil)
}

// lastTemplateHash returns the template hash of r's latest audit record,
// "" when it has none or the trail cannot be read: what a runner
// compares the current template's with before its first judgement.
func (rn *Runner) lastTemplateHash(ctx context.Context, r *record.Record) string {
	if rn.opts.Audit == nil {
		return ""
	}
	a, err := rn.opts.Audit.Last(ctx, message.AuditSubject(r.Event.Namespace, r.Event.Service, r.ID))
	if err != nil {
		if !errors.Is(err, jetstream.ErrMsgNotFound) && ctx.Err() == nil {
			rn.logger.Warn("read the latest audit record", "analysis_id", r.ID, "err", err)
		}
		return ""
	}
	return a.TemplateHash
}

// auditTemplate records that the template r is judged with changed from
// the hash prev to cur (a config reload).
func (rn *Runner) auditTemplate(ctx context.Context, log *slog.Logger, r *record.Record, prev, cur string) {
	a := rn.auditBase(r, message.AuditTemplateChanged, rn.clock.Now())
	a.ID = r.ID + "-template-" + strconv.Itoa(r.Seq) + "-" + cur[len("sha256:"):]
	a.TemplateHash, a.PreviousHash = cur, prev
	a.Reason = "template " + r.Event.Template + " changed by a config reload: " + prev + " -> " + cur
	log.Info("template changed", "template", r.Event.Template, "from", prev, "to", cur)
	_ = rn.appendAudit(ctx, log, a, nil)
}
