package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder follows the verdicts on NATS: which judgements of the measured
// time were made and how long after their interval ended each arrived.
type recorder struct {
	interval time.Duration
	factor   float64
	now      func() time.Time // the daemon's clock, unaligned

	received atomic.Int64
	bytes    atomic.Int64

	mu         sync.Mutex
	firstDue   []int64 // unix ns of each analysis' first judgement; 0 before it started
	lastSeq    []int32
	from, to   int64         // due times measured
	want       int           // judgements due in [from, to]
	all        chan struct{} // closed when every one of them was made
	made       int
	duplicates int
	unknown    int
	lat        latencies
}

func newRecorder(n int, interval time.Duration, factor float64, now func() time.Time) *recorder {
	return &recorder{interval: interval, factor: factor, now: now, firstDue: make([]int64, n), lastSeq: make([]int32, n),
		from: math.MaxInt64, to: math.MaxInt64, all: make(chan struct{})}
}

func (r *recorder) started(i int, firstDue time.Time) {
	r.mu.Lock()
	r.firstDue[i] = firstDue.UnixNano()
	r.mu.Unlock()
}

// window sets the measured time: judgements due in [from, from+d].
func (r *recorder) window(from time.Time, d time.Duration) {
	r.mu.Lock()
	r.from, r.to = from.UnixNano(), from.Add(d).UnixNano()
	r.want = r.due()
	r.mu.Unlock()
}

// complete is closed when every judgement due in the measured time has
// been made.
func (r *recorder) complete() <-chan struct{} { return r.all }

var (
	idField  = []byte(`"analysis_id":"fleet-`)
	seqField = []byte(`"seq":`)
)

// verdict handles one verdict message; it reads the two fields it needs
// without decoding the rest.
func (r *recorder) verdict(m *nats.Msg) {
	now := r.now().UnixNano()
	r.received.Add(1)
	r.bytes.Add(int64(len(m.Data)))
	i, ok1 := intAfter(m.Data, idField)
	seq, ok2 := intAfter(m.Data, seqField)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok1 || !ok2 || i >= len(r.firstDue) || r.firstDue[i] == 0 {
		r.unknown++
		return
	}
	if int32(seq) <= r.lastSeq[i] {
		r.duplicates++
		return
	}
	r.lastSeq[i] = int32(seq)
	due := r.firstDue[i] + int64(seq-1)*int64(r.interval)
	if due < r.from || due > r.to {
		return
	}
	r.made++
	r.lat.add(time.Duration(float64(now-due) / r.factor))
	if r.made == r.want {
		close(r.all)
	}
}

func intAfter(b, field []byte) (int, bool) {
	k := bytes.Index(b, field)
	if k < 0 {
		return 0, false
	}
	b = b[k+len(field):]
	n, digits := 0, 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return n, digits > 0
}

// due counts the judgements due in the measured time.
func (r *recorder) due() int {
	n := 0
	iv := int64(r.interval)
	for _, f := range r.firstDue {
		if f == 0 || f > r.to {
			continue
		}
		// k >= 1 with from <= f + (k-1)·iv <= to
		lo := int64(0)
		if f < r.from {
			lo = (r.from - f + iv - 1) / iv
		}
		hi := (r.to - f) / iv
		if hi >= lo {
			n += int(hi - lo + 1)
		}
	}
	return n
}

// latencies is a log-bucketed histogram: buckets grow by 2%, from 10µs.
type latencies struct {
	counts   [1000]int
	n        int
	max      time.Duration
	negative int
}

const latencyGrowth = 1.02

func (l *latencies) add(d time.Duration) {
	l.n++
	l.max = max(l.max, d)
	if d < 0 {
		l.negative++
		d = 0
	}
	i := 0
	if us := float64(d) / 1e4; us > 1 {
		i = min(len(l.counts)-1, int(math.Log(us)/math.Log(latencyGrowth))+1)
	}
	l.counts[i]++
}

// quantile returns the upper bound of the bucket holding quantile q.
func (l *latencies) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(l.n)))
	seen := 0
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return min(l.max, time.Duration(1e4*math.Pow(latencyGrowth, float64(i))))
		}
	}
	return l.max
}

// memSample is the process's memory at one moment.
type memSample struct {
	heapLive   uint64 // heap marked live by the last GC
	heapInUse  uint64 // heap objects, live or not yet swept
	rss        uint64
	goroutines int
}

