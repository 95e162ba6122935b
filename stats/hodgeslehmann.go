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
	kMed := (nm + 1) / 2 // the lower middle when nm is even
	kLo, kHi := lo, nm+1-lo
	if nm <= maxDirect {
		return w.hodgesLehmannSmall(alt, kMed, kLo, kHi)
	}
	flip := m < n
	if flip {
		slices.Reverse(w.x)
		w.sel.reset(w.y, w.x)
	} else {
		slices.Reverse(w.y)
		w.sel.reset(w.x, w.y)
	}
	// rank maps a rank of x - y to the rank of the same entry in the matrix
	// the selector works on.
	rank := func(k int64) int64 {
		if flip {
			return nm + 1 - k
		}
		return k
	}
	sign := 1.0
	if flip {
		sign = -1
	}
	// The ranks to find lie in [first, last]: rounds on the region that
	// holds them all are shared.
	first, last := kMed, kMed
	if nm%2 == 0 {
		last = kMed + 1
	}
	if alt != Less {
		first = min(first, kLo)
	}
	if alt != Greater {
		last = max(last, kHi)
	}
	w.sel.start()
	w.sel.narrow(min(rank(first), rank(last)), max(rank(first), rank(last)))
	w.sel.save()

	if nm%2 == 1 {
		shift = sign * w.sel.kth(rank(kMed))
	} else {
		// Ranks nm/2 and nm/2+1 of x - y are ranks nm/2+1 and nm/2 of y - x.
		a, b := w.sel.kthAndNext(nm / 2)
		if flip {
			a, b = -b, -a
		}
		shift = midpoint(a, b)
	}
	lower, upper = math.Inf(-1), math.Inf(1)
	if alt != Less {
		w.sel.restore()
		lower = sign * w.sel.kth(rank(kLo))
	}
	if alt != Greater {
		w.sel.restore()
		upper = sign * w.sel.kth(rank(kHi))
	}
	return shift, lower, upper
}

// hodgesLehmannSmall handles n·m <= maxDirect. It brackets the ranks it
// needs between two pivots, order statistics of a systematic sample of
// bandSample differences (every nm/bandSample-th of the matrix in row
// order, rows and columns sorted), 3 binomial standard deviations outside
// the ranks' quantiles; one staircase walk per pivot down the rows finds,
// in each row, the columns whose differences lie between them, and only
// those (about half the matrix at n = m = 30) are formed and selected from.
// When the pivots miss (rarely), or for fewer than 4·bandSample differences,
// every difference is formed (hodgesLehmannAll).
func (w *Workspace) hodgesLehmannSmall(alt Alternative, kMed, kLo, kHi int64) (shift, lower, upper float64) {
	x, y := w.x, w.y
	n, m := len(x), len(y)
	nm := int64(n) * int64(m)
	first, last := kMed, kMed
	if nm%2 == 0 {
		last = kMed + 1
	}
	if alt != Less {
		first = min(first, kLo)
	}
	if alt != Greater {
		last = max(last, kHi)
	}
	if nm < 4*bandSample {
		return w.hodgesLehmannAll(alt, kMed, kLo, kHi)
	}
	// Row i of the matrix is x_i - y_(m-1-j), j = 0..m-1: ascending.
	var smp [bandSample]float64
	for k := range smp {
		p := (int64(2*k+1) * nm) / (2 * bandSample)
		i, j := p/int64(m), p%int64(m)
		smp[k] = x[i] - y[int64(m)-1-j]
	}
	const sf = float64(bandSample)
	q1 := (float64(first) - 0.5) / float64(nm)
	q2 := (float64(last) - 0.5) / float64(nm)
	ia := int(math.Floor(q1*sf - 3*math.Sqrt(sf*q1*(1-q1)) - 1))
	ib := int(math.Ceil(q2*sf + 3*math.Sqrt(sf*q2*(1-q2)) + 1))
	rng := &w.sel.rng
	a, b := math.Inf(-1), math.Inf(1)
	if ia >= 0 {
		a = quickselect(smp[:], ia, rng)
	}
	if ib < bandSample {
		lo := max(ia+1, 0)
		b = quickselect(smp[lo:], ib-lo, rng)
	}
	// Per row, the differences < a form a prefix [0, ca), those <= b a
	// prefix [0, cb); both shrink down the rows.
	w.sel.buf = growFloats(w.sel.buf, int(nm))
	d := w.sel.buf[:0]
	var below int64
	ca, cb := m, m
	for _, xi := range x {
		for ca > 0 && xi-y[m-ca] >= a {
			ca--
		}
		for cb > 0 && xi-y[m-cb] > b {
			cb--
		}
		below += int64(ca)
		for j := m - 1 - ca; j >= m-cb; j-- {
			d = append(d, xi-y[j])
		}
	}
	if below >= first || below+int64(len(d)) < last {
		return w.hodgesLehmannAll(alt, kMed, kLo, kHi)
	}
	return selectRanks(d, below, nm, alt, kMed, kLo, kHi, rng)
}

