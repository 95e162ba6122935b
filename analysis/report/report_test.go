package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
)

// moduleRoot walks up from the test's directory to the one holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var testNow = time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)

// replayData replays testdata/recordings/<name> with the template of
// testdata/recordings/config.yml and returns the report's data.
func replayData(t testing.TB, name string) *Data {
	t.Helper()
	return replayDataMeta(t, name, nil)
}

// replayDataMeta is replayData over a recording whose metadata is meta.
func replayDataMeta(t testing.TB, name string, meta map[string]string) *Data {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "testdata", "recordings")
	cfg, err := configs.LoadFile(filepath.Join(dir, "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := cfg.Template("scenario")
	if tmpl == nil {
		t.Fatal("no template scenario")
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := metrics.ReadRecording(f)
	if err != nil {
		t.Fatal(err)
	}
	if meta != nil {
		rec.Meta = meta
	}
	res, err := analysis.Replay(context.Background(), tmpl, rec)
	if err != nil {
		t.Fatal(err)
	}
	return FromReplay(Replay{Template: tmpl, Recording: rec, Result: res, Source: name, Generated: testNow})
}

func render(t testing.TB, d *Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// panelOrder returns the data-metric attributes of the metric panels in
// page order.
func panelOrder(page string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`<section class="panel metric[^"]*" id="metric-[^"]*" data-metric="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		names = append(names, m[1])
	}
	return names
}

func TestFromReplay(t *testing.T) {
	tests := []struct {
		recording string
		state     string
		verdict   analysis.Verdict
		first     string // the first metric panel
	}{
		{"regressed-p99.json", "rolled_back", analysis.Rollback, "latency_p99"},
		{"healthy.json", "succeeded", analysis.Promote, ""},
	}
	for _, tt := range tests {
		t.Run(tt.recording, func(t *testing.T) {
			d := replayData(t, tt.recording)
			if d.State != tt.state {
				t.Errorf("state %q, want %q", d.State, tt.state)
			}
			fin := d.FinalJudgement()
			if fin == nil || fin.Verdict != tt.verdict || !fin.Final {
				t.Fatalf("final judgement %+v, want a final %s", fin, tt.verdict)
			}
			// The series hold exactly the judged intervals.
			if got, want := len(d.Series.Intervals), len(d.Timeline); got != want {
				t.Errorf("%d series intervals for %d judgements", got, want)
			}
			page := render(t, d)
			order := panelOrder(page)
			if len(order) != 5 {
				t.Fatalf("metric panels %v, want 5", order)
			}
			if tt.first != "" && order[0] != tt.first {
				t.Errorf("first panel %s, want %s (panels %v)", order[0], tt.first, order)
			}
			for _, want := range []string{`id="timeline"`, `data-final-verdict="` + string(tt.verdict) + `"`, `data-state="` + tt.state + `"`} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %s", want)
				}
			}
		})
	}
}

func TestRenderSelfContained(t *testing.T) {
	page := render(t, replayData(t, "regressed-p99.json"))
	// Nothing is loaded from elsewhere: no scripts, no linked resources.
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)<link`),
		regexp.MustCompile(`(?i)\bsrc=`),
		regexp.MustCompile(`(?i)@import|@font-face|url\(`),
		regexp.MustCompile(`(?i)https?://[^"\s]*`),
	} {
		for _, m := range bad.FindAllString(page, -1) {
			if m == "http://www.w3.org/2000/svg" { // the SVG namespace, not a resource
				continue
			}
			t.Errorf("page refers to an outside resource: %q", m)
		}
	}
	// Every chart is there: the timeline, and per metric the interval,
	// series and distribution charts.
	if n := strings.Count(page, "<svg "); n != 1+5*3 {
		t.Errorf("%d charts, want %d", n, 1+5*3)
	}
	if strings.Contains(page, "NaN") {
		t.Error("page shows NaN")
	}
	// The recording names no service: the queries are shown as the
	// template writes them, and no made-up name appears.
	if !strings.Contains(page, `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=&#34;{{.Service}}&#34;,track=&#34;{{.Role}}&#34;}[1m])))`) {
		t.Error("page lacks the p99 query template")
	}
	for _, placeholder := range []string{"recorded-service", "(baseline) →"} {
		if strings.Contains(page, placeholder) {
			t.Errorf("page shows the placeholder %q", placeholder)
		}
	}
	// With a service and versions, the rendered PromQL is shown (escaped).
	page = render(t, replayDataMeta(t, "regressed-p99.json", map[string]string{"service": "checkout", "namespace": "shop", "baseline_version": "v1", "canary_version": "v2"}))
	for _, want := range []string{
		`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=&#34;checkout&#34;,track=&#34;canary&#34;}[1m])))`,
		`<span id="service">checkout</span> <span class="muted">in</span> shop`,
		`v1 <span class="muted">(baseline)</span>`, `v2 <span class="muted">(canary)</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestMetricOrder(t *testing.T) {
	res := func(name string, c analysis.Classification, dry, critical bool) analysis.MetricResult {
		return analysis.MetricResult{Name: name, Classification: c, DryRun: dry, Critical: critical}
	}
	tl := []Judgement{
		{Seq: 1, Metrics: []analysis.MetricResult{
			res("a", analysis.High, false, true), res("b", analysis.Pass, false, true),
			res("c", analysis.High, true, true), res("d", analysis.Pass, false, true),
			res("e", analysis.NoData, false, true), res("f", analysis.Inconclusive, false, false),
			res("g", analysis.Inconclusive, false, true), res("h", analysis.Low, false, true),
		}},
		// The latest result orders: a recovered, d regressed.
		{Seq: 2, Metrics: []analysis.MetricResult{
			res("a", analysis.Pass, false, true), res("b", analysis.Pass, false, true),
			res("c", analysis.High, true, true), res("d", analysis.High, false, true),
			res("e", analysis.NoData, false, true), res("f", analysis.Inconclusive, false, false),
			res("g", analysis.Inconclusive, false, true), res("h", analysis.Low, false, true),
		}},
	}
	var got []string
	for _, h := range histories(tl) {
		got = append(got, h.Name)
		if len(h.Results) != 2 || h.Seqs[1] != 2 {
			t.Errorf("%s: results %d, seqs %v", h.Name, len(h.Results), h.Seqs)
		}
	}
	want := "d h e g f a b c"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi      float64
		first, last float64
		step        float64
	}{
		{148.3, 340.8, 100, 350, 50},
		{0, 1, 0, 1, 0.2},
		{-0.035, 0.418, -0.1, 0.5, 0.1},
		{5, 5, 4.4, 5.6, 0.2},
		{0, 0, -1, 1, 0.5},
		{0.0031, 0.0062, 0.003, 0.007, 0.001},
	}
	for _, tt := range tests {
		ticks, step := niceTicks(tt.lo, tt.hi, 5)
		if math.Abs(step-tt.step) > 1e-12 || math.Abs(ticks[0]-tt.first) > 1e-9 || math.Abs(ticks[len(ticks)-1]-tt.last) > 1e-9 {
			t.Errorf("niceTicks(%v, %v) = %v step %v, want %v..%v step %v", tt.lo, tt.hi, ticks, step, tt.first, tt.last, tt.step)
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{1, 2, 3, 4}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.25, 1.75}, {0.5, 2.5}, {1, 4}} {
		if got := quantile(xs, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtPct(0.418), "+41.8%"},
		{fmtPct(-0.035), "−3.5%"},
		{fmtPct(math.NaN()), "—"},
		{fmtPct(math.Inf(1)), "+∞"},
		{fmtP(4.6e-11), "4.6e-11"},
		{fmtP(0.97431), "0.9743"},
		{fmtNum(243.852), "243.9"},
		{fmtNum(0.005291), "0.005291"},
		{fmtNum(0), "0"},
		{durationLabel(90), "1m30s"},
		{durationLabel(0), "0s"},
		{durationLabel(7200), "2h"},
		{tickLabel(0.30000000000000004, 0.1), "0.3"},
		{tickLabel(250000, 50000), "250k"},
		{pctTick(0.1, 0.1), "+10%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestRenderEdgeCases renders what the daemon can hold: an analysis with
// no judgement yet, one without samples, a metric with no data and NaN
// everywhere, and a recording with NaN points and an empty role.
func TestRenderEdgeCases(t *testing.T) {
	nan := analysis.Float(math.NaN())
	noData := analysis.MetricResult{Name: "rps", Classification: analysis.NoData, Direction: "decrease", AllowedChange: 0.1,
		PValue: nan, Alpha: nan, Change: nan, ChangeCI: [2]analysis.Float{nan, nan}, HLShift: nan, CI: [2]analysis.Float{nan, nan},
		RelShift: nan, RelCI: [2]analysis.Float{nan, nan}, Reason: "no data: the canary query returned nothing"}
	open := analysis.MetricResult{Name: "cpu", Classification: analysis.Inconclusive, Direction: "either", AllowedChange: 0.1, DryRun: true,
		PValue: 0.2, Alpha: 0.01, Change: 0.3, ChangeCI: [2]analysis.Float{analysis.Float(math.Inf(-1)), analysis.Float(math.Inf(1))},
		HLShift: nan, CI: [2]analysis.Float{nan, nan}, RelShift: nan, RelCI: [2]analysis.Float{nan, nan}}
	stale := noData
	stale.Classification, stale.Reason = analysis.Stale, "stale: the last canary sample is 4m old; 18 of 30 points repeat it (max_sample_age 1m); not judged"
	stale.BaselineFreshness = analysis.Freshness{Fresh: 30, Points: 30, LastSampleAge: 3}
	stale.CanaryFreshness = analysis.Freshness{Fresh: 12, Points: 30, LastSampleAge: 240}
	start := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	rec := &metrics.Recording{}
	rec.Record(0, start, start.Add(time.Minute), "cpu", metrics.Baseline, metrics.Samples{
		Times: []int64{start.UnixMilli() + 10000, start.UnixMilli() + 20000, start.UnixMilli() + 30000}, Values: []float64{1, math.NaN(), 3}})
	rec.Record(0, start, start.Add(time.Minute), "cpu", metrics.Canary, metrics.Samples{})
	tests := []struct {
		name string
		d    *Data
		want []string
	}{
		{"not judged", &Data{ID: "a1", State: "running", Steps: []float64{10, 100}}, []string{"No judgement yet."}},
		{"no samples", &Data{ID: "a2", State: "running", Steps: []float64{100}, SeriesNote: "the metrics source no longer has them",
			Timeline: []Judgement{{Seq: 1, Interval: 0, Step: 1, Weight: 100, NextWeight: 100, Verdict: analysis.Hold, Score: nan, Metrics: []analysis.MetricResult{noData}}}},
			[]string{"the metrics source no longer has them", "no estimate (no-data)", `data-metric="rps"`}},
		{"stale data", &Data{ID: "a4", State: "running", Steps: []float64{100},
			Timeline: []Judgement{{Seq: 1, Interval: 0, Step: 1, Weight: 100, NextWeight: 100, Verdict: analysis.Hold, Score: nan, Metrics: []analysis.MetricResult{stale}}}},
			[]string{"stale: the last canary sample is 4m old; 18 of 30 points repeat it", `data-classification="stale"`,
				"baseline 30 of 30 fresh, newest sample 3s old; canary 12 of 30 fresh, newest sample 4m old"}},
		{"sparse samples", &Data{ID: "a3", State: "running", Steps: []float64{100}, Series: rec,
			Timeline: []Judgement{{Seq: 1, Interval: 0, Start: start, End: start.Add(time.Minute), Step: 1, Weight: 100, NextWeight: 100, Verdict: analysis.Hold, Score: 50, Metrics: []analysis.MetricResult{open, noData}}}},
			[]string{"dry run", "04:00:00–04:01:00", "allowed −10.0%", "allowed +10.0%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := render(t, tt.d)
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
				t.Error("page shows NaN or Inf")
			}
		})
	}
}

type fakeSource struct {
	list []Summary
	data map[string]*Data
}

// Analyses pages s.list (newest first) as a daemon does, an analysis'
// id standing for its cursor.
func (s fakeSource) Analyses(_ context.Context, q Query) (Listing, error) {
	var l Listing
	started := q.Before == ""
	for _, a := range s.list {
		l.Total++
		if !slices.Contains(l.States, a.State) {
			l.States = append(l.States, a.State)
		}
		if !started {
			started = a.ID == q.Before
			continue
		}
		if (q.State == "" || a.State == q.State) && (q.Service == "" || a.Service == q.Service) {
			if len(l.Analyses) == q.Limit {
				l.Older = l.Analyses[len(l.Analyses)-1].ID
				continue
			}
			l.Analyses = append(l.Analyses, a)
		}
	}
	if !started {
		return l, fmt.Errorf("%w: before %q", ErrBadQuery, q.Before)
	}
	slices.Sort(l.States)
	return l, nil
}

func (s fakeSource) Analysis(_ context.Context, id string) (*Data, error) {
	if d, ok := s.data[id]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}

func TestHandler(t *testing.T) {
	d := replayData(t, "regressed-p99.json")
	src := fakeSource{
		list: []Summary{
			{ID: "a1", Service: "checkout", Namespace: "shop", Template: "http", State: "rolled_back", Step: 1, Steps: 3, Weight: 0, Judgements: 1, LastVerdict: analysis.Rollback, LastScore: 80},
			{ID: "a2", Service: "search", Namespace: "shop", Template: "http", State: "running", Step: 2, Steps: 3, Weight: 50, Judgements: 4, LastVerdict: analysis.Promote, LastScore: 100},
			{ID: "a3", Service: "checkout", Namespace: "shop", Template: "http", State: "running", Step: 1, Steps: 3, Weight: 10},
		},
		data: map[string]*Data{"a1": d},
	}
	srv := httptest.NewServer(Handler(src, slog.New(slog.DiscardHandler), func() time.Time { return testNow }))
	t.Cleanup(srv.Close)
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b), resp.Header
	}
	rowRE := regexp.MustCompile(`<tr class="analysis" data-id="([^"]+)"`)
	for _, tt := range []struct {
		query string
		ids   string
	}{
		{"", "a1 a2 a3"},
		{"?state=running", "a2 a3"},
		{"?service=checkout", "a1 a3"},
		{"?service=checkout&state=running", "a3"},
		{"?state=succeeded", ""},
		{"?limit=2", "a1 a2"},
		{"?limit=2&before=a2", "a3"},
		{"?service=checkout&limit=1&before=a1", "a3"},
	} {
		code, page, h := get("/analyses" + tt.query)
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /analyses%s: %d %s", tt.query, code, h.Get("Content-Type"))
		}
		var ids []string
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			ids = append(ids, m[1])
		}
		if strings.Join(ids, " ") != tt.ids {
			t.Errorf("GET /analyses%s lists %v, want %s", tt.query, ids, tt.ids)
		}
	}
	// The pages link to each other; a bad page token or size is the
	// client's error.
	if _, page, _ := get("/analyses?limit=2"); !strings.Contains(page, `id="older" href="?before=a2&amp;limit=2"`) || strings.Contains(page, `id="newest"`) {
		t.Errorf("first page of 2: no link to the older page, or one to the newest:\n%s", page)
	}
	if _, page, _ := get("/analyses?limit=2&before=a2"); !strings.Contains(page, `id="newest" href="?limit=2"`) || strings.Contains(page, `id="older"`) {
		t.Errorf("last page of 2: no link back to the newest, or one to an older page")
	}
	for _, q := range []string{"?before=nope", "?limit=0", "?limit=1001", "?limit=x"} {
		if code, _, _ := get("/analyses" + q); code != http.StatusBadRequest {
			t.Errorf("GET /analyses%s: %d, want 400", q, code)
		}
	}
	code, page, h := get("/analyses/a1")
	if code != http.StatusOK || !strings.Contains(page, `data-final-verdict="rollback"`) {
		t.Errorf("GET /analyses/a1: %d", code)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if code, _, _ := get("/analyses/nope"); code != http.StatusNotFound {
		t.Errorf("GET /analyses/nope: %d, want 404", code)
	}
}

func TestHandlerSourceError(t *testing.T) {
	src := errSource{errors.New("nats: connection closed")}
	srv := httptest.NewServer(Handler(src, slog.New(slog.DiscardHandler), time.Now))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/analyses", "/analyses/a1"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "connection closed") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
}

type errSource struct{ err error }

func (s errSource) Analyses(context.Context, Query) (Listing, error) { return Listing{}, s.err }
func (s errSource) Analysis(context.Context, string) (*Data, error)  { return nil, s.err }