func sampleMemory(gc bool) memSample {
	if gc {
		runtime.GC()
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return memSample{heapLive: s[0].Value.Uint64(), heapInUse: s[1].Value.Uint64(), rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss reads VmRSS from /proc/self/status; 0 when it cannot.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func cpuSeconds(who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// loadAverage reads the 1-minute load average; NaN when it cannot.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// gatherCounters sums every counter and gauge of reg by name, and also
// keeps each labelled series as name{label="value",...}.
func gatherCounters(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			default:
				continue
			}
			out[mf.GetName()] += v
			if len(m.GetLabel()) > 0 {
				var parts []string
				for _, lp := range m.GetLabel() {
					parts = append(parts, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
				}
				out[mf.GetName()+"{"+strings.Join(parts, ",")+"}"] = v
			}
		}
	}
	return out, nil
}

// result is one run's figures.
type result struct {
	Label    string  `json:"label,omitempty"`
	Analyses int     `json:"analyses"`
	Metrics  int     `json:"metrics"`
	Interval string  `json:"interval"`
	Step     string  `json:"step"`
	Duration float64 `json:"duration_seconds"`
	Batch    bool    `json:"batch"`
	// NoFreshness says the queries went without their freshness
	// companions (-freshness=false).
	NoFreshness bool `json:"no_freshness,omitempty"`
	// DaemonProvider says the daemon built its own provider (-daemon-provider).
	DaemonProvider bool    `json:"daemon_provider,omitempty"`
	Align          bool    `json:"align"`
	Factor         float64 `json:"factor"`
	GoMaxProc      int     `json:"gomaxprocs"`
	// LoadAverage is the machine's 1-minute load average at the end: the
	// machine is shared, and other work competes for its cores.
	LoadAverage float64 `json:"load_average_1m"`

	JudgementsPerSecond float64 `json:"judgements_per_second"`
	Due                 int     `json:"judgements_due"`
	Made                int     `json:"judgements_made"`
	Missing             int     `json:"judgements_missing"`
	Duplicates          int     `json:"duplicate_verdicts"`
	Active              float64 `json:"analyses_active"`
	SubmitFailed        int     `json:"submissions_failed"`
	VerdictBytes        float64 `json:"verdict_bytes_mean"`

	LatencyP50 float64 `json:"latency_p50_seconds"`
	LatencyP99 float64 `json:"latency_p99_seconds"`
	LatencyMax float64 `json:"latency_max_seconds"`

	CPUCores         float64 `json:"cpu_cores"`
	CPUPer1000       float64 `json:"cpu_seconds_per_1000_judgements"`
	SourceCPUCores   float64 `json:"source_cpu_cores"`
	HeapBeforeMiB    float64 `json:"heap_live_before_mib"`
	HeapMiB          float64 `json:"heap_live_mib"`
	HeapPerAnalysis  float64 `json:"heap_kib_per_analysis"`
	RSSBeforeMiB     float64 `json:"rss_before_mib"`
	RSSMiB           float64 `json:"rss_mib"`
	RSSPerAnalysis   float64 `json:"rss_kib_per_analysis"`
	QueriesAsked     float64 `json:"queries_asked_per_judgement"`
	QueriesSent      float64 `json:"queries_sent_per_judgement"`
	NATSErrors       float64 `json:"nats_errors"`
	QueryErrors      float64 `json:"query_errors"`
	PrometheusErrors float64 `json:"prometheus_errors"`
	SourceErrors     int64   `json:"source_errors"`
	BatchFallback    float64 `json:"batch_fallback_queries"`
	BatchRefused     float64 `json:"batch_refused_queries"`
	// API is the API's latency while the fleet was judged (-api-rate).
	API *apiResult `json:"api,omitempty"`
}

func (r *recorder) result(o *options, failed int, measured time.Duration, cpu float64, before memSample, mem []memSample,
	asked int64, src sourceStats, c map[string]float64, active float64) *result {
	r.mu.Lock()
	defer r.mu.Unlock()
	wallSec := measured.Seconds()
	simSec := o.duration.Seconds()
	due := r.due()
	live := make([]float64, len(mem))
	rs := make([]float64, len(mem))
	for i, m := range mem {
		live[i], rs[i] = float64(m.heapLive), float64(m.rss)
	}
	slices.Sort(live)
	slices.Sort(rs)
	med := func(v []float64) float64 { return v[len(v)/2] }
	res := &result{
		Label: o.label, Analyses: o.analyses, Metrics: o.metrics, Interval: o.interval.String(), Step: o.step().String(),
		Duration: simSec, LoadAverage: loadAverage(), Batch: o.batch, NoFreshness: !o.freshness, DaemonProvider: o.daemonProvider, Align: o.align, Factor: o.factor, GoMaxProc: runtime.GOMAXPROCS(0),
		JudgementsPerSecond: float64(r.made) / simSec,
		VerdictBytes:        float64(r.bytes.Load()) / float64(max(1, r.received.Load())),
		SubmitFailed:        failed,
		Due:                 due, Made: r.made, Missing: due - r.made, Duplicates: r.duplicates, Active: active,
		LatencyP50: r.lat.quantile(0.5).Seconds(), LatencyP99: r.lat.quantile(0.99).Seconds(), LatencyMax: r.lat.max.Seconds(),
		CPUCores:         cpu / wallSec,
		SourceCPUCores:   src.CPUSeconds / wallSec,
		HeapBeforeMiB:    mib(before.heapLive),
		HeapMiB:          med(live) / (1 << 20),
		HeapPerAnalysis:  (med(live) - float64(before.heapLive)) / float64(o.analyses) / 1024,
		RSSBeforeMiB:     mib(before.rss),
		RSSMiB:           med(rs) / (1 << 20),
		RSSPerAnalysis:   (med(rs) - float64(before.rss)) / float64(o.analyses) / 1024,
		NATSErrors:       c["canaryd_nats_errors_total"],
		QueryErrors:      c["canaryd_query_errors_total"],
		PrometheusErrors: c["canaryd_prometheus_query_errors_total"],
		SourceErrors:     src.Errors,
		BatchFallback:    c[`canaryd_batch_queries_total{how="fallback"}`],
		BatchRefused:     c[`canaryd_batch_queries_total{how="refused"}`],
	}
	if r.made > 0 {
		res.CPUPer1000 = cpu / float64(r.made) * 1000
		res.QueriesAsked = float64(asked) / float64(r.made)
		res.QueriesSent = float64(src.Requests) / float64(r.made)
	}
	return res
}

func (r *result) print(w io.Writer) {
	provider := fmt.Sprintf("batch %v", r.Batch)
	if r.DaemonProvider {
		provider = "the daemon's own provider"
	}
	if r.NoFreshness {
		provider += ", no freshness companions"
	}
	fmt.Fprintf(w, "\n== %d analyses × %d metrics, interval %s, step %s, %gs measured (%s, align %v, factor %g; load average %.1f on %d cores)\n",
		r.Analyses, r.Metrics, r.Interval, r.Step, r.Duration, provider, r.Align, r.Factor, r.LoadAverage, runtime.NumCPU())
	fmt.Fprintf(w, "judgements/s              %.1f  (due %d, made and published %d, missing %d, duplicates %d, active at end %.0f)\n",
		r.JudgementsPerSecond, r.Due, r.Made, r.Missing, r.Duplicates, r.Active)
	if r.SubmitFailed > 0 {
		fmt.Fprintf(w, "submissions failed        %d of %d (the daemon did not store them within 30s)\n", r.SubmitFailed, r.Analyses)
	}
	fmt.Fprintf(w, "verdict size              %.0f bytes on average\n", r.VerdictBytes)
	fmt.Fprintf(w, "verdict latency           p50 %s  p99 %s  max %s  (interval end to verdict on NATS)\n",
		secs(r.LatencyP50), secs(r.LatencyP99), secs(r.LatencyMax))
	fmt.Fprintf(w, "CPU                       %.3f cores; %.3f s per 1,000 judgements (metrics source: %.3f cores, not included)\n",
		r.CPUCores, r.CPUPer1000, r.SourceCPUCores)
	fmt.Fprintf(w, "heap live                 %.1f MiB (%.1f before analyses): %.2f KiB per analysis\n", r.HeapMiB, r.HeapBeforeMiB, r.HeapPerAnalysis)
	fmt.Fprintf(w, "RSS                       %.1f MiB (%.1f before analyses): %.2f KiB per analysis\n", r.RSSMiB, r.RSSBeforeMiB, r.RSSPerAnalysis)
	if r.DaemonProvider {
		fmt.Fprintf(w, "queries per judgement     %.4f reached the source (the daemon's own provider)\n", r.QueriesSent)
	} else {
		fmt.Fprintf(w, "queries per judgement     %.2f asked by the daemon, %.4f reached the source\n", r.QueriesAsked, r.QueriesSent)
	}
	if r.API != nil {
		fmt.Fprintf(w, "API latency               p99 %s over %d requests (%d failed), one at a time while judging:\n", secs(r.API.P99), r.API.Requests, r.API.Errors)
		for _, k := range apiKinds {
			if v, ok := r.API.ByKind[k]; ok {
				fmt.Fprintf(w, "  %-22s  p50 %s  p99 %s  max %s  (%.0f)\n", k, secs(v["p50"]), secs(v["p99"]), secs(v["max"]), v["n"])
			}
		}
	}
	fmt.Fprintf(w, "errors                    NATS %.0f, query %.0f, Prometheus provider %.0f, source %d; batch fallbacks %.0f, refused %.0f\n",
		r.NATSErrors, r.QueryErrors, r.PrometheusErrors, r.SourceErrors, r.BatchFallback, r.BatchRefused)
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}