// bandSample is the size of hodgesLehmannSmall's sample.
const bandSample = 64

// hodgesLehmannAll forms all n·m differences and selects from them.
func (w *Workspace) hodgesLehmannAll(alt Alternative, kMed, kLo, kHi int64) (shift, lower, upper float64) {
	nm := int64(len(w.x)) * int64(len(w.y))
	w.sel.buf = growFloats(w.sel.buf, int(nm))
	d := w.sel.buf[:0]
	for _, xi := range w.x {
		for _, yj := range w.y {
			d = append(d, xi-yj)
		}
	}
	return selectRanks(d, 0, nm, alt, kMed, kLo, kHi, &w.sel.rng)
}

// selectRanks returns the entries of ranks kMed (with kMed+1 when nm is
// even), kLo and kHi (as alt needs them) of a matrix of nm entries of which
// d holds every one of rank below+1..below+len(d), in any order: one quickselect for the median
// leaves d partitioned so that the interval's ranks are selected from one
// side of it.
func selectRanks(d []float64, below, nm int64, alt Alternative, kMed, kLo, kHi int64, rng *rand.PCG) (shift, lower, upper float64) {
	kMed, kLo, kHi = kMed-below, kLo-below, kHi-below
	shift = quickselect(d, int(kMed-1), rng)
	if nm%2 == 0 {
		next := math.Inf(1)
		for _, v := range d[kMed:] {
			next = min(next, v)
		}
		shift = midpoint(shift, next)
	}
	// Everything in d[:kMed] ranks at most kMed, everything in d[kMed-1:]
	// at least kMed.
	at := func(k int64) float64 {
		if k <= kMed {
			return quickselect(d[:kMed], int(k-1), rng)
		}
		return quickselect(d[kMed-1:], int(k-kMed), rng)
	}
	lower, upper = math.Inf(-1), math.Inf(1)
	if alt != Less {
		lower = at(kLo)
	}
	if alt != Greater {
		upper = at(kHi)
	}
	return shift, lower, upper
}

