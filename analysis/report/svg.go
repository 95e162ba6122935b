package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// canvas accumulates the elements of one inline SVG chart. Elements carry
// CSS classes only: the page's embedded style sheet draws them, so a chart
// has no colours or fonts of its own.
type canvas struct {
	b    strings.Builder
	w, h float64
}

func newCanvas(w, h float64, label string) *canvas {
	c := &canvas{w: w, h: h}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">`,
		f(w), f(h), f(w), f(h), template.HTMLEscapeString(label))
	return c
}

// f formats a coordinate with at most one decimal.
func f(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func (c *canvas) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&c.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, f(x1), f(y1), f(x2), f(y2), class)
}

func (c *canvas) rect(x, y, w, h float64, class string) {
	fmt.Fprintf(&c.b, `<rect x="%s" y="%s" width="%s" height="%s" class="%s"/>`, f(x), f(y), f(max(w, 0)), f(max(h, 0)), class)
}

func (c *canvas) circle(x, y, r float64, class string) {
	fmt.Fprintf(&c.b, `<circle cx="%s" cy="%s" r="%s" class="%s"/>`, f(x), f(y), f(r), class)
}

func (c *canvas) path(d, class string) {
	if d == "" {
		return
	}
	fmt.Fprintf(&c.b, `<path d="%s" class="%s"/>`, d, class)
}

// text writes s at (x, y); anchor is start, middle or end.
func (c *canvas) text(x, y float64, anchor, class, s string) {
	fmt.Fprintf(&c.b, `<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, f(x), f(y), anchor, class, template.HTMLEscapeString(s))
}

// group opens a group of elements with tip as its tooltip; end closes
// it.
func (c *canvas) group(tip string) {
	fmt.Fprintf(&c.b, `<g><title>%s</title>`, template.HTMLEscapeString(tip))
}

func (c *canvas) end() { c.b.WriteString(`</g>`) }

func (c *canvas) html() template.HTML {
	c.b.WriteString(`</svg>`)
	return template.HTML(c.b.String()) // every text was escaped above
}

// scale maps the domain [d0, d1] linearly onto the range [r0, r1].
type scale struct{ d0, d1, r0, r1 float64 }

func (s scale) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.r0 + s.r1) / 2
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// clamp maps v and keeps the result inside the range.
func (s scale) clamp(v float64) float64 {
	x := s.at(v)
	lo, hi := min(s.r0, s.r1), max(s.r0, s.r1)
	return min(max(x, lo), hi)
}

// niceTicks returns about n round tick values covering [lo, hi] (steps of
// 1, 2 or 5 times a power of ten) and the step. The first and last ticks
// enclose [lo, hi], so they make a good domain.
func niceTicks(lo, hi float64, n int) (ticks []float64, step float64) {
	if !(hi > lo) {
		pad := math.Abs(lo) * 0.1
		if pad == 0 || math.IsNaN(pad) || math.IsInf(pad, 0) {
			pad = 1
		}
		if math.IsNaN(lo) || math.IsInf(lo, 0) {
			lo = 0
		}
		lo, hi = lo-pad, lo+pad
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	first := math.Floor(lo/step) * step
	last := math.Ceil(hi/step) * step
	for k := 0; ; k++ {
		v := first + float64(k)*step
		if v > last+step/2 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, v)
	}
	return ticks, step
}

// tickLabel formats v with just enough decimals for ticks step apart.
func tickLabel(v, step float64) string {
	a := max(math.Abs(v), step)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', decimals(step/1e9), 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', decimals(step/1e6), 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', decimals(step/1e3), 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', decimals(step), 64)
}

func decimals(step float64) int {
	if step <= 0 || math.IsNaN(step) || math.IsInf(step, 0) {
		return 2
	}
	return max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
}

// durationTicks returns round offsets (in seconds) for an elapsed-time axis
// of span seconds, about n of them, and their step.
func durationTicks(span float64, n int) (ticks []float64, step float64) {
	steps := []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}
	step = steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= float64(n) {
			step = s
			break
		}
	}
	for v := 0.0; v <= span+step*1e-9; v += step {
		ticks = append(ticks, v)
	}
	return ticks, step
}

// durationLabel formats an elapsed time of s seconds: 45s, 5m, 1m30s, 2h.
func durationLabel(s float64) string {
	sec := int(math.Round(s))
	h, m, r := sec/3600, sec/60%60, sec%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if r > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", r)
	}
	return b.String()
}
