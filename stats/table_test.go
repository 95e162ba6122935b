package stats

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestExactTableConcurrent: workspaces sharing a table from many goroutines
// (run with -race) get the distributions a lone workspace computes, and
// the table stays within its budget.
func TestExactTableConcurrent(t *testing.T) {
	const budget = 64 << 10 // a few entries: evictions happen
	table := NewExactTable(budget)
	sizes := [][2]int{{30, 30}, {10, 40}, {40, 10}, {49, 49}, {20, 7}, {100, 60}, {3, 3}, {45, 44}}
	want := make(map[[2]int][]float64)
	var lone Workspace
	for _, sz := range sizes {
		d := lone.exactHalf(sz[0], sz[1])
		want[sz] = slices.Clone(d.cdf)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var w Workspace
			w.SetExactTable(table)
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			for range 300 {
				sz := sizes[rng.IntN(len(sizes))]
				if got := w.exactHalf(sz[0], sz[1]).cdf; !slices.Equal(got, want[sz]) {
					t.Errorf("%dx%d: the table's distribution differs from a lone workspace's", sz[0], sz[1])
					return
				}
			}
		})
	}
	wg.Wait()
	table.mu.Lock()
	defer table.mu.Unlock()
	if table.bytes > budget {
		t.Errorf("table holds %d bytes, budget %d", table.bytes, budget)
	}
	var sum int64
	for k, d := range *table.entries.Load() {
		sum += 8 * int64(len(d.cdf))
		if !slices.Contains(table.order, k) {
			t.Errorf("entry %v not in the eviction order", k)
		}
	}
	if sum != table.bytes || len(table.order) != len(*table.entries.Load()) {
		t.Errorf("table accounts %d bytes in %d keys, holds %d bytes in %d entries", table.bytes, len(table.order), sum, len(*table.entries.Load()))
	}
}

// TestExactTableEviction: the oldest entries go first, and an entry larger
// than the whole budget is computed but not kept.
func TestExactTableEviction(t *testing.T) {
	entry := func(n, m int) int64 { return 8 * (int64(n)*int64(m)/2 + 1) }
	table := NewExactTable(entry(30, 30) + entry(20, 20) + entry(10, 10))
	var w Workspace
	w.SetExactTable(table)
	has := func(n, m int) bool { _, ok := (*table.entries.Load())[makeExactKey(n, m)]; return ok }
	w.exactHalf(30, 30)
	w.exactHalf(20, 20)
	w.exactHalf(10, 10)
	if !has(30, 30) || !has(20, 20) || !has(10, 10) {
		t.Fatal("three entries within the budget were not all kept")
	}
	w.exactHalf(25, 2) // 30x30 must go to make room
	if has(30, 30) || !has(20, 20) || !has(2, 25) {
		t.Errorf("after a fourth entry: 30x30 kept %v, 20x20 kept %v, 25x2 kept %v", has(30, 30), has(20, 20), has(2, 25))
	}
	d := w.exactHalf(300, 300)
	if has(300, 300) || len(d.cdf) != 300*300/2+1 {
		t.Errorf("an entry over the budget: kept %v, %d values", has(300, 300), len(d.cdf))
	}
}

// TestExactTableNoAllocations: a hit allocates nothing.
func TestExactTableNoAllocations(t *testing.T) {
	var w Workspace
	w.SetExactTable(NewExactTable(1 << 20))
	rng := rand.New(rand.NewPCG(3, 4))
	x, y := randomSample(rng, 30, false, 0.1), randomSample(rng, 30, false, 0)
	if _, err := w.MannWhitney(x, y, Options{}); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(10, func() { w.MannWhitney(x, y, Options{}) }); a != 0 {
		t.Errorf("%v allocations per comparison with a table", a)
	}
}
