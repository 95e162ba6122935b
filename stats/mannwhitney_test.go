package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/stats/oracle"
)

// oracleCase is a shared oracle case (R, SciPy, brute force), read by
// package oracle.
type oracleCase = oracle.Case

func loadOracle(t *testing.T) []oracleCase {
	t.Helper()
	cases, err := oracle.MannWhitney()
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// closeRel reports whether got is within rel of want (relative), or within
// abs of it when want is small; infinities must match exactly.
var closeRel = oracle.Near

func TestMannWhitneyOracle(t *testing.T) {
	var w Workspace
	for _, c := range loadOracle(t) {
		t.Run(c.ID, func(t *testing.T) {
			alt, err := ParseAlternative(c.Alternative)
			if err != nil {
				t.Fatal(err)
			}
			method, err := ParseMethod(c.Method)
			if err != nil {
				t.Fatal(err)
			}
			canary := slices.Clone(c.Canary)
			baseline := slices.Clone(c.Baseline)
			r, err := w.MannWhitney(canary, baseline, Options{Alternative: alt, Method: method, Confidence: c.Confidence})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(canary, c.Canary) || !slices.Equal(baseline, c.Baseline) {
				t.Error("inputs were modified")
			}
			checkOracle(t, c, r)
		})
	}
}

// checkOracle compares r with an oracle case at the README's tolerances.
func checkOracle(t *testing.T, c oracleCase, r Result) {
	t.Helper()
	if r.Method.String() != c.Method {
		t.Errorf("method %v, want %s", r.Method, c.Method)
	}
	if r.NCanary != len(c.Canary) || r.NBaseline != len(c.Baseline) {
		t.Errorf("n = %d, %d, want %d, %d", r.NCanary, r.NBaseline, len(c.Canary), len(c.Baseline))
	}
	if r.U != c.U {
		t.Errorf("U = %v, want %v", r.U, c.U)
	}
	if !closeRel(r.PValue, c.PValue, 1e-9, 1e-15) {
		t.Errorf("p = %.17g, want %.17g", r.PValue, c.PValue)
	}
	if !closeRel(r.Shift, c.HLShift, 1e-12, 0) {
		t.Errorf("shift = %.17g, want %.17g", r.Shift, c.HLShift)
	}
	if !closeRel(r.Lower, float64(c.CI[0]), 1e-12, 0) || !closeRel(r.Upper, float64(c.CI[1]), 1e-12, 0) {
		t.Errorf("ci = [%.17g, %.17g], want [%.17g, %.17g]", r.Lower, r.Upper, c.CI[0], c.CI[1])
	}
}

func TestMannWhitneyAutoMethod(t *testing.T) {
	seq := func(n int, off float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = float64(i) + off
		}
		return x
	}
	tests := []struct {
		name             string
		canary, baseline []float64
		method           Method
		want             Method
	}{
		{"small no ties", seq(49, 0.5), seq(49, 0), Auto, Exact},
		{"n at limit", seq(50, 0.5), seq(10, 0), Auto, Asymptotic},
		{"m at limit", seq(10, 0.5), seq(50, 0), Auto, Asymptotic},
		{"small with ties", seq(10, 0), seq(10, 0), Auto, Asymptotic},
		{"exact requested with ties falls back", seq(10, 0), seq(10, 0), Exact, Asymptotic},
		{"exact requested large", seq(200, 0.5), seq(200, 0), Exact, Exact},
		{"exact requested at the limit", seq(300, 0.5), seq(3000, 0), Exact, Exact},
		{"exact requested beyond the limit falls back", seq(301, 0.5), seq(301, 0), Exact, Asymptotic},
		{"exact requested beyond n·m limit falls back", seq(300, 0.5), seq(4000, 0), Exact, Asymptotic},
		{"asymptotic requested", seq(5, 0.5), seq(5, 0), Asymptotic, Asymptotic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := MannWhitney(tt.canary, tt.baseline, Options{Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != tt.want {
				t.Errorf("method %v, want %v", r.Method, tt.want)
			}
		})
	}
}

func TestMannWhitneyErrors(t *testing.T) {
	ok := []float64{1, 2, 3}
	tests := []struct {
		name             string
		canary, baseline []float64
		opts             Options
		is               error
		msg              string
	}{
		{"empty canary", nil, ok, Options{}, ErrEmpty, "stats: canary is empty"},
		{"empty baseline", ok, []float64{}, Options{}, ErrEmpty, "stats: baseline is empty"},
		{"NaN canary", []float64{1, 2, 3, math.NaN()}, ok, Options{}, ErrNaN, "stats: canary[3] is NaN"},
		{"NaN baseline", ok, []float64{math.NaN()}, Options{}, ErrNaN, "stats: baseline[0] is NaN"},
		{"Inf canary", []float64{math.Inf(1)}, ok, Options{}, ErrInf, "stats: canary[0] is infinite"},
		{"-Inf baseline", ok, []float64{0, math.Inf(-1)}, Options{}, ErrInf, "stats: baseline[1] is infinite"},
		{"confidence 1", ok, ok, Options{Confidence: 1}, nil, "stats: confidence 1 not in (0, 1)"},
		{"confidence negative", ok, ok, Options{Confidence: -0.5}, nil, "stats: confidence -0.5 not in (0, 1)"},
		{"confidence NaN", ok, ok, Options{Confidence: math.NaN()}, nil, "stats: confidence NaN not in (0, 1)"},
		{"bad alternative", ok, ok, Options{Alternative: 7}, nil, "stats: invalid alternative Alternative(7)"},
		{"bad method", ok, ok, Options{Method: -1}, nil, "stats: invalid method Method(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MannWhitney(tt.canary, tt.baseline, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.msg {
				t.Errorf("error %q, want %q", err, tt.msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
		})
	}
}

func TestParseAlternativeAndMethod(t *testing.T) {
	for _, a := range []Alternative{TwoSided, Greater, Less} {
		got, err := ParseAlternative(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAlternative(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, m := range []Method{Auto, Exact, Asymptotic} {
		got, err := ParseMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseAlternative("two.sided"); err == nil {
		t.Error("ParseAlternative accepted two.sided")
	}
	if _, err := ParseMethod("Exact"); err == nil {
		t.Error("ParseMethod accepted Exact")
	}
}

// TestMannWhitneySymmetry swaps the samples: U becomes nm - U, the shift and
// interval change sign, greater and less trade places, and the p-value stays.
func TestMannWhitneySymmetry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	swap := map[Alternative]Alternative{TwoSided: TwoSided, Greater: Less, Less: Greater}
	for trial := range 200 {
		n, m := 1+rng.IntN(60), 1+rng.IntN(60)
		x, y := randomSample(rng, n, trial%3 == 0, 0.3), randomSample(rng, m, trial%3 == 0, 0)
		for _, alt := range []Alternative{TwoSided, Greater, Less} {
			for _, method := range []Method{Exact, Asymptotic} {
				o := Options{Alternative: alt, Method: method, Confidence: 0.9}
				a, err := MannWhitney(x, y, o)
				if err != nil {
					t.Fatal(err)
				}
				o.Alternative = swap[alt]
				b, err := MannWhitney(y, x, o)
				if err != nil {
					t.Fatal(err)
				}
				nm := float64(n * m)
				if b.U != nm-a.U || b.Shift != -a.Shift || b.Lower != -a.Upper || b.Upper != -a.Lower || b.Method != a.Method {
					t.Fatalf("trial %d %v %v: swapped %+v, original %+v", trial, alt, method, b, a)
				}
				if !closeRel(b.PValue, a.PValue, 1e-12, 1e-300) {
					t.Fatalf("trial %d %v %v: p %v swapped, %v original", trial, alt, method, b.PValue, a.PValue)
				}
			}
		}
	}
}

// TestMannWhitneyExactVersusAsymptotic: for moderate samples without ties the
// normal approximation is within a few thousandths of the exact p-value.
func TestMannWhitneyExactVersusAsymptotic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 50 {
		n, m := 30+rng.IntN(40), 30+rng.IntN(40)
		x, y := randomSample(rng, n, false, 0.2*rng.Float64()), randomSample(rng, m, false, 0)
		for _, alt := range []Alternative{TwoSided, Greater, Less} {
			e, err := MannWhitney(x, y, Options{Alternative: alt, Method: Exact})
			if err != nil {
				t.Fatal(err)
			}
			a, err := MannWhitney(x, y, Options{Alternative: alt, Method: Asymptotic})
			if err != nil {
				t.Fatal(err)
			}
			if e.Method != Exact || a.Method != Asymptotic {
				t.Fatalf("methods %v, %v", e.Method, a.Method)
			}
			if d := math.Abs(e.PValue - a.PValue); d > 0.005 {
				t.Errorf("trial %d (n=%d, m=%d, %v): exact p %v, asymptotic %v", trial, n, m, alt, e.PValue, a.PValue)
			}
			if e.U != a.U || e.Shift != a.Shift {
				t.Errorf("U or shift differ between methods: %+v, %+v", e, a)
			}
		}
	}
}

func TestMannWhitneyAllTied(t *testing.T) {
	x := []float64{3, 3, 3}
	y := []float64{3, 3, 3, 3}
	for _, alt := range []Alternative{TwoSided, Greater, Less} {
		r, err := MannWhitney(x, y, Options{Alternative: alt})
		if err != nil {
			t.Fatal(err)
		}
		if r.PValue != 1 || r.U != 6 || r.Shift != 0 || !r.Ties || r.A() != 0.5 {
			t.Errorf("%v: %+v", alt, r)
		}
	}
}

// TestMannWhitneyFarTail: a complete separation of large samples has a
// p-value far below 1e-300 for the exact test, and the normal tail keeps
// values down to the float64 limit instead of rounding them to 0.
func TestMannWhitneyFarTail(t *testing.T) {
	n := 600
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i] = float64(n + i)
		y[i] = float64(i)
	}
	r, err := MannWhitney(x[:40], y[:40], Options{Alternative: Greater, Method: Asymptotic})
	if err != nil {
		t.Fatal(err)
	}
	// z = (1600 - 800 - 0.5)/sqrt(1600*81/12), P(Z > z) by erfc.
	z := 799.5 / math.Sqrt(1600*81.0/12)
	if want := math.Erfc(z/math.Sqrt2) / 2; r.PValue != want || r.PValue < 1e-30 {
		t.Errorf("asymptotic p = %v, want %v", r.PValue, want)
	}
	// Exact: P(U = nm) = 1/C(n+m, n).
	r, err = MannWhitney(x[:200], y[:200], Options{Alternative: Greater, Method: Exact})
	if err != nil {
		t.Fatal(err)
	}
	lg, _ := math.Lgamma(401)
	lh, _ := math.Lgamma(201)
	want := math.Exp(2*lh - lg)
	if !closeRel(r.PValue, want, 1e-9, 0) {
		t.Errorf("exact p = %v, want 1/C(400,200) = %v", r.PValue, want)
	}
}

// randomSample draws n values; with ties it rounds them to a coarse grid.
func randomSample(rng *rand.Rand, n int, ties bool, shift float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64() + shift
		if ties {
			x[i] = math.Round(x[i] * 3)
		}
	}
	return x
}

