package record

import (
	"fmt"
	"slices"
	"testing"
)

// TestIndexCacheOrders holds the in-memory index's two orders equal: the
// newest-first pages, followed by their cursors, name every matching
// entry once, in the reverse of Find's order; the facets count an
// analysis under two states once.
func TestIndexCacheOrders(t *testing.T) {
	c := newIndexCache()
	var want []string // running analyses of checkout, oldest first
	for i := range 25 {
		svc, state := "checkout", Running
		if i%3 == 0 {
			svc = "search"
		}
		if i%4 == 0 {
			state = "succeeded"
		}
		cursor := fmt.Sprintf("%019d-a%02d", 1000+i, i)
		c.put(indexKey("shop", svc, state, cursor))
		if svc == "checkout" && state == Running {
			want = append(want, cursor)
		}
	}
	// a01 just ended: under running and succeeded for a moment.
	c.put(indexKey("shop", "checkout", "succeeded", fmt.Sprintf("%019d-a%02d", 1001, 1)))

	asc, more := c.find("shop", "checkout", Running, "", 0)
	if more || len(asc) != len(want) {
		t.Fatalf("find: %d entries (more %v), want %d", len(asc), more, len(want))
	}
	var got []string
	before := ""
	for pages := 0; ; pages++ {
		page, more := c.findNewest("shop", "checkout", Running, before, 4)
		for _, e := range page {
			got = append(got, e.Cursor)
		}
		if !more {
			break
		}
		if pages > 10 {
			t.Fatal("pages never end")
		}
		before = page[len(page)-1].Cursor
	}
	slices.Reverse(got)
	if !slices.Equal(got, want) {
		t.Errorf("newest-first pages, reversed: %v\nwant %v", got, want)
	}
	if page, _ := c.findNewest("", "", "", "", 1); len(page) != 1 || page[0].ID() != "a24" {
		t.Errorf("newest: %v", page)
	}
	states, total := c.facets()
	if !slices.Equal(states, []string{Running, "succeeded"}) || total != 25 {
		t.Errorf("facets: %v %d, want [running succeeded] 25", states, total)
	}
}
