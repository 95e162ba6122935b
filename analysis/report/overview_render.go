package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/rollout/sli"
)

// Overview is the input of both overview pages.
type Overview struct {
	Rollouts []Rollout
	// Now is the end of every window; the pages are stamped with it.
	Now time.Time
	// Kept says how long the source keeps ended rollouts (0: unknown); a
	// window longer than that is marked partial.
	Kept time.Duration
	// ReportBase prefixes the links to analysis reports: "" for pages
	// served next to /analyses, a daemon's URL ending in "/" for a file.
	ReportBase string
	// Source says where the data comes from, for the footer.
	Source string
	// RollbackHours is how far back the on-call page lists rollbacks;
	// 0 means 6.
	RollbackHours int
}

// KeptFor says how long ended rollouts are kept: "7 days".
func (o *Overview) KeptFor() string {
	if d := o.Kept.Hours() / 24; d == math.Trunc(d) && d >= 1 {
		return strconv.FormatFloat(d, 'f', 0, 64) + " days"
	}
	return durationLabel(o.Kept.Seconds())
}

// leadsView is what page/overview.html renders.
type leadsView struct {
	*Overview
	Windows  []windowView
	Running  int
	Outcomes template.HTML
	Times    template.HTML
	Recent   []*Rollout
}

// windowView is one window's table.
type windowView struct {
	Name    string
	Partial bool
	Groups  []Stats
	All     Stats
}

// onCallView is what page/oncall.html renders.
type onCallView struct {
	*Overview
	Running   []*Rollout
	Rollbacks []*Rollout
	Hours     int
	Failing   int
	Holding   int
}

// RenderOverview writes the leads' overview: success ratio, durations,
// time to detect and to roll back per namespace and template over 1, 7
// and 30 days, with plots of the last 30 days.
func RenderOverview(w io.Writer, o *Overview) error {
	v := leadsView{Overview: o}
	for _, win := range Windows {
		groups, all := Summarise(o.Rollouts, o.Now, win.Span)
		v.Windows = append(v.Windows, windowView{Name: win.Name, Partial: o.Kept > 0 && o.Kept < win.Span, Groups: groups, All: all})
	}
	for i := range o.Rollouts {
		r := &o.Rollouts[i]
		if r.Running() {
			v.Running++
		} else if !r.EndedAt().IsZero() {
			v.Recent = append(v.Recent, r)
		}
	}
	slices.SortFunc(v.Recent, func(x, y *Rollout) int {
		return cmp.Or(y.EndedAt().Compare(x.EndedAt()), cmp.Compare(x.ID, y.ID))
	})
	v.Recent = v.Recent[:min(len(v.Recent), 20)]
	v.Outcomes = outcomesChart(o.Rollouts, o.Now)
	v.Times = timesChart(o.Rollouts, o.Now)
	return execute(w, "overview.html", v)
}

