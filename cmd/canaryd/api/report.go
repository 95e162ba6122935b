package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// reportFetchTimeout bounds the queries of one report page.
const reportFetchTimeout = 30 * time.Second

// reportSource serves the report pages (GET /analyses and
// /analyses/{id}) from the key-value store.
//
// The daemon keeps no samples: when a report is requested, it queries the
// metrics source again for each judged window of the verdict history (at
// most record.HistoryCap windows, the same queries and windows as the
// judgements), through the current config's template. This keeps the
// bucket small and costs queries only when someone looks. The price: a
// window older than the source's retention comes back empty, and a
// template changed by a reload renders its current queries; the evidence
// (changes, intervals, p-values, classifications) always comes from the
// stored verdicts, which do not change.
type reportSource struct{ a *API }

// Analyses lists a page of the stored analyses, newest first: the index
// (record.Store's FindNewest and Facets) names them without reading a
// record, and only the page's records are read, as summaries.
func (s reportSource) Analyses(ctx context.Context, q report.Query) (report.Listing, error) {
	st := s.a.store()
	if st == nil {
		return report.Listing{}, errors.New("not started")
	}
	if q.Before != "" && !record.ValidCursor(q.Before) {
		return report.Listing{}, fmt.Errorf("%w: before %q is not a token a page linked to", report.ErrBadQuery, q.Before)
	}
	var l report.Listing
	var err error
	if l.States, l.Total, err = st.Facets(ctx); err != nil {
		return l, err
	}
	page, more, err := st.FindNewest(ctx, "", q.Service, q.State, q.Before, q.Limit)
	if err != nil {
		return l, err
	}
	if more {
		l.Older = page[len(page)-1].Cursor
	}
	recs, errs := s.a.summaries(ctx, page)
	for i, e := range page {
		switch err := errs[i]; {
		case errors.Is(err, record.ErrNotFound): // left the bucket (its TTL)
			st.Forget(e)
			continue
		case errors.Is(err, record.ErrUnreadable):
			l.Analyses = append(l.Analyses, report.Summary{ID: e.ID(), Service: e.Service, Namespace: e.Namespace, State: e.State, Error: err.Error()})
			continue
		case err != nil:
			return l, err
		}
		r := recs[i]
		if q.State != "" && r.State() != q.State {
			continue // ended since the index was read
		}
		sum := report.Summary{
			ID:         r.ID,
			Service:    r.Event.Service,
			Namespace:  r.Event.Namespace,
			Template:   r.Event.Template,
			State:      r.State(),
			Step:       r.Step(),
			Steps:      len(r.Plan.Steps),
			Weight:     r.Weight(),
			Judgements: r.Judgements(),
			UpdatedAt:  r.UpdatedAt,
		}
		if v := r.Latest(); v != nil {
			sum.LastVerdict, sum.LastScore = v.Verdict, v.Score
		}
		l.Analyses = append(l.Analyses, sum)
	}
	return l, nil
}

// Report returns analysis id's report data, as its page shows it.
func (a *API) Report(ctx context.Context, id string) (*report.Data, error) {
	return reportSource{a}.Analysis(ctx, id)
}

