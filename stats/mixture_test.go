package stats

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// mixtureZ returns the z-scale threshold at information t (in intervals)
// of the normal-mixture confidence sequence (Robbins; Howard, Ramdas,
// McAuliffe & Sekhon 2021) that bounds a one-sided error α over all
// looks, with mixture parameter rho:
//
//	S_t ≥ sqrt((t+ρ) · log((t+ρ) / (ρ (2α)²)))   ⇔   z_t ≥ sqrt((t+ρ)/t · log((t+ρ) / (ρ (2α)²)))
func mixtureZ(t, rho, alpha float64) float64 {
	return math.Sqrt((t + rho) / t * math.Log((t+rho)/(rho*4*alpha*alpha)))
}

// TestSpendingAgainstMixture compares, on the z scale with a known
// variance, the thresholds of canaryd's α spending (α/(k(k+1)) at look k)
// with those of a normal-mixture confidence sequence, both valid over any
// number of looks at α = 5% (issue 14's evaluation; -v for the table). The
// mixture is tighter from the fifth look on whatever its parameter, and
// much looser at the first three looks, where gross regressions must be
// caught: spending keeps them, and the test fails if that stops holding.
func TestSpendingAgainstMixture(t *testing.T) {
	const alpha = 0.05
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| look | spending | mixture ρ=0.5 | ρ=1 | ρ=2 |\n|---|---|---|---|---|\n")
	for k := 1; k <= 10; k++ {
		spend := NormalQuantile(1 - SpendAlpha(alpha, k))
		fmt.Fprintf(&sb, "| %d | %.2f |", k, spend)
		for _, rho := range []float64{0.5, 1, 2} {
			m := mixtureZ(float64(k), rho, alpha)
			fmt.Fprintf(&sb, " %.2f |", m)
			if k <= 3 && !(spend < m) {
				t.Errorf("look %d: spending's z %.2f is not below the mixture's %.2f (ρ = %v)", k, spend, m, rho)
			}
		}
		sb.WriteString("\n")
	}
	t.Log(sb.String())
}
