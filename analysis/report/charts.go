package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// Chart geometry, in CSS pixels: the charts are drawn at the size they are
// shown, so their text stays at the page's text size.
const (
	wideWidth   = 1120.0
	narrowWidth = 420.0
	padLeft     = 58.0
	padRight    = 18.0
	padTop      = 14.0
	padBottom   = 40.0
)

// series is one role's points of one metric over the whole analysis.
type series struct {
	times  []int64 // unix ms
	values []float64
}

// finite returns the finite values of s.
func (s series) finite() []float64 {
	out := make([]float64, 0, len(s.values))
	for _, v := range s.values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// seriesOf concatenates metric's samples for role over every interval of
// rec, in interval order.
func seriesOf(rec *metrics.Recording, metric string, role metrics.Role) series {
	var s series
	if rec == nil {
		return s
	}
	for _, iv := range rec.Intervals {
		smp := iv.Metrics[metric][role]
		s.times = append(s.times, smp.Times...)
		s.values = append(s.values, smp.Values...)
	}
	return s
}

// window is one judged interval on the time axis.
type window struct {
	start, end int64 // unix ms
	seq        int
	verdict    analysis.Verdict
}

// windowsOf returns the judged windows of the timeline for which the
// recording has an interval.
func windowsOf(rec *metrics.Recording, tl []Judgement) []window {
	if rec == nil {
		return nil
	}
	var ws []window
	for _, j := range tl {
		for _, iv := range rec.Intervals {
			if iv.Index == j.Interval && !iv.Start.IsZero() {
				ws = append(ws, window{iv.Start.UnixMilli(), iv.End.UnixMilli(), j.Seq, j.Verdict})
			}
		}
	}
	return ws
}

// seriesChart draws baseline and canary over time on one chart, with the
// judged windows shaded and a strip in each window's verdict colour.
func seriesChart(metric string, b, c series, ws []window) template.HTML {
	w, h := wideWidth, 250.0
	cv := newCanvas(w, h, metric+": baseline and canary over time")
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range []series{b, c} {
		if len(s.times) > 0 {
			t0, t1 = min(t0, s.times[0]), max(t1, s.times[len(s.times)-1])
		}
	}
	for _, wn := range ws {
		t0, t1 = min(t0, wn.start), max(t1, wn.end)
	}
	vals := append(b.finite(), c.finite()...)
	if t0 > t1 || len(vals) == 0 {
		cv.text(w/2, h/2, "middle", "note", "no finite samples recorded")
		return cv.html()
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	yt, ystep := niceTicks(lo, hi, 5)
	span := float64(t1-t0) / 1000
	xt, _ := durationTicks(span, 8)
	x := scale{0, max(span, 1), padLeft, w - padRight}
	y := scale{yt[0], yt[len(yt)-1], h - padBottom, padTop + 10}
	top, bottom := padTop+10, h-padBottom

	for i, wn := range ws {
		x0, x1 := x.at(float64(wn.start-t0)/1000), x.at(float64(wn.end-t0)/1000)
		if i%2 == 1 {
			cv.rect(x0, top, x1-x0, bottom-top, "window-alt")
		}
		cv.group(fmt.Sprintf("judgement #%d: %s", wn.seq, wn.verdict))
		cv.rect(x0+0.5, padTop-4, x1-x0-1, 14, "strip v-"+string(wn.verdict))
		if x1-x0 >= 26 {
			cv.text((x0+x1)/2, padTop+7, "middle", "window-label", fmt.Sprintf("#%d", wn.seq))
		}
		cv.end()
	}
	for _, v := range yt {
		cv.line(padLeft, y.at(v), w-padRight, y.at(v), "grid")
		cv.text(padLeft-6, y.at(v)+4, "end", "tick", tickLabel(v, ystep))
	}
	for _, v := range xt {
		cv.line(x.at(v), bottom, x.at(v), bottom+4, "axis")
		cv.text(x.at(v), bottom+17, tickAnchor(x.at(v), w), "tick", durationLabel(v))
	}
	cv.line(padLeft, bottom, w-padRight, bottom, "axis")
	cv.text(w-padRight, h-4, "end", "axis-title", "time since the first judged window")
	for _, s := range []struct {
		s     series
		class string
	}{{b, "baseline"}, {c, "canary"}} {
		cv.path(linePath(s.s, t0, x, y), "line "+s.class)
	}
	return cv.html()
}

// linePath draws s as a polyline that breaks at NaN and ±Inf points and
// across gaps longer than three typical steps.
func linePath(s series, t0 int64, x, y scale) string {
	if len(s.times) == 0 {
		return ""
	}
	var steps []int64
	for i := 1; i < len(s.times); i++ {
		steps = append(steps, s.times[i]-s.times[i-1])
	}
	gap := int64(math.MaxInt64)
	if len(steps) > 0 {
		slices.Sort(steps)
		gap = 3 * max(steps[len(steps)/2], 1)
	}
	var b strings.Builder
	pen := false
	for i, t := range s.times {
		v := s.values[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			pen = false
			continue
		}
		if i > 0 && t-s.times[i-1] > gap {
			pen = false
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%s %s ", cmd, f(x.at(float64(t-t0)/1000)), f(y.at(v)))
		pen = true
	}
	return strings.TrimSpace(b.String())
}

// quantile returns the q-quantile of sorted xs by linear interpolation
// between order statistics (Hyndman and Fan's type 7):
//
//	h = (n−1)·q,  Q(q) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])
//
// It returns NaN for an empty xs.
func quantile(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * q
	i := int(math.Floor(h))
	if i >= n-1 {
		return xs[n-1]
	}
	return xs[i] + (h-float64(i))*(xs[i+1]-xs[i])
}

// distChart draws the two distributions side by side: their empirical
// CDFs on one axis and, below on the same value axis, a box plot of each
// (box from the first to the third quartile, the median, whiskers to the
// furthest points within 1.5 interquartile ranges, points beyond drawn
// alone).
func distChart(metric string, bv, cv []float64) template.HTML {
	w, h := narrowWidth, 300.0
	c := newCanvas(w, h, metric+": distributions of baseline and canary")
	b, k := slices.Sorted(slices.Values(bv)), slices.Sorted(slices.Values(cv))
	all := append(slices.Clone(b), k...)
	if len(all) == 0 {
		c.text(w/2, h/2, "middle", "note", "no finite samples recorded")
		return c.html()
	}
	xt, xstep := niceTicks(slices.Min(all), slices.Max(all), 5)
	x := scale{xt[0], xt[len(xt)-1], padLeft, w - padRight}
	ecdfTop, ecdfBottom := padTop, 180.0
	y := scale{0, 1, ecdfBottom, ecdfTop}
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.line(padLeft, y.at(p), w-padRight, y.at(p), "grid")
		c.text(padLeft-6, y.at(p)+4, "end", "tick", fmt.Sprintf("%.0f%%", p*100))
	}
	for _, s := range []struct {
		xs    []float64
		class string
	}{{b, "baseline"}, {k, "canary"}} {
		if len(s.xs) == 0 {
			continue
		}
		var d strings.Builder
		n := float64(len(s.xs))
		fmt.Fprintf(&d, "M%s %s", f(x.at(s.xs[0])), f(y.at(0)))
		for i, v := range s.xs {
			fmt.Fprintf(&d, " H%s V%s", f(x.at(v)), f(y.at(float64(i+1)/n)))
		}
		fmt.Fprintf(&d, " H%s", f(w-padRight))
		c.path(d.String(), "line step "+s.class)
	}
	// Box plots.
	rows := []struct {
		xs           []float64
		class, label string
	}{{b, "baseline", "baseline"}, {k, "canary", "canary"}}
	for i, r := range rows {
		cy := ecdfBottom + 30 + float64(i)*34
		c.text(padLeft-6, cy+4, "end", "tick", r.label)
		if len(r.xs) == 0 {
			c.text(padLeft+4, cy+4, "start", "note", "no samples")
			continue
		}
		q1, med, q3 := quantile(r.xs, 0.25), quantile(r.xs, 0.5), quantile(r.xs, 0.75)
		fence := 1.5 * (q3 - q1)
		wlo, whi := q1, q3
		for _, v := range r.xs {
			if v >= q1-fence {
				wlo = min(wlo, v)
			}
			if v <= q3+fence {
				whi = max(whi, v)
			}
		}
		c.group(fmt.Sprintf("%s: n=%d, median %s, quartiles %s to %s", r.label, len(r.xs), fmtNum(med), fmtNum(q1), fmtNum(q3)))
		c.line(x.at(wlo), cy, x.at(q1), cy, "whisker")
		c.line(x.at(q3), cy, x.at(whi), cy, "whisker")
		c.line(x.at(wlo), cy-6, x.at(wlo), cy+6, "whisker")
		c.line(x.at(whi), cy-6, x.at(whi), cy+6, "whisker")
		c.rect(x.at(q1), cy-10, x.at(q3)-x.at(q1), 20, "box "+r.class)
		c.line(x.at(med), cy-10, x.at(med), cy+10, "median")
		for _, v := range r.xs {
			if v < wlo || v > whi {
				c.circle(x.at(v), cy, 2.5, "outlier "+r.class)
			}
		}
		c.end()
	}
	axisY := h - padBottom + 6
	c.line(padLeft, axisY, w-padRight, axisY, "axis")
	for _, v := range xt {
		c.line(x.at(v), axisY, x.at(v), axisY+4, "axis")
		c.text(x.at(v), axisY+17, tickAnchor(x.at(v), w), "tick", tickLabel(v, xstep))
	}
	return c.html()
}

// intervalChart draws, one row per judgement, the canary's relative change
// against the baseline with its interval, next to the allowed change: an
// interval entirely beyond the margin line is a confirmed regression.
func intervalChart(hist *metricHistory, tl []Judgement) template.HTML {
	rows := len(hist.Results)
	rowH := 26.0
	labelW := 150.0
	w := wideWidth
	h := padTop + 22 + float64(rows)*rowH + padBottom
	c := newCanvas(w, h, hist.Name+": change against the allowed change")
	final := hist.Final()
	allowed := float64(final.AllowedChange)
	var margins []float64
	if !math.IsNaN(allowed) && !math.IsInf(allowed, 0) {
		switch final.Direction {
		case spec.DirectionDecrease:
			margins = []float64{-allowed}
		case spec.DirectionEither:
			margins = []float64{-allowed, allowed}
		default:
			margins = []float64{allowed}
		}
	}
	vals := append([]float64{0}, margins...)
	for _, r := range hist.Results {
		for _, v := range []analysis.Float{r.Change, r.ChangeCI[0], r.ChangeCI[1]} {
			if fv := float64(v); !math.IsNaN(fv) && !math.IsInf(fv, 0) {
				vals = append(vals, fv)
			}
		}
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	pad := (hi - lo) * 0.06
	xt, xstep := niceTicks(lo-pad, hi+pad, 8)
	x := scale{xt[0], xt[len(xt)-1], labelW, w - padRight}
	top, bottom := padTop+22, h-padBottom
	// The region past the margin, where a regression lies.
	for _, m := range margins {
		if m >= 0 {
			c.rect(x.at(m), top, w-padRight-x.at(m), bottom-top, "beyond")
		} else {
			c.rect(labelW, top, x.at(m)-labelW, bottom-top, "beyond")
		}
	}
	for _, v := range xt {
		c.line(x.at(v), top, x.at(v), bottom, "grid")
		c.text(x.at(v), bottom+17, tickAnchor(x.at(v), w), "tick", pctTick(v, xstep))
	}
	c.line(x.at(0), top, x.at(0), bottom, "zero")
	for _, m := range margins {
		c.line(x.at(m), top-4, x.at(m), bottom, "margin")
		c.text(x.at(m), top-8, "middle", "margin-label", "allowed "+fmtPct(m))
	}
	c.line(labelW, bottom, w-padRight, bottom, "axis")
	c.text(w-padRight, h-4, "end", "axis-title", "canary vs baseline (relative change)")

	seqIdx := map[int]int{}
	for i, j := range tl {
		seqIdx[j.Seq] = i
	}
	for i, r := range hist.Results {
		cy := top + rowH*(float64(i)+0.5)
		j := tl[seqIdx[hist.Seqs[i]]]
		label := fmt.Sprintf("#%d · step %d · %s%%", j.Seq, j.Step, fmtWeight(j.Weight))
		c.text(labelW-10, cy+4, "end", "tick", label)
		class := "c-" + string(r.Classification)
		est, l, u := float64(r.Change), float64(r.ChangeCI[0]), float64(r.ChangeCI[1])
		c.group(fmt.Sprintf("judgement #%d: %s, change %s (interval %s to %s), p = %s", j.Seq, r.Classification, fmtPct(est), fmtPct(l), fmtPct(u), fmtP(float64(r.PValue))))
		if math.IsNaN(est) && math.IsNaN(l) && math.IsNaN(u) {
			c.text(labelW+8, cy+4, "start", "note", "no estimate ("+string(r.Classification)+")")
			c.end()
			continue
		}
		if !math.IsNaN(l) && !math.IsNaN(u) {
			xl, xu := x.clamp(l), x.clamp(u)
			c.line(xl, cy, xu, cy, "ci "+class)
			if !math.IsInf(l, 0) {
				c.line(xl, cy-6, xl, cy+6, "ci "+class)
			}
			if !math.IsInf(u, 0) {
				c.line(xu, cy-6, xu, cy+6, "ci "+class)
			}
		}
		if !math.IsNaN(est) && !math.IsInf(est, 0) {
			c.circle(x.at(est), cy, 5, "est "+class)
		}
		c.end()
	}
	return c.html()
}

// timelineChart draws the canary weight over the judgements, one marker
// per verdict in its colour with the score above it.
func timelineChart(tl []Judgement) template.HTML {
	w, h := wideWidth, 170.0
	c := newCanvas(w, h, "verdict timeline: canary weight and verdict of every judgement")
	n := len(tl)
	x := scale{0, float64(n), padLeft, w - padRight}
	y := scale{0, 100, h - padBottom, padTop + 22}
	for _, p := range []float64{0, 25, 50, 75, 100} {
		c.line(padLeft, y.at(p), w-padRight, y.at(p), "grid")
		c.text(padLeft-6, y.at(p)+4, "end", "tick", fmt.Sprintf("%.0f%%", p))
	}
	var d strings.Builder
	for i, j := range tl {
		x0, x1 := x.at(float64(i)), x.at(float64(i+1))
		if i == 0 {
			fmt.Fprintf(&d, "M%s %s", f(x0), f(y.at(j.Weight)))
		} else {
			fmt.Fprintf(&d, " V%s", f(y.at(j.Weight)))
		}
		fmt.Fprintf(&d, " H%s", f(x1))
		if i == n-1 {
			fmt.Fprintf(&d, " V%s", f(y.at(j.NextWeight)))
		}
	}
	c.path(d.String(), "weight")
	every := max(1, int(math.Ceil(float64(n)*34/(w-padLeft-padRight))))
	for i, j := range tl {
		cx := (x.at(float64(i)) + x.at(float64(i+1))) / 2
		cy := y.at(j.Weight)
		c.group(fmt.Sprintf("#%d step %d at %s%%: %s, score %s → %s%%. %s", j.Seq, j.Step, fmtWeight(j.Weight), j.Verdict, fmtScore(j.Score), fmtWeight(j.NextWeight), j.Reason))
		c.circle(cx, cy, 7, "marker v-"+string(j.Verdict))
		c.end()
		if i%every == 0 || i == n-1 {
			c.text(cx, cy-12, "middle", "score", fmtScore(j.Score))
			c.text(cx, h-padBottom+17, "middle", "tick", fmt.Sprintf("#%d", j.Seq))
		}
	}
	c.line(padLeft, h-padBottom, w-padRight, h-padBottom, "axis")
	c.text(w-padRight, h-4, "end", "axis-title", "judgement (marker: verdict, above: score; line: canary weight)")
	return c.html()
}

// tickAnchor centres a tick label under its tick, except near the right
// edge of a chart w wide, where the label ends at the tick so that it is
// not cut off.
func tickAnchor(x, w float64) string {
	if x > w-padRight-12 {
		return "end"
	}
	return "middle"
}