// Analysis returns one analysis' report data with its series fetched
// again.
func (s reportSource) Analysis(ctx context.Context, id string) (*report.Data, error) {
	if s.a.store() == nil {
		return nil, errors.New("not started")
	}
	if !message.ValidID(id) {
		return nil, fmt.Errorf("analysis %q: %w", id, report.ErrNotFound)
	}
	r, _, err := s.a.store().Get(ctx, id)
	if errors.Is(err, record.ErrNotFound) {
		return nil, fmt.Errorf("analysis %q: %w", id, report.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	d := &report.Data{
		ID:        r.ID,
		Service:   r.Event.Service,
		Namespace: r.Event.Namespace,
		Template:  r.Event.Template,
		Baseline:  r.Event.Baseline,
		Canary:    r.Event.Canary,
		State:     r.State(),
		Steps:     r.Plan.Steps,
		Source:    "canaryd instance " + s.a.opts.InstanceID,
		Timeline:  timelineOf(r),
	}
	s.fetchSeries(ctx, r, d)
	s.auditRows(ctx, r.ID, d)
	return d, nil
}

// reportAuditRows bounds the audit records a report page shows.
const reportAuditRows = 500

// auditRows fills d's audit table from the analysis' audit trail: its
// first reportAuditRows records, and a note when more follow or some
// cannot be read.
func (s reportSource) auditRows(ctx context.Context, id string, d *report.Data) {
	log := s.a.opts.Audit
	if log == nil || log() == nil {
		return
	}
	entries, more, err := log().Page(ctx, id, 0, reportAuditRows)
	if err != nil {
		d.AuditNote = "the audit trail could not be read: " + err.Error()
		return
	}
	unreadable := 0
	for _, e := range entries {
		if e.Err != nil {
			unreadable++
			continue
		}
		a := &e.Record
		d.Audit = append(d.Audit, report.AuditRow{At: a.At, Actor: a.Actor.Kind + " " + a.Actor.Name, Action: a.Action, Reason: a.Reason})
	}
	var notes []string
	if unreadable > 0 {
		notes = append(notes, fmt.Sprintf("%d record(s) written by a later canaryd are not shown", unreadable))
	}
	if more {
		notes = append(notes, fmt.Sprintf("only the first %d records are shown; GET /api/v1/analyses/%s/audit pages through all", reportAuditRows, id))
	}
	d.AuditNote = strings.Join(notes, "; ")
}

// timelineOf turns the verdict history into the report's timeline. The
// history's judged verdicts are the latest judgements, so counting back
// from the number of judgements gives each its index and window; an abort
// judged nothing.
func timelineOf(r *record.Record) []report.Judgement {
	tl := make([]report.Judgement, len(r.History))
	k := r.Judgements() - 1
	for i := len(r.History) - 1; i >= 0; i-- {
		v := &r.History[i]
		j := report.Judgement{
			Seq: v.Seq, Interval: -1, Step: v.Step, Weight: v.Weight, NextWeight: v.NextWeight,
			Verdict: v.Verdict, Final: v.Final, Outcome: v.Outcome, Score: v.Score, Reason: v.Reason,
			Metrics: v.Metrics, IssuedAt: v.IssuedAt, AwaitingApproval: v.AwaitingApproval, Approval: v.Approval, Budget: v.Budget,
		}
		if v.Outcome != rollout.Aborted && v.Approval == nil && k >= 0 {
			j.Interval = k
			j.Start = r.Start.Add(time.Duration(k) * r.Interval)
			j.End = j.Start.Add(r.Interval)
			k--
		}
		tl[i] = j
	}
	return tl
}

// fetchSeries queries the judged windows of d's timeline again and keeps
// the samples in d.Series; what it cannot fetch it says in d.SeriesNote.
func (s reportSource) fetchSeries(ctx context.Context, r *record.Record, d *report.Data) {
	tmpl := s.a.opts.Config().Template(r.Event.Template)
	if tmpl == nil {
		d.SeriesNote = fmt.Sprintf("template %q is no longer in the config, so its queries cannot be run again.", r.Event.Template)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reportFetchTimeout)
	defer cancel()
	rec := &metrics.Recording{Version: metrics.RecordingVersion, Meta: map[string]string{"analysis": r.ID}}
	var problems []string
	for _, j := range d.Timeline {
		if j.Interval < 0 {
			continue
		}
		in, err := analysis.Fetch(ctx, s.a.opts.Source(), s.a.opts.Companions, tmpl, r.Event.Target(), j.Interval, j.Start, j.End, rec)
		if err != nil {
			problems = append(problems, fmt.Sprintf("judgement #%d: %v", j.Seq, err))
			continue
		}
		for i := range in {
			if in[i].Err != nil {
				problems = append(problems, fmt.Sprintf("judgement #%d %s: %v", j.Seq, tmpl.Metrics[i].Name, in[i].Err))
			}
		}
	}
	if len(rec.Intervals) > 0 {
		d.Series = rec
	}
	if len(problems) > 0 {
		const maxShown = 3
		more := ""
		if len(problems) > maxShown {
			more = fmt.Sprintf(" (and %d more)", len(problems)-maxShown)
			problems = problems[:maxShown]
		}
		d.SeriesNote = "the metrics source did not answer every query again: " + strings.Join(problems, "; ") + more
		s.a.opts.Logger.Warn("report: fetch series", "analysis_id", r.ID, "problems", len(problems))
	}
}
