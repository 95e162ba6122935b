package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// allDifferences returns the sorted n·m differences x_i - y_j: the brute
// force the selection is checked against.
func allDifferences(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, xi := range x {
		for _, yj := range y {
			d = append(d, xi-yj)
		}
	}
	slices.Sort(d)
	return d
}

// hlSample draws n values of one of several shapes, most with many ties.
func hlSample(rng *rand.Rand, n int, shape string, shift float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		switch shape {
		case "continuous":
			x[i] = rng.NormFloat64() + shift
		case "grid":
			x[i] = math.Round((rng.NormFloat64()+shift)*4) / 4
		case "counts":
			x[i] = float64(rng.IntN(4)) + math.Round(shift)
		case "zeros":
			if rng.IntN(10) == 0 {
				x[i] = rng.ExpFloat64() + shift
			}
		case "tiny":
			x[i] = (rng.NormFloat64() + shift) * 1e-10
		case "huge":
			x[i] = (rng.NormFloat64() + shift) * 1e10
		case "extreme": // differences overflow to ±Inf
			x[i] = math.Copysign(math.MaxFloat64*rng.Float64(), rng.NormFloat64()+shift)
		}
	}
	return x
}

var hlShapes = []string{"continuous", "grid", "counts", "zeros", "tiny", "huge"}

// TestSelectorAgainstBruteForce checks every selected rank, in both
// orientations and with heavy ties, against the sorted differences.
func TestSelectorAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := [][2]int{{1, 1}, {1, 9000}, {9000, 1}, {2, 3000}, {70, 80}, {120, 200}, {333, 41}, {17, 900}, {250, 260}}
	var s selector
	for _, sz := range sizes {
		for _, shape := range append(hlShapes, "extreme") {
			n, m := sz[0], sz[1]
			x := hlSample(rng, n, shape, 0.3)
			y := hlSample(rng, m, shape, 0)
			want := allDifferences(x, y)
			slices.Sort(x)
			slices.Sort(y)
			slices.Reverse(y)
			s.reset(x, y)
			nm := int64(n * m)
			ranks := []int64{1, nm, (nm + 1) / 2, nm / 2, nm/2 + 1, 2, nm - 1}
			for range 20 {
				ranks = append(ranks, 1+rng.Int64N(nm))
			}
			for _, k := range ranks {
				if k < 1 || k > nm {
					continue
				}
				s.start()
				if got := s.kth(k); got != want[k-1] {
					t.Fatalf("%dx%d %s: rank %d = %v, want %v", n, m, shape, k, got, want[k-1])
				}
				if k < nm {
					s.start()
					a, b := s.kthAndNext(k)
					if a != want[k-1] || b != want[k] {
						t.Fatalf("%dx%d %s: ranks %d, %d = %v, %v, want %v, %v", n, m, shape, k, k+1, a, b, want[k-1], want[k])
					}
				}
			}
			// Shared narrowing, then each rank from the saved region.
			lo := max(1, nm/2-nm/10)
			hi := min(nm, max(lo, nm/2+nm/10))
			s.start()
			s.narrow(lo, hi)
			s.save()
			for _, k := range []int64{lo, (lo + hi) / 2, hi} {
				s.restore()
				if got := s.kth(k); got != want[k-1] {
					t.Fatalf("%dx%d %s after narrow(%d, %d): rank %d = %v, want %v", n, m, shape, lo, hi, k, got, want[k-1])
				}
			}
		}
	}
}

