package stats

import (
	"math"
	"math/bits"
	"slices"
)

// Digits of the radix sort. Up to radixWideMin values it makes 8 passes of 8
// bits; from there on 6 passes of 11 bits, which cost less once the values
// outnumber the 2,048 buckets of a pass by far (25-35% less at 100,000).
//
// radixMin is where sorting by bit patterns (sortIntoBuckets, else the radix
// sort) starts to beat slices.Sort on fresh data (BenchmarkSortFresh: 64
// different inputs in turn, as a judge sees new points at every interval):
// at 64 values the buckets cost about what slices.Sort does, at 300 one
// fifth. Sorting the same input again and again, as BenchmarkSort does,
// lets the branch predictor learn pdqsort's comparisons and moves the
// crossover to about 1,000: that was where this threshold stood before.
const (
	radixMin     = 64
	radixWideMin = 1 << 13
)

// sorter sorts float64 values by their bit patterns. Its buffers grow to
// the largest input and are reused, so that sorting allocates nothing.
type sorter struct {
	keys, tmp []uint64
	hist      []uint32 // per pass, the count of each digit, then its offset
}

// sortKey maps a float64 to a uint64 whose unsigned order is the numeric
// order of the non-NaN floats: positive values get their sign bit set,
// negative values have every bit flipped.
//
//	key(v) = bits(v) XOR 0x8000000000000000  if the sign bit of v is 0
//	key(v) = bits(v) XOR 0xFFFFFFFFFFFFFFFF  if it is 1
//
// -0 sorts just before +0, -Inf first and +Inf last.
func sortKey(v float64) uint64 {
	b := math.Float64bits(v)
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// fromSortKey inverts sortKey.
func fromSortKey(k uint64) float64 {
	return math.Float64frombits(k ^ (uint64(int64(^k)>>63) | 1<<63))
}

// sortInto writes the values of src into dst, which must have the same
// length, in increasing order: the order of slices.Sort, with the NaNs
// first in their input order (payloads kept) and, from radixMin values on,
// -0 before +0 (slices.Sort leaves equal values in no particular order).
// src is not modified.
//
// From radixMin to bucketMax values it first tries sortIntoBuckets, which
// sorts values spread over their range in about four reads. Otherwise it
// is a least-significant-digit radix sort of
// sortKey: one read of src counts the digits of every pass, then each pass
// moves the keys by one digit into the other buffer, stably, so that after
// the last pass they are ordered by the whole key. A pass in which every
// key has the same digit (the top bits of values of one sign and magnitude,
// the low bits of integers) is skipped. Time O(n·passes + passes·2^bits),
// with no comparison of values; below radixMin values slices.Sort is
// faster.
func (s *sorter) sortInto(dst, src []float64) {
	n := len(src)
	if len(dst) != n {
		panic("stats: internal error: sort into a slice of another length")
	}
	if n < radixMin {
		copy(dst, src)
		slices.Sort(dst[nanFirst(dst):])
		return
	}
	if n < bucketMax && s.sortIntoBuckets(dst, src) {
		return
	}
	s.sortIntoRadix(dst, src)
}

// bucketMax is the size up to which sortInto tries sortIntoBuckets first:
// from there on the radix sort costs as little (BenchmarkSortFresh at
// 8,192: 112 µs both; at 4,096 43 against 55 µs, at 300 2.6 against 5.4).
const bucketMax = 1 << 13

// sortIntoBuckets is sortInto by one pass of a counting sort into about 2n
// buckets of equal width in value between the least and the greatest,
//
//	bucket(v) = min(floor((v - min) · (2^b - 1) / (max - min)), 2^b - 1),  2^b >= 2n
//
// which never decreases as v grows (rounding is monotone), then an
// insertion sort of the sortKeys, which are now out of order only within a
// bucket. Where the values crowd into few buckets (the sum of the squared
// bucket counts, which bounds the insertion sort's moves, is over 4n), or
// their range is not finite, it returns false having written nothing to
// dst but NaNs, and the radix sort takes over; else the result is the radix
// sort's, NaNs first in input order and -0 before +0. Time O(n) on spread
// values: one read for the keys, the range and the NaNs, one to count, one
// to place, one to insert; against the radix sort's eight passes and 2,048
// counters.
func (s *sorter) sortIntoBuckets(dst, src []float64) bool {
	n := len(src)
	s.keys = growUint64s(s.keys, n)
	s.tmp = growUint64s(s.tmp, n)
	keys := s.keys[:0]
	nan := 0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range src {
		if v != v {
			dst[nan] = v
			nan++
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
		keys = append(keys, sortKey(v))
	}
	m := len(keys)
	if m == 0 {
		return true
	}
	width := hi - lo
	if math.IsInf(width, 0) {
		return false
	}
	b := bits.Len(uint(2*m - 1))
	top := 1<<b - 1
	scale := 0.0
	if width > 0 {
		scale = float64(top) / width
	}
	if math.IsInf(scale, 0) {
		return false // a subnormal width
	}
	if cap(s.hist) < top+1 {
		s.hist = make([]uint32, max(top+1, 6<<11))
	}
	h := s.hist[:top+1]
	clear(h)
	bucket := func(k uint64) int {
		return min(int((fromSortKey(k)-lo)*scale), top)
	}
	for _, k := range keys {
		h[bucket(k)]++
	}
	var sq, sum uint64
	for d, c := range h {
		sq += uint64(c) * uint64(c)
		h[d], sum = uint32(sum), sum+uint64(c)
	}
	if sq > 4*uint64(m) {
		return false
	}
	tmp := s.tmp[:m]
	for _, k := range keys {
		d := bucket(k)
		tmp[h[d]] = k
		h[d]++
	}
	for i := 1; i < m; i++ {
		k := tmp[i]
		j := i
		for ; j > 0 && tmp[j-1] > k; j-- {
			tmp[j] = tmp[j-1]
		}
		tmp[j] = k
	}
	out := dst[nan : nan+m]
	for i, k := range tmp {
		out[i] = fromSortKey(k)
	}
	return true
}

// sortIntoRadix is sortInto without the fallback to slices.Sort.
func (s *sorter) sortIntoRadix(dst, src []float64) {
	n := len(src)
	if n > math.MaxUint32 {
		panic("stats: sort of more than 2^32 values")
	}
	bits, passes := uint(8), 8
	if n >= radixWideMin {
		bits, passes = 11, 6
	}
	size := 1 << bits
	mask := uint64(size - 1)
	s.keys = growUint64s(s.keys, n)
	s.tmp = growUint64s(s.tmp, n)
	if cap(s.hist) < 6<<11 {
		s.hist = make([]uint32, 6<<11)
	}
	h := s.hist[:passes<<bits]
	clear(h)

	keys := s.keys[:0]
	nan := 0
	for _, v := range src {
		if v != v {
			dst[nan] = v
			nan++
			continue
		}
		keys = append(keys, sortKey(v))
	}
	// Count the digits of all passes in one read, unrolled.
	if bits == 8 {
		h0, h1, h2, h3 := (*[256]uint32)(h[0:]), (*[256]uint32)(h[256:]), (*[256]uint32)(h[512:]), (*[256]uint32)(h[768:])
		h4, h5, h6, h7 := (*[256]uint32)(h[1024:]), (*[256]uint32)(h[1280:]), (*[256]uint32)(h[1536:]), (*[256]uint32)(h[1792:])
		for _, k := range keys {
			h0[byte(k)]++
			h1[byte(k>>8)]++
			h2[byte(k>>16)]++
			h3[byte(k>>24)]++
			h4[byte(k>>32)]++
			h5[byte(k>>40)]++
			h6[byte(k>>48)]++
			h7[byte(k>>56)]++
		}
	} else {
		h0, h1, h2 := (*[2048]uint32)(h[0:]), (*[2048]uint32)(h[2048:]), (*[2048]uint32)(h[4096:])
		h3, h4, h5 := (*[2048]uint32)(h[6144:]), (*[2048]uint32)(h[8192:]), (*[2048]uint32)(h[10240:])
		for _, k := range keys {
			h0[k&2047]++
			h1[k>>11&2047]++
			h2[k>>22&2047]++
			h3[k>>33&2047]++
			h4[k>>44&2047]++
			h5[k>>55]++
		}
	}
	m := uint32(len(keys))
	if m == 0 {
		return
	}
	src2, tmp := keys, s.tmp[:len(keys)]
	for p := range passes {
		shift := uint(p) * bits
		c := h[p<<bits : (p+1)<<bits]
		if c[keys[0]>>shift&mask] == m {
			continue // every key has this digit
		}
		var sum uint32
		for d, k := range c {
			c[d], sum = sum, sum+k
		}
		for _, k := range src2 {
			d := k >> shift & mask
			tmp[c[d]] = k
			c[d]++
		}
		src2, tmp = tmp, src2
	}
	for i, k := range src2 {
		dst[nan+i] = fromSortKey(k)
	}
}

// nanFirst moves the NaNs of a to its front in their order, keeping the
// order of the others, and returns how many there are.
func nanFirst(a []float64) int {
	nan := 0
	for _, v := range a {
		nan += int(b2i(v != v))
	}
	if nan == 0 {
		return 0
	}
	// Rotate each NaN to the front of the values not yet placed.
	j := 0
	for i, v := range a {
		if v != v {
			copy(a[j+1:i+1], a[j:i])
			a[j] = v
			j++
		}
	}
	return nan
}

func growUint64s(b []uint64, n int) []uint64 {
	if cap(b) < n {
		return make([]uint64, n, n+n/4)
	}
	return b[:n]
}