// selector finds order statistics of the implicit n×m matrix
//
//	d_ij = x_i - y_j,  x ascending, y descending
//
// whose rows and columns are sorted (computed differences too: rounding is
// monotone), without forming it.
//
// It keeps a region of candidates between a lower and an upper pivot value:
// per row i, the columns [lo_i, hi_i), every entry left of lo_i being <= the
// lower pivot and every entry from hi_i on >= the upper one. Each round
// picks two pivots meant to bracket the target rank closely and counts, row
// by row, the entries <= and < each; the region then shrinks to the part
// that still holds the target. The counts are monotone down the rows
// (Johnson and Mizoguchi 1978; Monahan's ACM TOMS 616 keeps the same per-row
// bounds), so a walk that starts each row where the previous one ended
// costs O(n + m) per pivot, and O(rows + candidates) once few remain; it
// runs on four independent blocks of rows at once to keep the processor
// busy.
//
// Pivots come from a stratified random sample of the candidates, two of its
// order statistics 3 standard deviations either side of the target's
// quantile (Floyd and Rivest's sampling step, shrinking the region by about
// sqrt(sample)/3), or, once the region has finite ends, from linear
// interpolation between them with a margin learnt from the previous round's
// error, which shrinks smooth regions much faster. A round that does not
// shrink the region at least fourfold sends the next one back to sampling,
// whose pivots are candidates and so always make progress. When at most a
// few thousand candidates remain they are gathered and finished by
// quickselect. Expected time O((n + m) log(n + m)), memory O(n + m); every
// result is an entry of the matrix.
//
// Several ranks close together (the shift and its interval) first share
// rounds on a common region (narrow), which is saved and restored for each.
type selector struct {
	x, y []float64

	reg, saved region

	le, lt [2][]int32 // per active row: entries <= and < each pivot
	aim    [2]float64 // ranks the interpolated pivots aimed at
	smp    []float64  // pivot sample
	buf    []float64  // gathered candidates
	rng    rand.PCG   // sampling only: results do not depend on it
}

// region is a set of candidates of the selector's matrix.
type region struct {
	xs     []float64 // x of the rows with candidates, ascending
	lo, hi []int32   // their candidate columns [lo, hi)
	below  int64     // entries left of the candidates, all rows
	sumLo  int64     // entries left of the candidates, these rows
	c      int64     // candidates
	// lower and upper are the pivots bounding the candidates (-Inf, +Inf at
	// first); margin is the interpolation margin in ranks, 0 to sample.
	lower, upper float64
	margin       float64
	upperIsEntry bool // upper is an entry of the matrix (a sampled pivot)
}

func (r *region) copyFrom(o *region) {
	r.xs = append(r.xs[:0], o.xs...)
	r.lo = append(r.lo[:0], o.lo...)
	r.hi = append(r.hi[:0], o.hi...)
	r.below, r.sumLo, r.c = o.below, o.sumLo, o.c
	r.lower, r.upper, r.margin, r.upperIsEntry = o.lower, o.upper, o.margin, o.upperIsEntry
}

// Sizes of the pivot sample and of the final gather.
const (
	minSample = 512
	maxSample = 16384
	minGather = 1024
	minFinal  = 64
	maxGather = 4096
	// Up to maxDirect differences, forming them all and selecting directly
	// is faster than rounds of counting.
	maxDirect = 1024
)

// reset prepares the selector for the matrix x_i - y_j (x ascending, y
// descending), growing its buffers to O(n + m).
func (s *selector) reset(x, y []float64) {
	s.x, s.y = x, y
	n, m := len(x), len(y)
	for _, r := range []*region{&s.reg, &s.saved} {
		r.xs = growFloats(r.xs, n)
		r.lo = growInt32s(r.lo, n)
		r.hi = growInt32s(r.hi, n)
	}
	for k := range s.le {
		s.le[k] = growInt32s(s.le[k], n)
		s.lt[k] = growInt32s(s.lt[k], n)
	}
	s.smp = growFloats(s.smp, min(max((n+m)/4, minSample), maxSample))
	s.buf = growFloats(s.buf, min(max((n+m)/8, minGather), maxGather))
}

// start makes the whole matrix the region.
func (s *selector) start() {
	n, m := len(s.x), len(s.y)
	r := &s.reg
	r.xs, r.lo, r.hi = r.xs[:n], r.lo[:n], r.hi[:n]
	copy(r.xs, s.x)
	for i := range r.lo {
		r.lo[i], r.hi[i] = 0, int32(m)
	}
	r.below, r.sumLo, r.c = 0, 0, int64(n)*int64(m)
	r.lower, r.upper, r.margin, r.upperIsEntry = math.Inf(-1), math.Inf(1), 0, false
}

