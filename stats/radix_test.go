package stats

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkSortedLikeSlicesSort fails unless got is a slices.Sort of in value
// for value, with the NaNs first in input order, and, if zerosOrdered, -0
// before +0.
func checkSortedLikeSlicesSort(t *testing.T, in, got []float64, zerosOrdered bool) {
	t.Helper()
	want := slices.Clone(in)
	slices.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("%d values sorted into %d", len(in), len(got))
	}
	var nans []uint64
	for _, v := range in {
		if math.IsNaN(v) {
			nans = append(nans, math.Float64bits(v))
		}
	}
	for i := range got {
		g, w := got[i], want[i]
		if i < len(nans) {
			if math.Float64bits(g) != nans[i] {
				t.Fatalf("n=%d: value %d is %v (%#x), want NaN %#x in input order", len(in), i, g, math.Float64bits(g), nans[i])
			}
			continue
		}
		if g != w || math.IsNaN(g) {
			t.Fatalf("n=%d: value %d is %v, slices.Sort has %v", len(in), i, g, w)
		}
		if zerosOrdered && i > 0 && g == 0 && got[i-1] == 0 && !math.Signbit(got[i-1]) && math.Signbit(g) {
			t.Fatalf("n=%d: +0 before -0 at %d", len(in), i)
		}
	}
}

// sortInput draws n values of a kind chosen to reach every branch: pass
// skipping (integers, one magnitude), signed zeros, infinities, NaNs with
// payloads and either sign, duplicates and subnormals.
func sortInput(rng *rand.Rand, n int, kind string) []float64 {
	x := make([]float64, n)
	for i := range x {
		switch kind {
		case "normal":
			x[i] = rng.NormFloat64()
		case "integers":
			x[i] = float64(rng.IntN(1000) - 500)
		case "positive":
			x[i] = 1 + rng.Float64()
		case "duplicates":
			x[i] = float64(rng.IntN(3))
		case "special":
			switch rng.IntN(9) {
			case 0:
				x[i] = math.Copysign(0, -1)
			case 1:
				x[i] = 0
			case 2:
				x[i] = math.Inf(1)
			case 3:
				x[i] = math.Inf(-1)
			case 4:
				x[i] = math.Float64frombits(0x7FF8000000000000 | rng.Uint64N(1<<51))
			case 5:
				x[i] = math.Float64frombits(0xFFF0000000000001 + rng.Uint64N(1<<51))
			case 6:
				x[i] = math.Copysign(math.SmallestNonzeroFloat64*float64(rng.IntN(5)), rng.NormFloat64())
			case 7:
				x[i] = math.Copysign(math.MaxFloat64, rng.NormFloat64())
			default:
				x[i] = rng.NormFloat64() * 1e-300
			}
		case "bits":
			x[i] = math.Float64frombits(rng.Uint64())
		}
	}
	return x
}

// TestSortIntoMatchesSlicesSort holds sortInto equal to slices.Sort at
// every size, on both sides of radixMin and radixWideMin.
func TestSortIntoMatchesSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	sizes := []int{0, 1, 2, 3, 7, radixMin - 1, radixMin, radixMin + 1, 1000, radixWideMin - 1, radixWideMin, 100_000}
	for range 30 {
		sizes = append(sizes, 1+rng.IntN(3000))
	}
	var s sorter
	for _, kind := range []string{"normal", "integers", "positive", "duplicates", "special", "bits"} {
		for _, n := range sizes {
			in := sortInput(rng, n, kind)
			orig := slices.Clone(in)
			got := make([]float64, n)
			s.sortInto(got, in)
			checkSortedLikeSlicesSort(t, in, got, n >= radixMin)
			if !slices.EqualFunc(in, orig, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }) {
				t.Fatalf("%s/%d: sortInto modified its input", kind, n)
			}
		}
	}
}