// TestHodgesLehmannAgainstBruteForce checks the shift and both interval ends
// of MannWhitney, for every method and alternative, against order statistics
// of the sorted differences at the ranks the README defines.
func TestHodgesLehmannAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	sizes := [][2]int{{1, 1}, {3, 4}, {12, 9}, {45, 40}, {70, 80}, {90, 7}, {7, 700}, {150, 140}}
	var w Workspace
	for _, sz := range sizes {
		for _, shape := range hlShapes {
			n, m := sz[0], sz[1]
			x := hlSample(rng, n, shape, 0.4)
			y := hlSample(rng, m, shape, 0)
			d := allDifferences(x, y)
			nm := len(d)
			median := d[(nm-1)/2]
			if nm%2 == 0 {
				median = (d[nm/2-1] + d[nm/2]) / 2
			}
			for _, alt := range []Alternative{TwoSided, Greater, Less} {
				for _, conf := range []float64{0.8, 0.95, 0.99} {
					r, err := w.MannWhitney(x, y, Options{Alternative: alt, Confidence: conf})
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%dx%d %s %v %v %v", n, m, shape, r.Method, alt, conf)
					if r.Shift != median {
						t.Errorf("%s: shift %v, want %v", name, r.Shift, median)
					}
					a := 1 - conf
					if alt == TwoSided {
						a /= 2
					}
					var c int
					if r.Method == Exact {
						c = bruteQwilcox(a, n, m)
					} else {
						z := NormalQuantile(1 - a)
						c = int(math.Round(float64(nm)/2 - z*math.Sqrt(float64(nm)*float64(n+m+1)/12)))
					}
					c = max(1, min(c, nm))
					lo, hi := d[c-1], d[nm-c]
					switch alt {
					case Greater:
						hi = math.Inf(1)
					case Less:
						lo = math.Inf(-1)
					}
					if r.Lower != lo || r.Upper != hi {
						t.Errorf("%s: interval [%v, %v], want [%v, %v] (rank %d)", name, r.Lower, r.Upper, lo, hi, c)
					}
				}
			}
		}
	}
}

// bruteQwilcox is R's qwilcox(p, n, m) for p <= 0.5 (at least 1), from the
// counts of the null distribution built the textbook way: the last value of
// the pooled sorted sample is either an x, above all b values of y, or a y,
//
//	N_{a,b}(k) = N_{a-1,b}(k - b) + N_{a,b-1}(k)
func bruteQwilcox(p float64, n, m int) int {
	nm := n * m
	prev := make([][]float64, m+1) // N_{a-1,b} for b = 0..m
	cur := make([][]float64, m+1)
	for b := range prev {
		prev[b] = make([]float64, nm+1)
		cur[b] = make([]float64, nm+1)
		prev[b][0] = 1 // a = 0: one arrangement, U = 0
	}
	for a := 1; a <= n; a++ {
		clear(cur[0])
		cur[0][0] = 1
		for b := 1; b <= m; b++ {
			for k := range cur[b] {
				v := cur[b-1][k]
				if k >= b {
					v += prev[b][k-b]
				}
				cur[b][k] = v
			}
		}
		prev, cur = cur, prev
	}
	counts := prev[m]
	total := 0.0
	for _, c := range counts {
		total += c
	}
	cum := 0.0
	for k, c := range counts {
		cum += c / total
		if cum >= p-qwilcoxFuzz {
			return max(k, 1)
		}
	}
	return nm
}

func TestRelativeShift(t *testing.T) {
	r := Result{Shift: 2, Lower: -1, Upper: math.Inf(1)}
	s, lo, hi := RelativeShift(r, -4)
	if s != 0.5 || lo != -0.25 || !math.IsInf(hi, 1) {
		t.Errorf("RelativeShift(-4) = %v, %v, %v", s, lo, hi)
	}
	for _, m := range []float64{0, math.Copysign(0, -1), math.NaN()} {
		s, lo, hi = RelativeShift(r, m)
		if !math.IsNaN(s) || !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("RelativeShift(%v) = %v, %v, %v, want NaN", m, s, lo, hi)
		}
	}
}

// TestHodgesLehmannSmallBand holds the banded small path to forming every
// difference, on every shape (ties by the hundred included), size up to
// maxDirect, alternative and level.
func TestHodgesLehmannSmallBand(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	var w Workspace
	for range 3000 {
		n := 1 + rng.IntN(40)
		m := 1 + rng.IntN(maxDirect/n)
		shape := hlShapes[rng.IntN(len(hlShapes))]
		x, y := hlSample(rng, n, shape, 0.3), hlSample(rng, m, shape, 0)
		slices.Sort(x)
		slices.Sort(y)
		nm := int64(n * m)
		kMed := (nm + 1) / 2
		lo := 1 + rng.Int64N(kMed)
		alt := Alternative(rng.IntN(3))
		w.x, w.y = x, y
		s1, l1, u1 := w.hodgesLehmannSmall(alt, kMed, lo, nm+1-lo)
		s2, l2, u2 := w.hodgesLehmannAll(alt, kMed, lo, nm+1-lo)
		if s1 != s2 || l1 != l2 || u1 != u2 {
			t.Fatalf("%dx%d %s %v rank %d: band (%v, %v, %v), all (%v, %v, %v)", n, m, shape, alt, lo, s1, l1, u1, s2, l2, u2)
		}
	}
}
