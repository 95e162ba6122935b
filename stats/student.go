package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// studentTail returns P(T > t) for t ≥ 0 and df ≥ 1 with the form of the
// regularized incomplete beta function that keeps its relative precision:
//
//	P(T > t) = ½ · I_{df/(df+t²)}(df/2, ½)        if t ≥ 1
//	P(T > t) = ½ − ½ · I_{t²/(df+t²)}(½, df/2)    if t < 1
//
// The first has no subtraction, for the small tails; the second is used
// where P(T > t) > 0.15 and its argument is below the mean 1/(df+1) of
// Beta(½, df/2), so that RegIncBeta does not itself take 1 − x.
func studentTail(t, df float64) float64 {
	t2 := t * t
	if t2 >= 1 {
		return 0.5 * mathext.RegIncBeta(df/2, 0.5, df/(df+t2))
	}
	return 0.5 - 0.5*mathext.RegIncBeta(0.5, df/2, t2/(df+t2))
}

// studentLogNorm returns the logarithm of the normalising constant of
// Student's t density with df degrees of freedom:
//
//	log K = log Γ((df+1)/2) − log Γ(df/2) − ½ log(π df)
func studentLogNorm(df float64) float64 {
	a, _ := math.Lgamma((df + 1) / 2)
	b, _ := math.Lgamma(df / 2)
	return a - b - 0.5*math.Log(math.Pi*df)
}

// studentStart returns a first approximation of the t > 0 with
// P(T > t) = q, 0 < q < ½, for df ≥ 1 (see StudentQuantile).
func studentStart(q, df, logK float64) float64 {
	z := -NormalQuantile(q)
	z2 := z * z
	if z2 < 0.5*df {
		// Cornish-Fisher expansion of the t quantile in powers of 1/df
		// around the normal quantile z (Abramowitz and Stegun 26.7.5).
		g1 := z * (z2 + 1) / 4
		g2 := z * ((5*z2+16)*z2 + 3) / 96
		g3 := z * (((3*z2+19)*z2+17)*z2 - 15) / 384
		g4 := z * ((((79*z2+776)*z2+1482)*z2-1920)*z2 - 945) / 92160
		return z + (g1+(g2+(g3+g4/df)/df)/df)/df
	}
	// Far tail: P(T > t) ≈ K df^((df−1)/2) t^(−df), so
	// log t ≈ (log K + (df−1)/2 · log df − log q) / df. It undershoots;
	// the larger of it and the expansion above is the better start.
	tail := math.Exp((logK + 0.5*(df-1)*math.Log(df) - math.Log(q)) / df)
	cf := z * (1 + (z2+1)/(4*df))
	return math.Max(tail, cf)
}

// studentQuantileInvBeta returns the p-quantile of Student's t
// distribution by inverting the regularized incomplete beta function:
//
//	t = ± sqrt(df (1 − x) / x),   I_x(df/2, ½) = 2 min(p, 1−p)
func studentQuantileInvBeta(p, df float64) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}
