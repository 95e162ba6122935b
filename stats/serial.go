package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Serial accumulates, block by block, the sufficient statistics of an
// autocorrelated series (for canaryd: the paired canary-baseline
// differences of one metric, one block per judged interval), so that the
// mean of everything seen so far, and of the latest block, can be tested
// without keeping the points.
//
// Two estimates of the noise are kept:
//
//   - global: the sample variance and lag-1 autocorrelation of the whole
//     series around its overall mean. A drifting mean (a leak) inflates it.
//   - pooled within-block: residuals around each block's own mean, pooled
//     across blocks. It is immune to level changes between blocks, and uses
//     all the points seen, so it stays stable after a few blocks.
//
// The variance of a mean of n points of an AR(1) process with lag-1
// correlation ρ and point variance σ² is approximately
//
//	Var(mean) = σ²/n · (1+ρ)/(1−ρ)
//
// The zero value is empty and ready to use. Its fields are exported so
// that it can be persisted (e.g. as JSON) and resumed.
type Serial struct {
	N      int     `json:"n"`
	Sum    float64 `json:"sum"`
	SumSq  float64 `json:"sum_sq"`
	SumLag float64 `json:"sum_lag"` // Σ x_i·x_{i+1} over consecutive points, across blocks
	First  float64 `json:"first"`
	Last   float64 `json:"last"`

	Blocks    int     `json:"blocks"`
	WithinSS  float64 `json:"within_ss"`  // Σ over blocks of Σ (x_i − block mean)²
	WithinLag float64 `json:"within_lag"` // Σ over blocks of Σ (x_i − m)(x_{i+1} − m)
	WithinDF  int     `json:"within_df"`  // Σ over blocks of (n_b − 1)
	BlockLen  int     `json:"block_len"`  // the largest block seen, for the bias correction

	LastN    int     `json:"last_n"`    // points in the latest block
	LastMean float64 `json:"last_mean"` // mean of the latest block
}

// AddBlock adds one block of points (non-finite values must have been
// removed by the caller). An empty block is counted as a block with no
// points.
func (s *Serial) AddBlock(x []float64) {
	s.Blocks++
	s.LastN = len(x)
	s.LastMean = math.NaN()
	if len(x) == 0 {
		return
	}
	var sum float64
	for _, v := range x {
		sum += v
	}
	m := sum / float64(len(x))
	var ss, lag float64
	for i, v := range x {
		e := v - m
		ss += e * e
		if i > 0 {
			lag += (x[i-1] - m) * e
		}
	}
	s.WithinSS += ss
	s.WithinLag += lag
	s.WithinDF += len(x) - 1
	if len(x) > s.BlockLen {
		s.BlockLen = len(x)
	}

	if s.N == 0 {
		s.First = x[0]
	} else {
		s.SumLag += s.Last * x[0]
	}
	for i, v := range x {
		s.Sum += v
		s.SumSq += v * v
		if i > 0 {
			s.SumLag += x[i-1] * v
		}
	}
	s.N += len(x)
	s.Last = x[len(x)-1]
	s.LastMean = m
}

// Mean returns the mean of every point added.
func (s *Serial) Mean() float64 {
	if s.N == 0 {
		return math.NaN()
	}
	return s.Sum / float64(s.N)
}

// GlobalAR1 returns the variance of the points around their overall mean
// and their bias-corrected lag-1 autocorrelation (see CorrectAR1).
func (s *Serial) GlobalAR1() (variance, rho float64) {
	n := float64(s.N)
	if s.N < 3 {
		return math.NaN(), 0
	}
	m := s.Sum / n
	ss := s.SumSq - n*m*m
	if ss <= 0 {
		return 0, 0
	}
	// Σ (x_i − m)(x_{i+1} − m) = Σ x_i x_{i+1} − m(2·Sum − First − Last) + (n−1)m².
	lag := s.SumLag - m*(2*s.Sum-s.First-s.Last) + (n-1)*m*m
	return ss / (n - 1), CorrectAR1(lag/ss, s.N)
}

