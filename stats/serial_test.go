package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

// direct computes the global and pooled statistics from all the points.
func direct(blocks [][]float64) (mean, gVar, gLag, wSS, wLag float64, wDF int) {
	var all []float64
	for _, b := range blocks {
		all = append(all, b...)
		var m float64
		for _, v := range b {
			m += v
		}
		m /= float64(len(b))
		for i, v := range b {
			wSS += (v - m) * (v - m)
			if i > 0 {
				wLag += (b[i-1] - m) * (v - m)
			}
		}
		wDF += len(b) - 1
	}
	for _, v := range all {
		mean += v
	}
	mean /= float64(len(all))
	var ss float64
	for i, v := range all {
		ss += (v - mean) * (v - mean)
		if i > 0 {
			gLag += (all[i-1] - mean) * (v - mean)
		}
	}
	return mean, ss / float64(len(all)-1), gLag / ss, wSS, wLag, wDF
}

func TestSerialMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Serial
	var blocks [][]float64
	x := 0.0
	for b := 0; b < 6; b++ {
		block := make([]float64, 20+b)
		for i := range block {
			x = 0.7*x + rng.NormFloat64() + float64(b) // AR(1) plus a level change per block
			block[i] = x
		}
		blocks = append(blocks, block)
		s.AddBlock(block)

		mean, gVar, gLag, wSS, wLag, wDF := direct(blocks)
		if !scalar.EqualWithinAbsOrRel(s.Mean(), mean, 1e-12, 1e-12) {
			t.Fatalf("block %d: mean %v, want %v", b, s.Mean(), mean)
		}
		v, rho := s.GlobalAR1()
		if !scalar.EqualWithinAbsOrRel(v, gVar, 1e-9, 1e-9) {
			t.Fatalf("block %d: global variance %v, want %v", b, v, gVar)
		}
		if want := CorrectAR1(gLag, s.N); !scalar.EqualWithinAbsOrRel(rho, want, 1e-9, 1e-9) {
			t.Fatalf("block %d: global rho %v, want %v", b, rho, want)
		}
		pv, prho := s.PooledAR1()
		if b == 0 && wDF < 2 {
			continue
		}
		if !scalar.EqualWithinAbsOrRel(pv, wSS/float64(wDF), 1e-9, 1e-9) {
			t.Fatalf("block %d: pooled variance %v, want %v", b, pv, wSS/float64(wDF))
		}
		if want := CorrectAR1(wLag/wSS, s.BlockLen); !scalar.EqualWithinAbsOrRel(prho, want, 1e-9, 1e-9) {
			t.Fatalf("block %d: pooled rho %v, want %v", b, prho, want)
		}
	}
	if s.LastN != len(blocks[5]) {
		t.Errorf("LastN = %d, want %d", s.LastN, len(blocks[5]))
	}
	// The level changes between blocks inflate the global variance, not the pooled one.
	gv, _ := s.GlobalAR1()
	pv, _ := s.PooledAR1()
	if !(gv > pv) {
		t.Errorf("global variance %v should exceed pooled %v when the level moves", gv, pv)
	}
}

// TestMeanSECoverage checks that the AR(1)-corrected standard error of a
// mean is calibrated on simulated AR(1) series: about 95% of the 95%
// intervals cover the true mean 0.
func TestMeanSECoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const runs = 2000
	covered := 0
	for r := 0; r < runs; r++ {
		var s Serial
		x := 0.0
		for b := 0; b < 5; b++ {
			block := make([]float64, 30)
			for i := range block {
				x = 0.6*x + rng.NormFloat64()
				block[i] = x
			}
			s.AddBlock(block)
		}
		v, rho := s.PooledAR1()
		se := MeanSE(v, rho, s.N)
		if math.Abs(s.Mean()) <= 1.96*se {
			covered++
		}
	}
	if frac := float64(covered) / runs; frac < 0.92 || frac > 0.98 {
		t.Errorf("coverage %.3f of nominal 95%% intervals, want within [0.92, 0.98]", frac)
	}
}

func TestCorrectAR1(t *testing.T) {
	for _, c := range []struct {
		r    float64
		n    int
		want float64
	}{
		{0.5, 30, 0.5 + 3.0/30},
		{-0.3, 30, 0},
		{0.99, 30, MaxAR1},
		{0, 0, 0},
	} {
		if got := CorrectAR1(c.r, c.n); !scalar.EqualWithinAbs(got, c.want, 1e-12) {
			t.Errorf("CorrectAR1(%v, %d) = %v, want %v", c.r, c.n, got, c.want)
		}
	}
}

func TestSpendAlphaSumsToAlpha(t *testing.T) {
	var sum float64
	for k := 1; k <= 1_000_000; k++ {
		sum += SpendAlpha(0.05, k)
	}
	if sum > 0.05 || sum < 0.05*(1-1e-5) {
		t.Errorf("Σ α_k = %v, want just under 0.05", sum)
	}
	if got := SpendAlpha(0.05, 1); got != 0.025 {
		t.Errorf("α_1 = %v, want 0.025", got)
	}
}

func TestHolm(t *testing.T) {
	// Holm at 0.05 over 4 p-values: 0.01 ≤ 0.0125 rejected, 0.015 ≤ 0.0167
	// rejected, 0.03 > 0.025 stops.
	p := []float64{0.03, 0.01, math.NaN(), 0.015, 0.04}
	reject := make([]bool, len(p))
	Holm(p, 0.05, reject, nil)
	want := []bool{false, true, false, true, false}
	for i := range want {
		if reject[i] != want[i] {
			t.Errorf("reject = %v, want %v", reject, want)
			break
		}
	}
}

func TestStudentUpperTail(t *testing.T) {
	for _, c := range []struct{ t, df, want float64 }{
		{2.228138851986, 10, 0.025}, // t table
		{0, 5, 0.5},
		{-1.812461122811, 10, 0.95},
		{12.7062047361747, 1, 0.025},
	} {
		if got := StudentUpperTail(c.t, c.df); !scalar.EqualWithinAbsOrRel(got, c.want, 1e-9, 1e-8) {
			t.Errorf("StudentUpperTail(%v, %v) = %v, want %v", c.t, c.df, got, c.want)
		}
	}
	if got := StudentQuantile(0.975, 10); !scalar.EqualWithinAbsOrRel(got, 2.228138851986, 1e-9, 1e-9) {
		t.Errorf("StudentQuantile(0.975, 10) = %v, want 2.228138851986", got)
	}
	// Far in the tail it converges to the normal's.
	if got, want := StudentUpperTail(10, 1e7), NormalUpperTail(10); !scalar.EqualWithinRel(got, want, 1e-3) {
		t.Errorf("StudentUpperTail(10, 1e7) = %v, want about %v", got, want)
	}
}
