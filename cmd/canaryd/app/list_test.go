package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
)

// TestListIndexed lists analyses through the index: filtered by service,
// namespace and state, in creation order, a page at a time; an analysis
// that ends moves from running to its outcome; the index of records
// written without one (an earlier version) is rebuilt by the scan.
func TestListIndexed(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	var ids []string
	for i := range 7 {
		e := event(fmt.Sprintf("l%d", i), "v2")
		e.Service = []string{"web", "api"}[i%2]
		e.Namespace = []string{"prod", "prod", "dev"}[i%3]
		body := fmt.Sprintf(`{"id":%q,"service":%q,"namespace":%q,"template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`, e.ID, e.Service, e.Namespace)
		if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
			t.Fatalf("POST %s: %d", e.ID, code)
		}
		ids = append(ids, e.ID)
		clock.Advance(time.Second) // distinct creation times
	}
	list := func(query string) ([]string, string) {
		t.Helper()
		var out struct {
			Analyses []api.AnalysisView
			Continue string
		}
		if code := httpJSON(t, "GET", a.url+"/api/v1/analyses?"+query, "", &out); code != http.StatusOK {
			t.Fatalf("GET ?%s: %d", query, code)
		}
		var got []string
		for _, v := range out.Analyses {
			got = append(got, v.ID)
		}
		return got, out.Continue
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", ids},
		{"service=web", []string{"l0", "l2", "l4", "l6"}},
		{"namespace=dev", []string{"l2", "l5"}},
		{"service=api&namespace=prod", []string{"l1", "l3"}},
		{"service=nope", nil},
		{"service=not.a.name", nil},
		{"state=succeeded", nil},
	} {
		if got, next := list(c.query); !slices.Equal(got, c.want) || next != "" {
			t.Errorf("?%s: %v (continue %q), want %v", c.query, got, next, c.want)
		}
	}
	// Pages of 3 in creation order, each continuing where the last ended.
	var paged []string
	query := "limit=3"
	for pages := 0; ; pages++ {
		got, next := list(query)
		paged = append(paged, got...)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		query = "limit=3&continue=" + url.QueryEscape(next)
	}
	if !slices.Equal(paged, ids) {
		t.Errorf("paged: %v, want %v", paged, ids)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "continue=l1", "state=done"} {
		if code := httpJSON(t, "GET", a.url+"/api/v1/analyses?"+q, "", nil); code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}

	// l0 is aborted: it leaves running for aborted.
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses/l0/abort", "", nil); code != http.StatusOK {
		t.Fatalf("abort: %d", code)
	}
	if got, _ := list("state=aborted"); !slices.Equal(got, []string{"l0"}) {
		t.Errorf("aborted: %v", got)
	}
	if got, _ := list("state=running&service=web"); !slices.Equal(got, []string{"l2", "l4", "l6"}) {
		t.Errorf("running web: %v", got)
	}

	// A daemon of an earlier version wrote no index: after an upgrade,
	// the scan rebuilds it from the records.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.js.Stream(ctx, "KV_canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV.canaryd_analyses."+record.IndexPrefix+">")); err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx, jetstream.WithSubjectFilter("$KV.canaryd_analyses."+record.IndexPrefix+">")); err != nil || len(info.State.Subjects) != 0 {
		t.Fatalf("the index survived its purge: %v", err)
	}
	b := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	a.url = b.url
	waitFor(t, "the index rebuilt", func() bool {
		got, _ := list("")
		return slices.Equal(got, ids)
	})
	if got, _ := list("state=aborted"); !slices.Equal(got, []string{"l0"}) {
		t.Errorf("aborted after the rebuild: %v", got)
	}
}
