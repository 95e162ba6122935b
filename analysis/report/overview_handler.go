package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// RolloutSource is what the overview pages read: every rollout the
// daemon keeps, running and ended.
type RolloutSource interface {
	Rollouts(ctx context.Context) ([]Rollout, error)
}

// RolloutList is the body of GET /api/v1/rollouts.
type RolloutList struct {
	Rollouts []Rollout `json:"rollouts"`
	// KeptSeconds is how long the daemon keeps ended rollouts.
	KeptSeconds float64 `json:"kept_seconds,omitempty"`
	// Now is the daemon's time when it listed them.
	Now time.Time `json:"now"`
}

// DecodeRolloutList reads a RolloutList as GET /api/v1/rollouts writes it;
// unknown fields are errors.
func DecodeRolloutList(r io.Reader) (*RolloutList, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var l RolloutList
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("decode rollouts: %w", err)
	}
	return &l, nil
}

// OverviewHandler serves the leads' overview at GET /overview, the on-call
// page at GET /oncall (?hours=N lists the rollbacks of the last N hours,
// 1 to 168, default 6) and their data at GET /api/v1/rollouts. kept says
// how long src keeps ended rollouts; now stamps the pages and ends their
// windows. Links to the reports are relative (analyses/{id}), as Handler
// serves them.
func OverviewHandler(src RolloutSource, kept time.Duration, logger *slog.Logger, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	load := func(w http.ResponseWriter, r *http.Request) ([]Rollout, bool) {
		rs, err := src.Rollouts(r.Context())
		if err != nil {
			logger.Error("overview", "err", err)
			http.Error(w, "list rollouts: "+err.Error(), http.StatusServiceUnavailable)
			return nil, false
		}
		return rs, true
	}
	page := func(render func(io.Writer, *Overview) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			rs, ok := load(w, r)
			if !ok {
				return
			}
			o := &Overview{Rollouts: rs, Now: now(), Kept: kept, Source: "canaryd"}
			if h := r.URL.Query().Get("hours"); h != "" {
				n, err := strconv.Atoi(h)
				if err != nil || n < 1 || n > 168 {
					http.Error(w, fmt.Sprintf("hours %q is not a whole number of hours from 1 to 168", h), http.StatusBadRequest)
					return
				}
				o.RollbackHours = n
			}
			var buf bytes.Buffer
			if err := render(&buf, o); err != nil {
				logger.Error("overview", "err", err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			writePage(w, &buf)
		}
	}
	mux.HandleFunc("GET /overview", page(RenderOverview))
	mux.HandleFunc("GET /oncall", page(RenderOnCall))
	mux.HandleFunc("GET /api/v1/rollouts", func(w http.ResponseWriter, r *http.Request) {
		rs, ok := load(w, r)
		if !ok {
			return
		}
		if rs == nil {
			rs = []Rollout{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(RolloutList{Rollouts: rs, KeptSeconds: kept.Seconds(), Now: now().UTC()})
	})
	return mux
}
