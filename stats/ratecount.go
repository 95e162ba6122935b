package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// QuasiPoissonScale returns the dispersion φ of the non-negative values
// accumulated in s, modelled as φ times Poisson counts (an error ratio
// k/n over n requests has φ = 1/n), from the pooled within-block variance
// (immune to level changes between blocks) and the mean:
//
//	φ = s²_within / x̄,   s²_within = Σ_b Σ (x − x̄_b)² / Σ_b (n_b − 1)
//
// A ratio series of mostly zeros and a few values 1/n gives φ ≈ 1/n, so
// that Σx/φ counts its events. Extra-Poisson variation (bursts, load)
// only makes φ larger and the counts smaller: the test built on them is
// conservative. It returns NaN when s holds no positive mean or fewer than
// two points per block.
func QuasiPoissonScale(s *Serial) float64 {
	if s.N == 0 || s.WithinDF < 1 || !(s.Sum > 0) {
		return math.NaN()
	}
	v := s.WithinSS / float64(s.WithinDF)
	if !(v > 0) {
		return math.NaN()
	}
	return v / (s.Sum / float64(s.N))
}

// rateTheta returns the share of events the canary has under the rate
// ratio λc/λb = ratio, with exposures ec and eb:
//
//	θ = ratio·ec / (ratio·ec + eb)
func rateTheta(ec, eb, ratio float64) float64 { return ratio * ec / (ratio*ec + eb) }

// RateRatioUpperP returns the p-value of the exact conditional test of
// H0: λc/λb ≤ ratio for Poisson counts kc and kb over exposures ec and eb
// (Przyborowski & Wilenski 1940): given the total, kc is binomial with
// θ0 = rateTheta(ec, eb, ratio), so that a load both share cancels, and
//
//	p = P(X ≥ kc | X ~ Binomial(kc + kb, θ0)) = I_θ0(kc, kb + 1)
//
// where I is the regularized incomplete beta function, which extends the
// test to the non-integer counts of a quasi-Poisson model. p = 1 when
// kc = 0; NaN when an exposure is not positive.
func RateRatioUpperP(kc, kb, ec, eb, ratio float64) float64 {
	if !(ec > 0 && eb > 0 && ratio > 0) || math.IsNaN(kc) || math.IsNaN(kb) {
		return math.NaN()
	}
	if kc <= 0 {
		return 1
	}
	return mathext.RegIncBeta(kc, math.Max(kb, 0)+1, rateTheta(ec, eb, ratio))
}

// RateRatioLowerP is RateRatioUpperP for H0: λc/λb ≥ ratio:
//
//	p = P(X ≤ kc) = 1 − I_θ0(kc + 1, kb)
//
// p = 1 when kb = 0.
func RateRatioLowerP(kc, kb, ec, eb, ratio float64) float64 {
	if !(ec > 0 && eb > 0 && ratio > 0) || math.IsNaN(kc) || math.IsNaN(kb) {
		return math.NaN()
	}
	if kb <= 0 {
		return 1
	}
	return 1 - mathext.RegIncBeta(math.Max(kc, 0)+1, kb, rateTheta(ec, eb, ratio))
}

// RateRatioCI returns the exact (Clopper-Pearson) two-sided interval of the
// rate ratio λc/λb at level 1 − 2·alpha: each bound excludes the ratios
// that RateRatioUpperP or RateRatioLowerP reject at alpha,
//
//	θ_lo = B⁻¹(alpha; kc, kb+1),   θ_hi = B⁻¹(1−alpha; kc+1, kb)
//	ratio = θ/(1−θ) · eb/ec
//
// with θ_lo = 0 when kc = 0 and θ_hi = 1 (ratio +Inf) when kb = 0.
func RateRatioCI(kc, kb, ec, eb, alpha float64) (lo, hi float64) {
	if !(ec > 0 && eb > 0 && alpha > 0 && alpha < 1) || math.IsNaN(kc) || math.IsNaN(kb) {
		return math.NaN(), math.NaN()
	}
	toRatio := func(th float64) float64 { return th / (1 - th) * eb / ec }
	lo, hi = 0, math.Inf(1)
	if kc > 0 {
		lo = toRatio(mathext.InvRegIncBeta(kc, math.Max(kb, 0)+1, alpha))
	}
	if kb > 0 {
		hi = toRatio(mathext.InvRegIncBeta(math.Max(kc, 0)+1, kb, 1-alpha))
	}
	return lo, hi
}