// PooledAR1 returns the pooled within-block variance and bias-corrected
// lag-1 autocorrelation.
func (s *Serial) PooledAR1() (variance, rho float64) {
	if s.WithinDF < 2 {
		return math.NaN(), 0
	}
	if s.WithinSS <= 0 {
		return 0, 0
	}
	return s.WithinSS / float64(s.WithinDF), CorrectAR1(s.WithinLag/s.WithinSS, s.BlockLen)
}

// MaxAR1 is the largest lag-1 autocorrelation CorrectAR1 returns: at 0.95
// a mean's variance is inflated 39-fold.
const MaxAR1 = 0.95

// CorrectAR1 corrects the downward bias of a lag-1 autocorrelation r
// estimated from series of n points demeaned by their own mean
// (Marriott & Pope 1954, Kendall 1954):
//
//	E[r] ≈ ρ − (1 + 4ρ)/n   ⇒   ρ̂ = r + (1 + 4r)/n
//
// and clamps the result to [0, MaxAR1]: negative autocorrelation is
// treated as none, which only makes the variance larger.
func CorrectAR1(r float64, n int) float64 {
	if n > 0 {
		r += (1 + 4*r) / float64(n)
	}
	if !(r > 0) {
		return 0
	}
	return math.Min(r, MaxAR1)
}

// PooledDF returns the effective degrees of freedom of the pooled
// within-block variance estimate. The sample variance of n points of an
// AR(1) process has variance 2σ⁴/n · (1+ρ²)/(1−ρ²) (Bartlett 1946), so
//
//	df = Σ(n_b − 1) · (1−ρ²)/(1+ρ²)
//
// at least 1.
func (s *Serial) PooledDF() float64 {
	_, rho := s.PooledAR1()
	r2 := rho * rho
	return math.Max(1, float64(s.WithinDF)*(1-r2)/(1+r2))
}

// StudentUpperTail returns P(T > t) for Student's t distribution with df
// degrees of freedom (df > 0, not necessarily whole):
//
//	P(T > t) = ½ · I_{df/(df+t²)}(df/2, ½)   for t ≥ 0
//
// where I is the regularized incomplete beta function; for t < 0 it is
// 1 − P(T > −t). Unlike 1 − CDF it keeps its precision far in the tail.
func StudentUpperTail(t, df float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case math.IsInf(t, 1):
		return 0
	case math.IsInf(t, -1):
		return 1
	}
	tail := 0.5 * mathext.RegIncBeta(df/2, 0.5, df/(df+t*t))
	if t < 0 {
		return 1 - tail
	}
	return tail
}