// TestSortIntoBucketsMatchesSlicesSort holds the bucket path itself (not
// only sortInto, which may fall back) to slices.Sort on spread values mixed
// with NaNs and signed zeros, and checks that it declines crowded values
// and infinite ranges.
func TestSortIntoBucketsMatchesSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	var s sorter
	for range 2000 {
		n := 1 + rng.IntN(3000)
		in := make([]float64, n)
		for i := range in {
			switch rng.IntN(400) {
			case 0:
				in[i] = math.Copysign(0, -1)
			case 1:
				in[i] = 0
			case 2:
				in[i] = math.Float64frombits(0x7FF8000000000000 | rng.Uint64N(1<<51))
			case 3:
				in[i] = float64(rng.IntN(5)) // duplicates
			default:
				in[i] = rng.NormFloat64() * 100
			}
		}
		got := make([]float64, n)
		if !s.sortIntoBuckets(got, in) {
			t.Fatalf("n=%d: spread values declined", n)
		}
		checkSortedLikeSlicesSort(t, in, got, true)
	}
	got := make([]float64, 1000)
	for _, kind := range []string{"duplicates", "special", "bits"} {
		in := sortInput(rng, 1000, kind)
		if s.sortIntoBuckets(got, in) {
			checkSortedLikeSlicesSort(t, in, got, true) // accepted: must be right
		}
	}
	crowded := make([]float64, 1000)
	crowded[0] = 1e6 // one outlier, the rest in the first bucket
	for i := 1; i < len(crowded); i++ {
		crowded[i] = rng.Float64()
	}
	if s.sortIntoBuckets(got, crowded) {
		t.Error("crowded values accepted")
	}
	inf := []float64{1, math.Inf(1), 2}
	if s.sortIntoBuckets(got[:3], inf) {
		t.Error("an infinite range accepted")
	}
}

func TestSortKeyOrder(t *testing.T) {
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, math.MaxFloat64, math.Inf(1)}
	for i := 1; i < len(vals); i++ {
		if sortKey(vals[i-1]) >= sortKey(vals[i]) {
			t.Errorf("key(%v) = %#x not below key(%v) = %#x", vals[i-1], sortKey(vals[i-1]), vals[i], sortKey(vals[i]))
		}
	}
}

// FuzzRadixSort holds sortInto equal to slices.Sort on arbitrary bit
// patterns, repeated up to 256 times so that short inputs also reach the
// radix path.
func FuzzRadixSort(f *testing.F) {
	f.Add([]byte{}, uint8(1))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN())), uint8(3))
	seed := []byte{}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), 2.5, 2.5} {
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(v))
	}
	f.Add(seed, uint8(40))
	var s sorter
	f.Fuzz(func(t *testing.T, data []byte, repeat uint8) {
		var in []float64
		for range int(repeat) + 1 {
			for i := 0; i+8 <= len(data); i += 8 {
				in = append(in, math.Float64frombits(binary.LittleEndian.Uint64(data[i:])))
			}
		}
		got := make([]float64, len(in))
		s.sortInto(got, in)
		checkSortedLikeSlicesSort(t, in, got, len(in) >= radixMin)
	})
}

// BenchmarkSort compares the radix sort with slices.Sort on the huge
// comparison's samples and on small ones.
func BenchmarkSort(b *testing.B) {
	for _, n := range []int{300, 1000, 2000, 4096, 8192, 16384, 100000} {
		in, _ := benchSamples(n)
		a := make([]float64, n)
		var s sorter
		b.Run(fmt.Sprintf("radix/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				s.sortInto(a, in)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("slices/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				copy(a, in)
				slices.Sort(a)
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkSortFresh is BenchmarkSort on 64 different inputs in turn: the
// measurement radixMin rests on (sorting one input again and again lets the
// branch predictor learn slices.Sort's comparisons).
func BenchmarkSortFresh(b *testing.B) {
	for _, n := range []int{30, 64, 100, 128, 200, 300, 1000, 4096, 8192} {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		var ins [][]float64
		for range 64 {
			ins = append(ins, randomSample(rng, n, false, 0.2))
		}
		a := make([]float64, n)
		var s sorter
		b.Run(fmt.Sprintf("sortInto/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			k := 0
			for b.Loop() {
				s.sortInto(a, ins[k&63])
				k++
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("radix/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			k := 0
			for b.Loop() {
				s.sortIntoRadix(a, ins[k&63])
				k++
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("slices/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			k := 0
			for b.Loop() {
				copy(a, ins[k&63])
				slices.Sort(a)
				k++
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
