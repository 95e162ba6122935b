package stats

import (
	"sync"
	"sync/atomic"
)

// ExactTable caches exact null distributions of U by sample sizes, so that a
// process that compares samples of the same sizes again and again (a judge
// at every interval) computes each distribution once: an exact p-value at
// n = m = 30 then costs a look-up instead of about 10 µs, at n = m = 200 one
// instead of about 1 ms. A Workspace uses it once given with
// SetExactTable.
//
// The table is safe for concurrent use by any number of workspaces: look-ups
// read an immutable map through an atomic pointer, without locks or
// allocation; a miss computes the distribution in the calling workspace,
// then copies the map with the new entry under a mutex (two workspaces
// missing the same sizes at once both compute it, and the first stored
// wins). It holds at most the byte budget given to NewExactTable, evicting
// the oldest entries first; an entry is the lower half of a cumulative
// distribution, 8·(nm/2 + 1) bytes (7.2 KB at n = m = 30, 160 KB at
// n = m = 200, 4 MB at the largest exact size, n·m = 10^6).
type ExactTable struct {
	maxBytes int64
	entries  atomic.Pointer[map[exactKey]exactDist]

	mu    sync.Mutex // serialises stores
	order []exactKey // stored keys, oldest first
	bytes int64
}

// exactKey is a pair of sample sizes, the larger first: U has the same
// distribution for sizes in either order.
type exactKey struct{ n, m int32 }

func makeExactKey(n, m int) exactKey {
	return exactKey{int32(max(n, m)), int32(min(n, m))}
}

// NewExactTable returns an empty table that keeps at most maxBytes of
// distributions (at least one entry is never required: sizes whose entry is
// larger than maxBytes are computed and not kept).
func NewExactTable(maxBytes int64) *ExactTable {
	t := &ExactTable{maxBytes: maxBytes}
	t.entries.Store(&map[exactKey]exactDist{})
	return t
}

// SetExactTable makes w take exact null distributions from t (nil: from
// its own last computation only). Distributions from t are shared and read
// only.
func (w *Workspace) SetExactTable(t *ExactTable) {
	w.table = t
}

// half returns the distribution for samples of n and m values with
// P(U <= k) stored for k = 0..nm/2, from the table or computed in w and
// stored.
func (t *ExactTable) half(n, m int, w *Workspace) exactDist {
	key := makeExactKey(n, m)
	if d, ok := (*t.entries.Load())[key]; ok {
		return d
	}
	nm := int64(n) * int64(m)
	d := w.exactCDF(n, m, nm/2)
	size := 8 * int64(len(d.cdf))
	if size > t.maxBytes {
		return d
	}
	d.cdf = append([]float64(nil), d.cdf...)

	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.entries.Load()
	if stored, ok := old[key]; ok {
		return stored
	}
	// Evict the oldest until the new entry fits; the published map is
	// never modified, the next one is built without them.
	drop := 0
	for t.bytes+size > t.maxBytes {
		t.bytes -= 8 * int64(len(old[t.order[drop]].cdf))
		drop++
	}
	t.order = append(t.order[:0:0], t.order[drop:]...)
	next := make(map[exactKey]exactDist, len(t.order)+1)
	for _, k := range t.order {
		next[k] = old[k]
	}
	next[key] = d
	t.order = append(t.order, key)
	t.bytes += size
	t.entries.Store(&next)
	return d
}
