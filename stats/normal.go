package stats

import "math"

// NormalUpperTail returns the upper tail probability of the standard normal
// distribution:
//
//	P(Z > z) = erfc(z / sqrt(2)) / 2
//
// Computed through erfc rather than 1 - Phi(z), it keeps full relative
// precision far into the tail: it underflows to 0 only where the true value
// is below the smallest float64 (z above about 38.5). NormalUpperTail(-Inf)
// is 1, NormalUpperTail(+Inf) is 0 and NaN gives NaN.
func NormalUpperTail(z float64) float64 {
	return math.Erfc(z/math.Sqrt2) / 2
}

// NormalQuantile returns the quantile function (inverse CDF) of the standard
// normal distribution, the z with
//
//	P(Z <= z) = p
//
// It uses Wichura's rational approximations (Applied Statistics algorithm
// AS 241, PPND16), accurate to about 1e-16 relative over the whole range.
// NormalQuantile(0) is -Inf, NormalQuantile(1) is +Inf, and p outside [0, 1]
// or NaN gives NaN.
func NormalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	q := p - 0.5
	if math.Abs(q) <= 0.425 {
		r := 0.180625 - q*q
		return q * poly(&as241Central[0], r) / poly(&as241Central[1], r)
	}
	tail := p // the smaller of p and 1-p, without cancellation for p < 0.5
	if q > 0 {
		tail = 1 - p
	}
	r := math.Sqrt(-math.Log(tail))
	var z float64
	if r <= 5 {
		r -= 1.6
		z = poly(&as241Intermediate[0], r) / poly(&as241Intermediate[1], r)
	} else {
		r -= 5
		z = poly(&as241Far[0], r) / poly(&as241Far[1], r)
	}
	if q < 0 {
		return -z
	}
	return z
}

// poly evaluates c[0] + c[1] r + ... + c[7] r^7 by Horner's rule.
func poly(c *[8]float64, r float64) float64 {
	s := c[7]
	for i := 6; i >= 0; i-- {
		s = s*r + c[i]
	}
	return s
}

// Coefficients of AS 241 (Wichura 1988), numerator then denominator, lowest
// degree first, for |p - 0.5| <= 0.425, for sqrt(-log(tail)) <= 5 and beyond.
var (
	as241Central = [2][8]float64{
		{3.3871328727963666080e0, 1.3314166789178437745e+2, 1.9715909503065514427e+3, 1.3731693765509461125e+4,
			4.5921953931549871457e+4, 6.7265770927008700853e+4, 3.3430575583588128105e+4, 2.5090809287301226727e+3},
		{1, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
			2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4, 5.2264952788528545610e+3},
	}
	as241Intermediate = [2][8]float64{
		{1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0, 3.64784832476320460504e0,
			1.27045825245236838258e0, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4},
		{1, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
			1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9},
	}
	as241Far = [2][8]float64{
		{6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0, 2.96560571828504891230e-1,
			2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7},
		{1, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
			7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15},
	}
)

// asymptoticPValue is the normal-approximation p-value of U for samples of n
// and m values with tie term tieSum = sum_t (t^3 - t); see
// Workspace.MannWhitney.
func asymptoticPValue(u float64, n, m int, tieSum float64, alt Alternative) float64 {
	nf, mf := float64(n), float64(m)
	big := nf + mf
	v := nf * mf / 12 * ((big + 1) - tieSum/(big*(big-1)))
	if !(v > 0) {
		return 1 // every value tied: no evidence either way
	}
	sigma := math.Sqrt(v)
	d := u - nf*mf/2
	var c float64
	switch alt {
	case Greater:
		c = 0.5
	case Less:
		c = -0.5
	default:
		if d > 0 {
			c = 0.5
		} else if d < 0 {
			c = -0.5
		}
	}
	z := (d - c) / sigma
	switch alt {
	case Greater:
		return NormalUpperTail(z)
	case Less:
		return NormalUpperTail(-z)
	}
	return 2 * NormalUpperTail(math.Abs(z))
}

// asymptoticRank is the 1-based rank C of the lower interval bound under
// Hollander and Wolfe's large-sample rule (see Workspace.MannWhitney).
func asymptoticRank(n, m int, alt Alternative, alpha float64) int64 {
	a := alpha
	if alt == TwoSided {
		a = alpha / 2
	}
	nm := float64(n) * float64(m)
	// z_(1-a) = -z_a keeps precision for tiny a.
	c := math.Round(nm/2 + NormalQuantile(a)*math.Sqrt(nm*float64(n+m+1)/12))
	return int64(max(1, min(c, nm)))
}