func TestVarghaDelaneyA(t *testing.T) {
	r, err := MannWhitney([]float64{1, 5, 6}, []float64{2, 3, 4, 5}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Pairs above: 5>2,3,4; 6>2,3,4,5 = 7; one tie (5=5): U = 7.5.
	if r.U != 7.5 || r.A() != 7.5/12 {
		t.Errorf("U = %v, A = %v", r.U, r.A())
	}
}

func TestRankSum(t *testing.T) {
	u, tie, ties := rankSum([]float64{1, 2, 2, 5}, []float64{0, 2, 2, 2, 7})
	// 1 > 0 (1); 2 > 0 and ties 3 (1 + 1.5) twice; 5 > 0,2,2,2 (4).
	if u != 1+2.5+2.5+4 {
		t.Errorf("U = %v", u)
	}
	if want := float64(5*5*5 - 5); tie != want || !ties {
		t.Errorf("tie term %v, want %v", tie, want)
	}
	_, tie, ties = rankSum([]float64{1, 3}, []float64{2, 4})
	if tie != 0 || ties {
		t.Errorf("tie term %v, ties %v", tie, ties)
	}
}

// TestRankSumDistinctMatchesTied holds the branch-free merge to counting
// by groups of equal values: on samples without ties both give the same U
// and no tie term; on samples with ties (within x, within y, across, ±0)
// the merge reports them, so that rankSum counts by groups.
func TestRankSumDistinctMatchesTied(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	for it := range 20000 {
		n, m := rng.IntN(40), rng.IntN(40)
		if it%100 == 0 {
			n, m = 1+rng.IntN(3000), 1+rng.IntN(3000)
		}
		x, y := make([]float64, n), make([]float64, m)
		grid := []float64{0, 1, 1e-3, 0.25}[it%4] // 0: continuous
		draw := func() float64 {
			v := rng.NormFloat64()
			if grid > 0 {
				v = math.Round(v/grid) * grid
			}
			if v == 0 && rng.IntN(2) == 0 {
				v = math.Copysign(0, -1)
			}
			return v
		}
		for i := range x {
			x[i] = draw()
		}
		for j := range y {
			y[j] = draw()
		}
		slices.Sort(x)
		slices.Sort(y)
		u, tie, ties := rankSumTied(x, y)
		below, ok := rankSumDistinct(x, y)
		if ok == ties {
			t.Fatalf("%v against %v: distinct %v, tied %v", x, y, ok, ties)
		}
		if ok && (float64(below) != u || tie != 0) {
			t.Fatalf("%v against %v: U %d, want %v (tie term %v)", x, y, below, u, tie)
		}
		u2, tie2, ties2 := rankSum(x, y)
		if u2 != u || tie2 != tie || ties2 != ties {
			t.Fatalf("rankSum (%v, %v, %v), by groups (%v, %v, %v)", u2, tie2, ties2, u, tie, ties)
		}
	}
}

// Benchmark sizes: n = m for each.
var benchSizes = []struct {
	name string
	n    int
}{
	{"small", 30},
	{"judge", 300},
	{"medium", 1000},
	{"huge", 100000},
}

// benchSamples returns continuous samples (no ties) of n values each, the
// canary shifted by a fifth of a standard deviation.
func benchSamples(n int) (canary, baseline []float64) {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	return randomSample(rng, n, false, 0.2), randomSample(rng, n, false, 0)
}

// benchmarkMannWhitney is the one driver of the full-comparison benchmarks:
// U, p-value (Auto: exact at n = 30), Hodges-Lehmann shift and 95% interval,
// with a reused workspace.
func benchmarkMannWhitney(b *testing.B, n int) {
	canary, baseline := benchSamples(n)
	var w Workspace
	if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's CPU time, user and system. Unlike ns/op, CPU
// time per operation hardly moves when other processes share the cores,
// which on the project's machine they do.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkMannWhitney(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%s/n=m=%d", s.name, s.n), func(b *testing.B) { benchmarkMannWhitney(b, s.n) })
	}
}

