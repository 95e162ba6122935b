package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

//go:embed page
var pageFS embed.FS

// pages are the parsed templates; parsing is deterministic, so a failure
// is a programming error caught by every test.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct":    func(v analysis.Float) string { return fmtPct(float64(v)) },
	"p":      func(v analysis.Float) string { return fmtP(float64(v)) },
	"num":    fmtNum,
	"float":  func(v analysis.Float) float64 { return float64(v) },
	"score":  fmtScore,
	"fresh":  fmtFresh,
	"weight": fmtWeight,
	"utc":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"css":    func() template.CSS { return template.CSS(mustRead("page/style.css")) },
}).Funcs(overviewFuncs).ParseFS(pageFS, "page/*.html"))

// fmtFresh writes one role's freshness for the metric's facts: "12 of 30
// fresh, newest sample 4m old".
func fmtFresh(f analysis.Freshness) string {
	if !f.Known() {
		return "not known"
	}
	s := fmt.Sprintf("%d of %d fresh, ", f.Fresh, f.Points)
	if age := float64(f.LastSampleAge); age == age { // not NaN
		return s + "newest sample " + metrics.DescribeAge(time.Duration(age*float64(time.Second))) + " old"
	}
	return s + "no sample"
}

func mustRead(name string) string {
	b, err := pageFS.ReadFile(name)
	if err != nil {
		panic("report: " + err.Error())
	}
	return string(b)
}

// reportView is what page/report.html renders.
type reportView struct {
	*Data
	Final     *Judgement
	Headline  string
	Summary   string
	Chart     template.HTML
	Rows      []timelineRow
	Metrics   []metricView
	HasSeries bool
}

// timelineRow is one judgement in the timeline table.
type timelineRow struct {
	*Judgement
	Window string
}

// metricView is one metric's panel.
type metricView struct {
	Name     string
	Final    *analysis.MetricResult
	Deciding bool
	Series   template.HTML
	Dist     template.HTML
	Interval template.HTML
	Stats    []statRow
	Rows     []metricRow
	// Query is the unrendered query, for an analysis that names no service.
	Query string
}

// statRow describes one role's samples.
type statRow struct {
	Role                  string
	N, NaN                int
	Median, Mean, P90, SD string
}

// metricRow is the metric's result at one judgement.
type metricRow struct {
	Seq int
	analysis.MetricResult
}

