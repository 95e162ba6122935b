package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// RelativeShift expresses the shift and interval of r relative to the
// magnitude of the baseline's median:
//
//	shift = r.Shift / |baselineMedian|
//	lower = r.Lower / |baselineMedian|
//	upper = r.Upper / |baselineMedian|
//
// Infinite bounds stay infinite. When baselineMedian is 0 (or NaN) there is
// no scale to relate to and all three results are NaN; callers must decide
// what a change of a zero baseline means (an absolute rule, or a verdict of
// no data).
func RelativeShift(r Result, baselineMedian float64) (shift, lower, upper float64) {
	s := math.Abs(baselineMedian)
	if s == 0 || math.IsNaN(s) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return r.Shift / s, r.Lower / s, r.Upper / s
}

// hodgesLehmann returns the Hodges-Lehmann shift of the sorted samples in
// w.x and w.y and the interval [d_(lo), d_(nm+1-lo)] (one side infinite for a
// one-sided alternative). It reorders w.x or w.y.
//
// The selection runs on whichever orientation has fewer rows: the k-th
// smallest x_i - y_j is minus the (nm+1-k)-th smallest y_j - x_i, and
// floating-point subtraction is exactly antisymmetric.
func (w *Workspace) hodgesLehmann(alt Alternative, lo int64) (shift, lower, upper float64) {
	n, m := len(w.x), len(w.y)
	nm := int64(n) * int64(m)
	flip := m < n
	if flip {
		slices.Reverse(w.x)
		w.sel.reset(w.y, w.x)
	} else {
		slices.Reverse(w.y)
		w.sel.reset(w.x, w.y)
	}
	kth := func(k int64) float64 {
		if flip {
			return -w.sel.kth(nm + 1 - k)
		}
		return w.sel.kth(k)
	}
	if nm%2 == 1 {
		shift = kth((nm + 1) / 2)
	} else if flip {
		a, b := w.sel.kthAndNext(nm / 2)
		shift = midpoint(-b, -a)
	} else {
		a, b := w.sel.kthAndNext(nm / 2)
		shift = midpoint(a, b)
	}
	lower, upper = math.Inf(-1), math.Inf(1)
	if alt != Less {
		lower = kth(lo)
	}
	if alt != Greater {
		upper = kth(nm + 1 - lo)
	}
	return shift, lower, upper
}

// selector finds order statistics of the implicit n×m matrix
//
//	d_ij = x_i - y_j,  x ascending, y descending
//
// whose rows and columns are sorted (computed differences too: rounding is
// monotone), without forming it. It keeps, per row i, the columns
// [lo_i, hi_i) that may still hold the answer: all entries left of lo_i are
// <= a value known to be below the answer, all from hi_i on >= a value known
// to be above it. Each round draws a random sample of the candidates, takes
// two pivots from it that bracket the target rank with high probability
// (Floyd and Rivest's sampling step), and counts the entries below and at
// each pivot row by row. Those counts are monotone across rows, so a walk
// that starts each row at the previous row's position, clamped to the row's
// candidate range, costs O(n + m) per round in total and O(rows + candidates)
// once few remain (Johnson and Mizoguchi; Monahan's ACM TOMS 616 uses the
// same bounds). Each round shrinks the candidates by a factor of about
// sqrt(sample)/3; when at most a few thousand remain they are gathered and
// finished by quickselect. The result is always an entry of the matrix.
type selector struct {
	x, y   []float64
	lo, hi []int32    // candidate columns [lo_i, hi_i) of row i
	act    []int32    // rows with candidates, ascending
	cnt    [4][]int32 // per active row: #<= a, #< a, #<= b, #< b
	pre    []int64    // running sums of candidate widths over act
	smp    []float64  // pivot sample
	buf    []float64  // gathered candidates
	rng    rand.PCG   // pivot choice only: results do not depend on it
}

// Sizes of the pivot sample and of the final gather, relative to the cost of
// a counting pass over n + m entries.
const (
	minSample = 16
	maxSample = 1024
	minGather = 64
	maxGather = 4096
)

// reset prepares the selector for the matrix x_i - y_j (x ascending, y
// descending), growing its buffers to O(n + m).
func (s *selector) reset(x, y []float64) {
	s.x, s.y = x, y
	n, m := len(x), len(y)
	s.lo = growInt32s(s.lo, n)
	s.hi = growInt32s(s.hi, n)
	s.act = growInt32s(s.act, n)
	for k := range s.cnt {
		s.cnt[k] = growInt32s(s.cnt[k], n)
	}
	s.pre = growInt64s(s.pre, n)
	s.smp = growFloats(s.smp, min(max((n+m)/16, minSample), maxSample))
	s.buf = growFloats(s.buf, min(max(2*(n+m), minGather), maxGather))
}

