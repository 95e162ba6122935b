package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrNotFound is returned (wrapped) by a Source for an unknown analysis.
var ErrNotFound = errors.New("analysis not found")

// Source is what the pages read: the daemon's analyses.
type Source interface {
	// Analyses lists a page of the analyses that pass q's filter, newest
	// first. A Before it cannot read is an error wrapping ErrBadQuery.
	Analyses(ctx context.Context, q Query) (Listing, error)
	// Analysis returns one analysis' report data, or an error wrapping
	// ErrNotFound.
	Analysis(ctx context.Context, id string) (*Data, error)
}

// ErrBadQuery is returned (wrapped) by a Source for a query it cannot
// answer, such as a page token it did not hand out.
var ErrBadQuery = errors.New("bad query")

// The index page's page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Query is what the index page asks a Source for: the analyses in State,
// of Service ("" for any), newest first, Limit of them created before the
// analysis whose cursor is Before ("" from the newest).
type Query struct {
	State, Service, Before string
	Limit                  int
}

// Listing is a page of the index, as a Source answers a Query.
type Listing struct {
	// Analyses are the page's analyses, newest first.
	Analyses []Summary
	// States are the states to filter by, sorted. (A fleet's services
	// are too many to choose from: the page asks for one by name.)
	States []string
	// Total counts every analysis; Older is the cursor to ask for the
	// next page with (Query.Before), "" for the last page.
	Total int
	Older string
}

// Index is what the index page shows: a page of the analyses that pass
// the filter.
type Index struct {
	Listing
	// State and Service are the filter ("" matches every analysis);
	// Before is where the page starts ("" for the newest).
	State, Service, Before string
	// OlderQuery and NewestQuery are the links' query strings to the next
	// page and back to the first ("" when there is none).
	OlderQuery, NewestQuery string
	Generated               time.Time
}

// queryOf reads the index page's query parameters: state, service,
// before (a page token) and limit.
func queryOf(v url.Values) (Query, error) {
	q := Query{State: v.Get("state"), Service: v.Get("service"), Before: v.Get("before"), Limit: DefaultPageSize}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			return q, fmt.Errorf("%w: limit %q is not a number from 1 to %d", ErrBadQuery, l, MaxPageSize)
		}
		q.Limit = n
	}
	return q, nil
}

// NewIndex is the index page of l, the answer to q.
func NewIndex(l Listing, q Query, now time.Time) Index {
	ix := Index{Listing: l, State: q.State, Service: q.Service, Before: q.Before, Generated: now}
	link := func(before string) string {
		v := url.Values{}
		for k, s := range map[string]string{"state": q.State, "service": q.Service, "before": before} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.Limit != DefaultPageSize {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		return "?" + v.Encode()
	}
	if l.Older != "" {
		ix.OlderQuery = link(l.Older)
	}
	if q.Before != "" {
		ix.NewestQuery = link("")
	}
	return ix
}

// RenderIndex writes the index page.
func RenderIndex(w io.Writer, ix Index) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "index.html", ix); err != nil {
		return fmt.Errorf("render index: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Handler serves the index at GET /analyses and one analysis' report at
// GET /analyses/{id}. Mount it on a daemon's mux under both patterns. Links
// between the pages are relative, so the pages also work behind a proxy
// that serves them under a path prefix. now stamps the pages.
func Handler(src Source, logger *slog.Logger, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /analyses", func(w http.ResponseWriter, r *http.Request) {
		q, err := queryOf(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l, err := src.Analyses(r.Context(), q)
		switch {
		case errors.Is(err, ErrBadQuery):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil:
			logger.Error("report index", "err", err)
			http.Error(w, "list analyses: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if err := RenderIndex(&buf, NewIndex(l, q, now())); err != nil {
			logger.Error("report index", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writePage(w, &buf)
	})
	mux.HandleFunc("GET /analyses/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		d, err := src.Analysis(r.Context(), id)
		switch {
		case errors.Is(err, ErrNotFound):
			http.Error(w, fmt.Sprintf("analysis %q not found", id), http.StatusNotFound)
			return
		case err != nil:
			logger.Error("report", "analysis_id", id, "err", err)
			http.Error(w, "load analysis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if d.Generated.IsZero() {
			d.Generated = now()
		}
		var buf bytes.Buffer
		if err := Render(&buf, d); err != nil {
			logger.Error("report", "analysis_id", id, "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writePage(w, &buf)
	})
	return mux
}

// writePage sends a rendered page with a policy that forbids loading
// anything from elsewhere: the pages must work on an air-gapped network,
// and a test in a browser proves it.
func writePage(w http.ResponseWriter, buf *bytes.Buffer) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = buf.WriteTo(w)
}