// Render writes d as one self-contained HTML page: no scripts, fonts,
// style sheets or images from anywhere else.
func Render(w io.Writer, d *Data) error {
	d = clipRatioIntervals(d)
	v := reportView{Data: d, Final: d.FinalJudgement()}
	v.Headline, v.Summary = headline(d)
	if len(d.Timeline) > 0 {
		v.Chart = timelineChart(d.Timeline)
	}
	v.Rows = timelineRows(d.Timeline)
	v.HasSeries = d.Series != nil && len(d.Series.Intervals) > 0
	ws := windowsOf(d.Series, d.Timeline)
	for _, h := range histories(d.Timeline) {
		mv := metricView{Name: h.Name, Final: h.Final(), Deciding: h.Deciding(), Query: d.QueryTemplates[h.Name]}
		for i, r := range h.Results {
			mv.Rows = append(mv.Rows, metricRow{Seq: h.Seqs[i], MetricResult: r})
		}
		mv.Interval = intervalChart(h, d.Timeline)
		if v.HasSeries {
			b := seriesOf(d.Series, h.Name, metrics.Baseline)
			c := seriesOf(d.Series, h.Name, metrics.Canary)
			mv.Series = seriesChart(h.Name, b, c, ws)
			mv.Dist = distChart(h.Name, b.finite(), c.finite())
			mv.Stats = []statRow{stats("baseline", b), stats("canary", c)}
		}
		v.Metrics = append(v.Metrics, mv)
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "report.html", v); err != nil {
		return fmt.Errorf("render report %s: %w", d.ID, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// clipRatioIntervals returns d with the lower end of each relative change's
// interval raised to -100% for metrics whose recorded values are all
// non-negative: a canary cannot fall more than 100% below its baseline
// there, although the normal approximation of a ratio of means (linear
// scale) can put the bound below it. d itself is left alone.
func clipRatioIntervals(d *Data) *Data {
	if d.Series == nil {
		return d
	}
	nonNeg := map[string]bool{}
	for _, iv := range d.Series.Intervals {
		for name, roles := range iv.Metrics {
			ok, seen := nonNeg[name]
			if !seen {
				ok = true
			}
			for _, s := range roles {
				for _, v := range s.Values {
					ok = ok && !(v < 0)
				}
			}
			nonNeg[name] = ok
		}
	}
	cp := *d
	cp.Timeline = slices.Clone(d.Timeline)
	for i := range cp.Timeline {
		ms := slices.Clone(cp.Timeline[i].Metrics)
		for k := range ms {
			relative := ms[k].Test == spec.TestPaired || ms[k].Test == spec.TestMannWhitney
			if relative && nonNeg[ms[k].Name] && ms[k].ChangeCI[0] < -1 {
				ms[k].ChangeCI[0] = -1
			}
		}
		cp.Timeline[i].Metrics = ms
	}
	return &cp
}

// headline says in words where the analysis stands.
func headline(d *Data) (string, string) {
	j := d.FinalJudgement()
	var head string
	switch d.State {
	case "succeeded":
		head = "Promoted"
	case "rolled_back":
		head = "Rolled back"
	case "rolled_back_after_promotion":
		head = "Rolled back after promotion"
	case "expired":
		head = "Expired"
	case "aborted":
		head = "Aborted"
	case "running":
		head = "Running"
	case StateRecordingEnded:
		head = "Recording ended"
	default:
		head = d.State
	}
	if j == nil {
		return head, "No judgement yet."
	}
	what := "latest judgement"
	if j.Final {
		what = "final judgement"
	}
	return head, fmt.Sprintf("%s #%d at step %d of %d: %s, score %s; canary weight %s%% → %s%%.",
		upperFirst(what), j.Seq, j.Step, max(len(d.Steps), j.Step), j.Verdict, fmtScore(j.Score),
		fmtWeight(j.Weight), fmtWeight(j.NextWeight))
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// timelineRows formats the judged windows: wall-clock times when the
// recording had a clock, offsets from the first window otherwise (the
// minimal recording form has none).
func timelineRows(tl []Judgement) []timelineRow {
	var first time.Time
	for _, j := range tl {
		if !j.Start.IsZero() && (first.IsZero() || j.Start.Before(first)) {
			first = j.Start
		}
	}
	wall := first.Year() > 1971
	rows := make([]timelineRow, len(tl))
	for i := range tl {
		j := &tl[i]
		rows[i].Judgement = j
		switch {
		case j.Start.IsZero():
			rows[i].Window = "—"
		case wall:
			rows[i].Window = j.Start.UTC().Format("15:04:05") + "–" + j.End.UTC().Format("15:04:05")
		default:
			rows[i].Window = "+" + durationLabel(j.Start.Sub(first).Seconds()) + " to +" + durationLabel(j.End.Sub(first).Seconds())
		}
	}
	return rows
}

// stats summarises one role's samples over the analysis.
func stats(role string, s series) statRow {
	xs := slices.Sorted(slices.Values(s.finite()))
	r := statRow{Role: role, N: len(xs), NaN: len(s.values) - len(xs)}
	if len(xs) == 0 {
		r.Median, r.Mean, r.P90, r.SD = "—", "—", "—", "—"
		return r
	}
	var sum float64
	for _, v := range xs {
		sum += v
	}
	mean := sum / float64(len(xs))
	var ss float64
	for _, v := range xs {
		ss += (v - mean) * (v - mean)
	}
	sd := math.NaN()
	if len(xs) > 1 {
		sd = math.Sqrt(ss / float64(len(xs)-1))
	}
	r.Median, r.Mean, r.P90, r.SD = fmtNum(quantile(xs, 0.5)), fmtNum(mean), fmtNum(quantile(xs, 0.9)), fmtNum(sd)
	return r
}