// kth returns the k-th smallest entry (1-based) of the matrix.
func (s *selector) kth(k int64) float64 {
	n, m := len(s.x), len(s.y)
	act := s.act[:n]
	for i := range act {
		act[i] = int32(i)
		s.lo[i] = 0
		s.hi[i] = int32(m)
	}
	r := k                   // rank of the answer among the candidates
	c := int64(n) * int64(m) // number of candidates
	for c > int64(len(s.buf)) {
		a, b := s.pivots(act, r, c)
		leA, ltA, leB, ltB := s.count(act, a, b)
		var from, to []int32 // new bounds, nil to keep
		switch {
		case r <= ltA:
			to, c = s.cnt[1], ltA
		case r <= leA:
			return a
		case r <= ltB:
			from, to = s.cnt[0], s.cnt[3]
			r, c = r-leA, ltB-leA
		case r <= leB:
			return b
		default:
			from = s.cnt[2]
			r, c = r-leB, c-leB
		}
		keep := 0
		for idx, i := range act {
			if from != nil {
				s.lo[i] = from[idx]
			}
			if to != nil {
				s.hi[i] = to[idx]
			}
			if s.lo[i] < s.hi[i] {
				act[keep] = i
				keep++
			}
		}
		act = act[:keep]
	}
	buf := s.buf[:0]
	for _, i := range act {
		xi := s.x[i]
		for _, yj := range s.y[s.lo[i]:s.hi[i]] {
			buf = append(buf, xi-yj)
		}
	}
	return quickselect(buf, int(r-1), &s.rng)
}

// kthAndNext returns the k-th and (k+1)-th smallest entries, k < nm: the
// latter is the former when it repeats, else the smallest entry above it,
// found in one more pass.
func (s *selector) kthAndNext(k int64) (float64, float64) {
	v := s.kth(k)
	x, y := s.x, s.y
	p := len(y)
	var le int64
	next := math.Inf(1)
	for _, xi := range x {
		for p > 0 && xi-y[p-1] > v {
			p--
		}
		le += int64(p)
		if p < len(y) {
			next = min(next, xi-y[p])
		}
	}
	if le > k {
		return v, v
	}
	return v, next
}

// pivots draws the sample and returns two of its values a <= b between which
// the candidate of rank r (of c) lies with high probability.
func (s *selector) pivots(act []int32, r, c int64) (a, b float64) {
	pre := s.pre[:len(act)]
	var sum int64
	for idx, i := range act {
		sum += int64(s.hi[i] - s.lo[i])
		pre[idx] = sum
	}
	smp := s.smp
	for t := range smp {
		u := int64(s.rng.Uint64() % uint64(c))
		// First active row whose running width exceeds u.
		lo, hi := 0, len(pre)-1
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if pre[mid] > u {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		i := act[lo]
		j := int64(s.hi[i]) - (pre[lo] - u)
		smp[t] = s.x[i] - s.y[j]
	}
	slices.Sort(smp)
	ns := float64(len(smp))
	q := (float64(r) - 0.5) / float64(c)
	pos := q * ns
	delta := 3*math.Sqrt(ns*q*(1-q)) + 1
	ia := int(max(0, math.Floor(pos-delta)))
	ib := int(min(ns-1, math.Ceil(pos+delta)))
	return smp[ia], smp[ib]
}

// count fills s.cnt with each active row's number of entries <= a, < a,
// <= b and < b, and returns their sums over the rows minus the entries left
// of the candidates (the counts relative to the candidates).
func (s *selector) count(act []int32, a, b float64) (leA, ltA, leB, ltB int64) {
	x, y := s.x, s.y
	cLeA, cLtA := s.cnt[0][:len(act)], s.cnt[1][:len(act)]
	cLeB, cLtB := s.cnt[2][:len(act)], s.cnt[3][:len(act)]
	pa, pb := int32(len(y)), int32(len(y))
	for idx, i := range act {
		xi, l, h := x[i], s.lo[i], s.hi[i]
		// Entries <= a form a prefix of the row no longer than the previous
		// row's, and lie in [l, h].
		p := min(pa, h)
		for p > l && xi-y[p-1] > a {
			p--
		}
		pa = p
		q := p
		for q > l && xi-y[q-1] == a {
			q--
		}
		cLeA[idx], cLtA[idx] = p, q
		leA += int64(p - l)
		ltA += int64(q - l)

		p = min(pb, h)
		for p > l && xi-y[p-1] > b {
			p--
		}
		pb = p
		q = p
		for q > l && xi-y[q-1] == b {
			q--
		}
		cLeB[idx], cLtB[idx] = p, q
		leB += int64(p - l)
		ltB += int64(q - l)
	}
	return leA, ltA, leB, ltB
}