// StudentQuantile returns the p-quantile of Student's t distribution with
// df degrees of freedom: the t with P(T ≤ t) = p.
//
// By symmetry it solves, for the tail q = min(p, 1−p) (1−p is exact in
// floating point for p ≥ ½), the equation
//
//	P(T > t) = q,   t > 0
//
// and returns t for p > ½ and −t for p < ½. Closed forms exist for df = 1
// and df = 2:
//
//	df = 1:  t = 1 / tan(π q)
//	df = 2:  t = (1 − 2q) / sqrt(2 q (1 − q))
//
// Otherwise a first approximation t₀ (the Cornish-Fisher expansion in 1/df
// around the normal quantile z, or the power-law tail
// P(T > t) ≈ K df^((df−1)/2) t^(−df) when z² ≥ df/2) is refined by Halley's
// method on g(t) = P(T > t) − q, with g' = −f and f'/f = −(df+1) t/(df+t²):
//
//	δ = (P(T > tₙ) − q) / f(tₙ)
//	tₙ₊₁ = tₙ + δ / (1 − δ (df+1) tₙ / (2 (df+tₙ²)))
//	f(t) = K (1 + t²/df)^(−(df+1)/2),   K = Γ((df+1)/2) / (Γ(df/2) sqrt(π df))
//
// until the step is below 1e-9 tₙ (the convergence is cubic: one or two
// steps in the usual range). The tail P(T > t) is the regularized incomplete
// beta function in whichever of its two forms avoids cancellation.
//
// Special cases: p = 0 gives −Inf, p = 1 gives +Inf, p = ½ gives 0; NaN, df ≤ 0
// or p outside [0, 1] give NaN. For df < 1, df = +Inf, a tail q below 1e-300
// (and, defensively, if the iteration does not settle) it falls back to
// inverting the incomplete beta function, which is slower and returns NaN for
// df = +Inf.
func StudentQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || math.IsNaN(df) || df <= 0 || p < 0 || p > 1:
		return math.NaN()
	case p == 0.5:
		return 0
	}
	q, sign := 1-p, 1.0
	if p < 0.5 {
		q, sign = p, -1
	}
	switch {
	case df < 1 || math.IsInf(df, 1) || q < 1e-300:
		return studentQuantileInvBeta(p, df)
	case df == 1:
		return sign / math.Tan(math.Pi*q)
	case df == 2:
		return sign * (1 - 2*q) / math.Sqrt(2*q*(1-q))
	}
	logK := studentLogNorm(df)
	t := studentStart(q, df, logK)
	for range 20 {
		u := t * t / df
		f := math.Exp(logK - (df+1)/2*math.Log1p(u))
		d := (studentTail(t, df) - q) / f
		d /= 1 - d*(df+1)*t/(2*(df+t*t))
		next := t + d
		if next <= 0 { // never expected; keep the iterate positive
			next = t / 2
		}
		if math.Abs(d) <= 1e-9*t {
			return sign * next
		}
		t = next
	}
	return studentQuantileInvBeta(p, df)
}

// AR1Inflation returns (1+ρ)/(1−ρ), the factor by which lag-1
// autocorrelation ρ inflates the variance of a mean.
func AR1Inflation(rho float64) float64 { return (1 + rho) / (1 - rho) }

// MeanSE returns the standard error of the mean of n points of an AR(1)
// process with point variance v and lag-1 autocorrelation rho:
//
//	SE = sqrt(v · (1+ρ)/(1−ρ) / n)
func MeanSE(v, rho float64, n int) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return math.Sqrt(v * AR1Inflation(rho) / float64(n))
}

// SpendAlpha returns the error rate spent at the k-th look (k ≥ 1) of a
// sequential test with no planned number of looks:
//
//	α_k = α / (k (k+1)),   Σ_{k≥1} α_k = α
//
// By Bonferroni's inequality over looks, rejecting at look k when p ≤ α_k
// keeps the probability of ever rejecting a true null at most α, however
// long the analysis runs, and whatever the dependence between looks.
func SpendAlpha(alpha float64, k int) float64 {
	if k < 1 {
		k = 1
	}
	return alpha / (float64(k) * float64(k+1))
}

// Holm runs Holm's step-down procedure on p-values at family-wise level
// alpha and writes which hypotheses are rejected into reject (len(p)).
// NaN p-values are never rejected and do not count as hypotheses.
//
// Sort the m p-values ascending, p_(1) ≤ … ≤ p_(m); reject H_(1..k) for
// the largest k with p_(j) ≤ α/(m − j + 1) for every j ≤ k.
//
// order is scratch space of len(p) (nil allocates).
func Holm(p []float64, alpha float64, reject []bool, order []int) {
	if len(reject) != len(p) {
		panic("stats: Holm: len(reject) != len(p)")
	}
	if order == nil || len(order) < len(p) {
		order = make([]int, len(p))
	}
	order = order[:0]
	for i, v := range p {
		reject[i] = false
		if !math.IsNaN(v) {
			order = append(order, i)
		}
	}
	// Insertion sort: the number of metrics is small, and it allocates nothing.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && p[order[j]] < p[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	m := len(order)
	for j, idx := range order {
		if p[idx] > alpha/float64(m-j) {
			return
		}
		reject[idx] = true
	}
}
