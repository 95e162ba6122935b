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
	"slices"
	"time"
)

// ErrNotFound is returned (wrapped) by a Source for an unknown analysis.
var ErrNotFound = errors.New("analysis not found")

// Source is what the pages read: the daemon's analyses.
type Source interface {
	// Analyses lists every analysis, in the order the index shows them.
	Analyses(ctx context.Context) ([]Summary, error)
	// Analysis returns one analysis' report data, or an error wrapping
	// ErrNotFound.
	Analysis(ctx context.Context, id string) (*Data, error)
}

// Index is what the index page shows: the analyses that pass the filter.
type Index struct {
	Analyses []Summary
	// State and Service are the filter ("" matches every analysis);
	// States and Services are the values to choose from.
	State, Service   string
	States, Services []string
	// Total counts the analyses before filtering.
	Total     int
	Generated time.Time
}

// NewIndex filters all by the query parameters state and service (exact
// matches; absent or empty matches everything).
func NewIndex(all []Summary, q url.Values, now time.Time) Index {
	ix := Index{State: q.Get("state"), Service: q.Get("service"), Total: len(all), Generated: now}
	for _, s := range all {
		if !slices.Contains(ix.States, s.State) {
			ix.States = append(ix.States, s.State)
		}
		if !slices.Contains(ix.Services, s.Service) {
			ix.Services = append(ix.Services, s.Service)
		}
		if (ix.State == "" || s.State == ix.State) && (ix.Service == "" || s.Service == ix.Service) {
			ix.Analyses = append(ix.Analyses, s)
		}
	}
	slices.Sort(ix.States)
	slices.Sort(ix.Services)
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
		all, err := src.Analyses(r.Context())
		if err != nil {
			logger.Error("report index", "err", err)
			http.Error(w, "list analyses: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if err := RenderIndex(&buf, NewIndex(all, r.URL.Query(), now())); err != nil {
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
