package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// flaggerPayload is what Flagger POSTs to its webhooks.
type flaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}

// flaggerAnalysis finds the analysis a Flagger webhook asks about: the one
// named by metadata analysis_id, else the latest analysis of the canary's
// service (Flagger's name) in its namespace.
func (a *API) flaggerAnalysis(w http.ResponseWriter, r *http.Request) *record.Record {
	if !a.storeOrUnavailable(w) {
		return nil
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return nil
	}
	var p flaggerPayload
	if err := json.Unmarshal(b, &p); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode flagger payload: %w", err))
		return nil
	}
	if id := p.Metadata["analysis_id"]; id != "" {
		rec, _, err := a.store().Get(r.Context(), id)
		if errors.Is(err, record.ErrNotFound) || !message.ValidID(id) {
			writeError(w, http.StatusNotFound, fmt.Errorf("analysis %q not found", id))
			return nil
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return nil
		}
		return rec
	}
	if p.Name == "" || p.Namespace == "" {
		writeError(w, http.StatusBadRequest, errors.New("flagger payload needs name and namespace (or metadata.analysis_id)"))
		return nil
	}
	recs, err := a.records(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return nil
	}
	var found *record.Record
	for _, rec := range recs { // sorted by creation: the last match is the latest
		if rec.Event.Service == p.Name && rec.Event.Namespace == p.Namespace {
			found = rec
		}
	}
	if found == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no analysis for %s/%s", p.Namespace, p.Name))
	}
	return found
}

// flaggerConfirmPromotion is a confirm-promotion gate: 200 only when the
// latest verdict is promote, 403 with the reason otherwise (Flagger then
// holds the promotion).
func (a *API) flaggerConfirmPromotion(w http.ResponseWriter, r *http.Request) {
	rec := a.flaggerAnalysis(w, r)
	if rec == nil {
		return
	}
	v := rec.Latest()
	switch {
	case v == nil:
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s: no verdict yet", rec.ID))
	case v.Verdict != analysis.Promote:
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s: latest verdict is %s: %s", rec.ID, v.Verdict, v.Reason))
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// flaggerRollback is a rollback hook: 200 means roll back now, which is
// when the analysis rolled back or was aborted; 403 otherwise.
func (a *API) flaggerRollback(w http.ResponseWriter, r *http.Request) {
	rec := a.flaggerAnalysis(w, r)
	if rec == nil {
		return
	}
	v := rec.Latest()
	if o := rec.Position.Outcome; o == rollout.RolledBack || o == rollout.Aborted || (v != nil && v.Verdict == analysis.Rollback) {
		writeJSON(w, http.StatusOK, v)
		return
	}
	reason := "no verdict yet"
	if v != nil {
		reason = "latest verdict is " + string(v.Verdict)
	}
	writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s: no rollback: %s", rec.ID, reason))
}