// BenchmarkMannWhitneyFresh is BenchmarkMannWhitney on 64 different pairs
// of samples in turn, as a judge compares new points at every interval:
// comparing the same samples again lets the branch predictor learn the
// sort's and the selection's branches, which makes small sizes look 2-4x
// cheaper than they are in the daemon.
func BenchmarkMannWhitneyFresh(b *testing.B) {
	for _, s := range benchSizes[:3] {
		b.Run(fmt.Sprintf("%s/n=m=%d", s.name, s.n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(s.n), 43))
			var cs, bs [][]float64
			for range 64 {
				cs = append(cs, randomSample(rng, s.n, false, 0.2))
				bs = append(bs, randomSample(rng, s.n, false, 0))
			}
			var w Workspace
			for k := range cs {
				if _, err := w.MannWhitney(cs[k], bs[k], Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			k := 0
			for b.Loop() {
				if _, err := w.MannWhitney(cs[k&63], bs[k&63], Options{}); err != nil {
					b.Fatal(err)
				}
				k++
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkHugeVersusSort alternates, operation by operation, the huge
// comparison and the sort of its 200000 values, and reports their ratio
// ("compare/sort"): on a machine shared with other work, both then see the
// same load, which separate benchmarks a minute apart do not.
func BenchmarkHugeVersusSort(b *testing.B) {
	canary, baseline := benchSamples(100000)
	all := append(slices.Clone(canary), baseline...)
	buf := make([]float64, len(all))
	var w Workspace
	if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
		b.Fatal(err)
	}
	var sortTime, compareTime, sortCPU, compareCPU time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0, c0 := time.Now(), processCPU()
		copy(buf, all)
		slices.Sort(buf)
		t1, c1 := time.Now(), processCPU()
		if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
			b.Fatal(err)
		}
		sortTime += t1.Sub(t0)
		compareTime += time.Since(t1)
		sortCPU += c1 - c0
		compareCPU += processCPU() - c1
	}
	b.ReportMetric(float64(sortTime.Nanoseconds())/float64(b.N), "sort-ns/op")
	b.ReportMetric(float64(compareTime.Nanoseconds())/float64(b.N), "compare-ns/op")
	b.ReportMetric(float64(compareTime)/float64(sortTime), "compare/sort")
	b.ReportMetric(float64(compareCPU)/float64(sortCPU), "compare-cpu/sort-cpu")
}

// BenchmarkMannWhitneyShapes runs the huge comparison on the shapes of
// hlSample: ties by the million (grid, counts, zeros) must cost no more
// than continuous data.
func BenchmarkMannWhitneyShapes(b *testing.B) {
	for _, shape := range hlShapes {
		b.Run(shape, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(15, 16))
			canary, baseline := hlSample(rng, 100000, shape, 0.3), hlSample(rng, 100000, shape, 0)
			var w Workspace
			if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.MannWhitney(canary, baseline, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSort200000 sorts the 200000 values of the huge comparison once,
// with the same sort the comparison uses: the yardstick for its cost.
func BenchmarkSort200000(b *testing.B) {
	canary, baseline := benchSamples(100000)
	all := append(slices.Clone(canary), baseline...)
	buf := make([]float64, len(all))
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		copy(buf, all)
		slices.Sort(buf)
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}