func (s *selector) save()    { s.saved.copyFrom(&s.reg) }
func (s *selector) restore() { s.reg.copyFrom(&s.saved) }

// narrow shrinks the region while it stays much wider than the ranks
// [k1, k2] it must keep.
func (s *selector) narrow(k1, k2 int64) {
	for s.reg.c > int64(len(s.buf)) && 8*(k2-k1) < s.reg.c {
		c := s.reg.c
		if _, found, _ := s.round(k1, k2); found || s.reg.c == c {
			return
		}
	}
}

// kth returns the k-th smallest entry (1-based), which must lie in the
// region.
func (s *selector) kth(k int64) float64 {
	v, _, _ := s.kthNext(k)
	return v
}

// gatherAt is the number of candidates at which kthNext stops counting and
// selects among them: a round costs a walk over the rows with candidates, a
// gather one over the rows and the candidates, so rounds pay while the
// candidates outnumber the rows.
func (s *selector) gatherAt() int64 {
	return min(int64(len(s.buf)), max(minFinal, int64(len(s.reg.xs))))
}

// kthAndNext returns the k-th and (k+1)-th smallest entries, k < nm.
func (s *selector) kthAndNext(k int64) (float64, float64) {
	v, next, ok := s.kthNext(k)
	if ok {
		return v, next
	}
	// The (k+1)-th is v again if v repeats, else the smallest entry above
	// it: one more pass over all rows finds out.
	x, y := s.x, s.y
	p := len(y)
	var le int64
	next = math.Inf(1)
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

// kthNext returns the k-th smallest entry and, when ok, the (k+1)-th.
func (s *selector) kthNext(k int64) (v, next float64, ok bool) {
	for s.reg.c > s.gatherAt() {
		if v, found, repeats := s.round(k, k); found {
			return v, v, repeats
		}
	}
	r := &s.reg
	rank := k - r.below
	buf := s.buf[:0]
	for idx, xi := range r.xs {
		for _, yj := range s.y[r.lo[idx]:r.hi[idx]] {
			buf = append(buf, xi-yj)
		}
	}
	v = quickselect(buf, int(rank-1), &s.rng)
	if rank < int64(len(buf)) {
		next = math.Inf(1)
		for _, u := range buf[rank:] {
			next = min(next, u)
		}
		return v, next, true
	}
	// v is the largest candidate; the next entry is the upper pivot if that
	// is an entry.
	return v, r.upper, r.upperIsEntry
}

// round runs one round for the ranks [k1, k2] and shrinks the region to
// keep them. For a single rank (k1 == k2) whose entry equals a pivot it
// returns that pivot, found, and whether rank k1+1 holds the same value,
// leaving the region unchanged.
func (s *selector) round(k1, k2 int64) (v float64, found, repeats bool) {
	reg := &s.reg
	r1, r2 := k1-reg.below, k2-reg.below
	a, b, interpolated := s.interpolate(r1, r2)
	if !interpolated {
		a, b = s.sample(r1, r2)
	}
	// Interpolated pivots are not entries and almost never equal one: the
	// counts < them are taken to be the counts <=, which keeps any entry
	// equal to a pivot below it, still a valid region, and saves a check
	// per row.
	ties := !interpolated
	ltArr := s.le
	if ties {
		ltArr = s.lt
	}
	leA, ltA := s.count(a, s.le[0], ltArr[0], ties)
	var leB, ltB int64
	if interpolated && 2*reg.margin+float64(r2-r1) < float64(len(reg.xs))/2 {
		// Few entries lie between the pivots: find b's counts by stepping
		// up from a's, mostly not at all.
		leB, ltB = s.countFrom(b, s.le[0], s.le[1], ltArr[1], ties)
	} else {
		leB, ltB = s.count(b, s.le[1], ltArr[1], ties)
	}
	if r1 == r2 {
		if ltA < r1 && r1 <= leA {
			return a, true, r1 < leA
		}
		if ltB < r1 && r1 <= leB {
			return b, true, r1 < leB
		}
	}
	var from, to []int32
	var drop int64
	lower, upper := reg.lower, reg.upper
	switch {
	case leB < r1:
		from, drop, lower = s.le[1], leB, b
	case leA < r1:
		from, drop, lower = s.le[0], leA, a
	}
	top := reg.c
	switch {
	case ltA >= r2:
		to, top, upper = ltArr[0], ltA, a
	case ltB >= r2:
		to, top, upper = ltArr[1], ltB, b
	}
	if to != nil {
		reg.upperIsEntry = !interpolated
	}
	c := top - drop

	// Interpolate next time with a margin of a few times this round's
	// error, scaled to the new region, if this round went well: it shrank
	// the region fourfold, or to within four times the ranks it must keep.
	reg.margin = 0
	if 4*c <= reg.c || c <= 4*(r2-r1) {
		m := float64(c) / 2048
		if interpolated {
			e := max(math.Abs(float64(leA)-s.aim[0]), math.Abs(float64(ltB)-s.aim[1]))
			m = max(m, 3*e*float64(c)/float64(reg.c))
		} else {
			m = max(m, float64(c)/128)
		}
		reg.margin = m + 8
	}
	reg.below += drop
	reg.c = c
	reg.lower, reg.upper = lower, upper
	keep := 0
	var sumLo int64
	for idx, xi := range reg.xs {
		lo, hi := reg.lo[idx], reg.hi[idx]
		if from != nil {
			lo = from[idx]
		}
		if to != nil {
			hi = to[idx]
		}
		if lo < hi {
			reg.xs[keep], reg.lo[keep], reg.hi[keep] = xi, lo, hi
			keep++
			sumLo += int64(lo)
		}
	}
	reg.sumLo = sumLo
	reg.xs, reg.lo, reg.hi = reg.xs[:keep], reg.lo[:keep], reg.hi[:keep]
	return 0, false, false
}

// interpolate returns pivots a <= b strictly inside the region's finite
// ends, placed by linear interpolation of rank against value at the ranks
// r1 - margin and r2 + margin, or false when the region's ends are infinite,
// there is no margin yet, or the pivots would fall outside.
func (s *selector) interpolate(r1, r2 int64) (a, b float64, ok bool) {
	reg := &s.reg
	w := reg.upper - reg.lower
	if reg.margin == 0 || math.IsInf(w, 0) || math.IsNaN(w) {
		return 0, 0, false
	}
	c := float64(reg.c)
	qa, qb := float64(r1)-0.5-reg.margin, float64(r2)-0.5+reg.margin
	if qa <= 0 || qb >= c {
		return 0, 0, false
	}
	a = reg.lower + w*(qa/c)
	b = reg.lower + w*(qb/c)
	if !(reg.lower < a && a <= b && b < reg.upper) {
		return 0, 0, false
	}
	s.aim = [2]float64{qa, qb}
	return a, b, true
}

// sample draws a stratified sample of the candidates (one uniform draw in
// each of ns equal slices of the region in row order, so positions come out
// sorted and map to rows in one pass) and returns two of its order
// statistics a <= b between which the candidates of ranks r1 <= r2 lie with
// high probability: 3 binomial standard deviations either side. Both are
// candidates.
func (s *selector) sample(r1, r2 int64) (a, b float64) {
	reg := &s.reg
	ns := int(min(int64(len(s.smp)), reg.c))
	smp := s.smp[:ns]
	cf, nf := float64(reg.c), float64(ns)
	idx := 0
	var cum int64 // candidates in rows before idx
	w := int64(reg.hi[0] - reg.lo[0])
	for k := range smp {
		u := float64(s.rng.Uint64()>>11) * 0x1p-53 // uniform in [0, 1)
		pos := min(int64((float64(k)+u)*cf/nf), reg.c-1)
		for pos >= cum+w {
			cum += w
			idx++
			w = int64(reg.hi[idx] - reg.lo[idx])
		}
		smp[k] = reg.xs[idx] - s.y[reg.lo[idx]+int32(pos-cum)]
	}
	q1 := (float64(r1) - 0.5) / cf
	q2 := (float64(r2) - 0.5) / cf
	ia := int(max(0, math.Floor(q1*nf-3*math.Sqrt(nf*q1*(1-q1))-1)))
	ib := int(min(nf-1, math.Ceil(q2*nf+3*math.Sqrt(nf*q2*(1-q2))+1)))
	a = quickselect(smp, ia, &s.rng)
	b = a
	if ib > ia {
		b = quickselect(smp[ia+1:], ib-ia-1, &s.rng)
	}
	return a, b
}

// count stores, for each row of the region, the number of entries <= t in
// le and < t in lt (the same as le unless ties, when entries equal to t are
// looked for), and returns their sums minus the entries left of the
// candidates. t must lie strictly between the region's pivots, so both
// counts of a row lie in [lo, hi].
//
// Entries <= t form a prefix of the row no longer than the previous row's;
// the walk down to its end runs on four independent blocks of rows, whose
// starts are found by binary search. Entries equal to t are looked for in
// the same walk, and only when there are some is lt counted separately.
func (s *selector) count(t float64, le, lt []int32, ties bool) (sumLe, sumLt int64) {
	reg := &s.reg
	xs, hi, y := reg.xs, reg.hi, s.y
	n := len(xs)
	le = le[:n]
	var eq int32 // non-zero when some entry equals t
	var sum int64
	const blocks = 4
	bl := n / blocks
	if bl < 8 {
		p := int32(len(y))
		for idx, xi := range xs {
			p = leWalk(y, xi, t, min(p, hi[idx]))
			le[idx] = p
			sum += int64(p)
			if ties {
				eq |= eqAt(y, xi, t, p)
			}
		}
	} else {
		// Block b covers positions [b*bl, (b+1)*bl), the last one also the
		// remainder.
		p0, p1, p2, p3 := s.search(0, t), s.search(bl, t), s.search(2*bl, t), s.search(3*bl, t)
		xb, hb, lb := xs[:blocks*bl], hi[:blocks*bl], le[:blocks*bl]
		for k := range bl {
			i0, i1, i2, i3 := k, bl+k, 2*bl+k, 3*bl+k
			x0, x1, x2, x3 := xb[i0], xb[i1], xb[i2], xb[i3]
			p0, p1, p2, p3 = min(p0, hb[i0]), min(p1, hb[i1]), min(p2, hb[i2]), min(p3, hb[i3])
			if p0 >= 3 && p1 >= 3 && p2 >= 3 && p3 >= 3 {
				// Three steps at a time without branching; the entries are
				// ascending, so the ones > t are a suffix of the three.
				d0 := b2i(x0-y[p0-1] > t) + b2i(x0-y[p0-2] > t) + b2i(x0-y[p0-3] > t)
				d1 := b2i(x1-y[p1-1] > t) + b2i(x1-y[p1-2] > t) + b2i(x1-y[p1-3] > t)
				d2 := b2i(x2-y[p2-1] > t) + b2i(x2-y[p2-2] > t) + b2i(x2-y[p2-3] > t)
				d3 := b2i(x3-y[p3-1] > t) + b2i(x3-y[p3-2] > t) + b2i(x3-y[p3-3] > t)
				p0, p1, p2, p3 = p0-d0, p1-d1, p2-d2, p3-d3
				if d0 == 3 {
					p0 = leWalk(y, x0, t, p0)
				}
				if d1 == 3 {
					p1 = leWalk(y, x1, t, p1)
				}
				if d2 == 3 {
					p2 = leWalk(y, x2, t, p2)
				}
				if d3 == 3 {
					p3 = leWalk(y, x3, t, p3)
				}
			} else {
				p0, p1, p2, p3 = leWalk(y, x0, t, p0), leWalk(y, x1, t, p1), leWalk(y, x2, t, p2), leWalk(y, x3, t, p3)
			}
			if ties {
				eq |= eqAt(y, x0, t, p0) | eqAt(y, x1, t, p1) | eqAt(y, x2, t, p2) | eqAt(y, x3, t, p3)
			}
			lb[i0], lb[i1], lb[i2], lb[i3] = p0, p1, p2, p3
			sum += int64(p0) + int64(p1) + int64(p2) + int64(p3)
		}
		for idx := blocks * bl; idx < n; idx++ {
			xi := xs[idx]
			p3 = leWalk(y, xi, t, min(p3, hi[idx]))
			le[idx] = p3
			sum += int64(p3)
			if ties {
				eq |= eqAt(y, xi, t, p3)
			}
		}
	}
	return s.sums(t, le, lt, sum, eq != 0)
}

// countFrom is count for a pivot t above one whose counts <= are in start:
// each row steps up from there, a few entries at most before it switches to
// binary search (with ties, many entries can lie between the pivots).
func (s *selector) countFrom(t float64, start, le, lt []int32, ties bool) (sumLe, sumLt int64) {
	reg := &s.reg
	y := s.y
	le = le[:len(reg.xs)]
	var eq int32
	var sum int64
	for idx, xi := range reg.xs {
		p, h := start[idx], reg.hi[idx]
		for end := min(h, p+4); p < end && xi-y[p] <= t; {
			p++
		}
		if p < h && xi-y[p] <= t {
			p = upperBound(y, xi, t, p+1, h)
		}
		le[idx] = p
		sum += int64(p)
		if ties {
			eq |= eqAt(y, xi, t, p)
		}
	}
	return s.sums(t, le, lt, sum, eq != 0)
}

// upperBound returns the first column j in [lo, hi) of row xi whose entry
// is > t, or hi.
func upperBound(y []float64, xi, t float64, lo, hi int32) int32 {
	for lo < hi {
		mid := int32(uint32(lo+hi) >> 1)
		if xi-y[mid] > t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// sums completes count, given sumLe, the sum of le: it fills lt from le (a
// copy when no entry equals t) and returns both sums relative to the
// candidates. Entries < t, like those
// <= t, form prefixes no longer than the previous row's, so lt is walked
// down from the previous row's position: O(n + m) however many entries
// equal t.
func (s *selector) sums(t float64, le, lt []int32, sumLe int64, ties bool) (int64, int64) {
	reg := &s.reg
	lt = lt[:len(le)]
	if !ties {
		if len(le) > 0 && &lt[0] != &le[0] {
			copy(lt, le)
		}
		return sumLe - reg.sumLo, sumLe - reg.sumLo
	}
	q := int32(len(s.y))
	var sumLt int64
	for idx, p := range le {
		xi := reg.xs[idx]
		q = min(q, p)
		for q > 0 && xi-s.y[q-1] >= t {
			q--
		}
		lt[idx] = q
		sumLt += int64(q)
	}
	return sumLe - reg.sumLo, sumLt - reg.sumLo
}

// search returns the number of entries <= t in the region's row idx, by
// binary search over its candidates.
func (s *selector) search(idx int, t float64) int32 {
	reg := &s.reg
	return upperBound(s.y, reg.xs[idx], t, reg.lo[idx], reg.hi[idx])
}

// leWalk returns the number of entries <= t in row xi given that it is at
// most p: it walks p down past the entries > t (entries left of the
// candidates are below t, so the walk stops inside them by itself).
func leWalk(y []float64, xi, t float64, p int32) int32 {
	for p > 0 && xi-y[p-1] > t {
		p--
	}
	return p
}

// eqAt reports, as 0 or 1, whether the last of the first p entries of row
// xi equals t.
func eqAt(y []float64, xi, t float64, p int32) int32 {
	if p > 0 {
		return b2i(xi-y[p-1] == t)
	}
	return 0
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