// RenderOnCall writes the on-call page: running rollouts, failing and
// holding ones first, and the rollbacks of the last hours.
func RenderOnCall(w io.Writer, o *Overview) error {
	v := onCallView{Overview: o, Hours: cmp.Or(o.RollbackHours, 6)}
	from := o.Now.Add(-time.Duration(v.Hours) * time.Hour)
	for i := range o.Rollouts {
		r := &o.Rollouts[i]
		switch {
		case r.Running():
			v.Running = append(v.Running, r)
			switch r.Attention() {
			case "failing":
				v.Failing++
			case "holding":
				v.Holding++
			}
		case (r.State == sli.OutcomeRolledBack || r.State == sli.OutcomeRolledBackAfterPromotion || r.State == sli.OutcomeAborted) && r.EndedAt().After(from):
			v.Rollbacks = append(v.Rollbacks, r)
		}
	}
	slices.SortFunc(v.Running, func(x, y *Rollout) int {
		return cmp.Or(cmp.Compare(onCallRank(x), onCallRank(y)), x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	slices.SortFunc(v.Rollbacks, func(x, y *Rollout) int {
		return cmp.Or(y.EndedAt().Compare(x.EndedAt()), cmp.Compare(x.ID, y.ID))
	})
	return execute(w, "oncall.html", v)
}

func execute(w io.Writer, name string, v any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// overviewFuncs are the template functions of the overview pages.
var overviewFuncs = template.FuncMap{
	"ratio":    fmtRatio,
	"secs":     fmtSeconds,
	"ago":      ago,
	"words":    func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"duration": func(r *Rollout) string { return fmtDuration(r.Duration()) },
	"detect":   func(r *Rollout) string { return fmtDuration(r.TimeToDetect()) },
	"rollBack": func(r *Rollout) string { return fmtDuration(r.TimeToRollBack()) },
	"outcome":  outcomeClass,
}

// fmtRatio formats a ratio as a percentage; NaN (nothing to divide by) is
// an em dash.
func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

// fmtSeconds formats a duration in seconds for a table: 45s, 3m20s,
// 1h5m; below 10 s with a decimal, below 1 s in ms; NaN is an em dash.
func fmtSeconds(s float64) string {
	switch {
	case math.IsNaN(s):
		return "—"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	case s >= 2*86400:
		h := math.Round(s / 3600)
		if math.Mod(h, 24) == 0 {
			return fmt.Sprintf("%.0fd", h/24)
		}
		return fmt.Sprintf("%.0fd%.0fh", math.Floor(h/24), math.Mod(h, 24))
	case s >= 3600:
		return durationLabel(math.Round(s/60) * 60)
	}
	return durationLabel(s)
}

// fmtDuration formats a rollout's duration as fmtSeconds does; "—" when
// it does not apply.
func fmtDuration(d time.Duration, ok bool) string {
	if !ok {
		return "—"
	}
	return fmtSeconds(d.Seconds())
}

// ago formats how long before now t was: 5m ago.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return fmtSeconds(math.Max(now.Sub(t).Seconds(), 0)) + " ago"
}

// outcomeClass maps an outcome to the style sheet's verdict colours.
func outcomeClass(outcome string) string {
	switch outcome {
	case sli.OutcomeSucceeded:
		return "v-promote"
	case sli.OutcomeRolledBack, sli.OutcomeRolledBackAfterPromotion:
		return "v-rollback"
	case sli.OutcomeExpired:
		return "v-hold"
	}
	return "strip"
}

// outcomesChart draws the rollouts that ended on each of the last 30
// days, stacked by outcome.
func outcomesChart(rs []Rollout, now time.Time) template.HTML {
	const days = 30
	day0 := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	counts := make([]map[string]int, days)
	peak := 0
	for i := range rs {
		end := rs[i].EndedAt()
		if end.IsZero() || end.Before(day0) || end.After(now) {
			continue
		}
		d := int(end.Sub(day0) / (24 * time.Hour))
		if d < 0 || d >= days {
			continue
		}
		if counts[d] == nil {
			counts[d] = map[string]int{}
		}
		counts[d][rs[i].State]++
	}
	for _, c := range counts {
		n := 0
		for _, v := range c {
			n += v
		}
		peak = max(peak, n)
	}
	w, h := wideWidth, 220.0
	c := newCanvas(w, h, "Rollouts ended per day over the last 30 days, by outcome")
	ticks, step := niceTicks(0, float64(max(peak, 1)), 4)
	ticks = slices.DeleteFunc(ticks, func(v float64) bool { return v != math.Trunc(v) })
	x := scale{0, days, padLeft, w - padRight}
	y := scale{0, ticks[len(ticks)-1], h - padBottom, padTop}
	for _, t := range ticks {
		c.line(padLeft, y.at(t), w-padRight, y.at(t), "grid")
		c.text(padLeft-6, y.at(t)+4, "end", "tick", tickLabel(t, max(step, 1)))
	}
	bw := (x.at(1) - x.at(0)) * 0.72
	for d := range days {
		base := 0
		for _, o := range sli.Outcomes {
			n := counts[d][o]
			if n == 0 {
				continue
			}
			day := day0.AddDate(0, 0, d)
			c.group(fmt.Sprintf("%s: %d %s", day.Format("Mon 2 Jan"), n, strings.ReplaceAll(o, "_", " ")))
			c.rect(x.at(float64(d))+(x.at(1)-x.at(0)-bw)/2, y.at(float64(base+n)), bw, y.at(float64(base))-y.at(float64(base+n)), "bar "+outcomeClass(o))
			c.end()
			base += n
		}
		if d%5 == 4 || d == days-1 {
			c.text(x.at(float64(d)+0.5), h-padBottom+16, "middle", "tick", day0.AddDate(0, 0, d).Format("2 Jan"))
		}
	}
	c.line(padLeft, h-padBottom, w-padRight, h-padBottom, "axis")
	c.text(padLeft, h-6, "start", "axis-title", "day the rollout ended (UTC)")
	return c.html()
}

// timesChart plots each rollout that ended in the last 30 days: when it
// ended against its duration (log scale), coloured by outcome, with its
// time to detect for rollbacks.
func timesChart(rs []Rollout, now time.Time) template.HTML {
	from := now.Add(-30 * 24 * time.Hour)
	type pt struct {
		t    time.Time
		secs float64
		r    *Rollout
	}
	var pts []pt
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range rs {
		r := &rs[i]
		d, ok := r.Duration()
		end := r.EndedAt()
		if !ok || end.Before(from) || end.After(now) {
			continue
		}
		s := math.Max(d.Seconds(), 1)
		pts = append(pts, pt{end, s, r})
		lo, hi = math.Min(lo, s), math.Max(hi, s)
	}
	w, h := wideWidth, 240.0
	c := newCanvas(w, h, "Duration of each rollout that ended in the last 30 days, from its deploy event to its final verdict")
	if len(pts) == 0 {
		c.text(w/2, h/2, "middle", "note", "No rollout ended in the last 30 days.")
		return c.html()
	}
	// Log-scale axis over whole powers of ten of seconds, ticks at round
	// durations.
	l0, l1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if l1 <= l0 {
		l1 = l0 + 1
	}
	y := scale{l0, l1, h - padBottom, padTop}
	x := scale{float64(from.Unix()), float64(now.Unix()), padLeft, w - padRight}
	for _, t := range []float64{1, 10, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400} {
		if l := math.Log10(t); l >= l0 && l <= l1 {
			c.line(padLeft, y.at(l), w-padRight, y.at(l), "grid")
			c.text(padLeft-6, y.at(l)+4, "end", "tick", durationLabel(t))
		}
	}
	for d := 0; d <= 30; d += 5 {
		t := now.Add(-time.Duration(30-d) * 24 * time.Hour)
		c.text(x.at(float64(t.Unix())), h-padBottom+16, tickAnchor(x.at(float64(t.Unix())), w), "tick", t.UTC().Format("2 Jan"))
	}
	c.line(padLeft, h-padBottom, w-padRight, h-padBottom, "axis")
	for _, p := range pts {
		tip := fmt.Sprintf("%s (%s in %s): %s after %s", p.r.ID, p.r.Template, p.r.Namespace, strings.ReplaceAll(p.r.State, "_", " "), fmtSeconds(p.secs))
		if d, ok := p.r.TimeToDetect(); ok {
			tip += ", detected " + fmtSeconds(d.Seconds()) + " after its analysis started"
		}
		c.group(tip)
		c.circle(x.at(float64(p.t.Unix())), y.at(math.Log10(p.secs)), 4, "dot "+outcomeClass(p.r.State))
		c.end()
	}
	c.text(padLeft, h-6, "start", "axis-title", "when the rollout ended (UTC); height: deploy event to final verdict (log scale)")
	return c.html()
}
