package report

import (
	"math"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/analysis"
)

// fmtNum formats a measured value with four significant digits; NaN is an
// em dash.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 1):
		return "+∞"
	case math.IsInf(v, -1):
		return "−∞"
	}
	a := math.Abs(v)
	if a == 0 {
		return "0"
	}
	if a >= 1e6 || a < 1e-4 {
		return strconv.FormatFloat(v, 'e', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', max(0, 3-int(math.Floor(math.Log10(max(a, 1e-4))))), 64)
}

// fmtPct formats a relative change with its sign: +41.8%.
func fmtPct(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 1):
		return "+∞"
	case math.IsInf(v, -1):
		return "−∞"
	}
	s := strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	if v > 0 || (v == 0 && !math.Signbit(v)) {
		s = "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

// pctTick formats a tick of a relative-change axis, ticks step apart.
func pctTick(v, step float64) string {
	s := strconv.FormatFloat(v*100, 'f', decimals(step*100), 64) + "%"
	if v > 0 {
		s = "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

// fmtP formats a p-value: four decimals, or scientific below 0.0001.
func fmtP(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v < 1e-4:
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// fmtScore formats a verdict's score (0 to 100).
func fmtScore(v analysis.Float) string {
	if math.IsNaN(float64(v)) {
		return "—"
	}
	return strconv.FormatFloat(float64(v), 'f', 0, 64)
}

// fmtWeight formats a traffic weight in percent without trailing zeros.
func fmtWeight(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
