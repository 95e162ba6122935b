package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/nats-io/nuid"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// GateView is an analysis as a CD tool's gate reads it: Gate is the
// rollout's (rollout.Gate: succeeded only after the final promote, failed
// after a rollback, an abort or an expiry, running otherwise, however long
// the analysis holds); the rest says where it stands and why.
type GateView struct {
	AnalysisID string       `json:"analysis_id"`
	Gate       rollout.Gate `json:"gate"`
	// State is the analysis' state: running, succeeded, rolled_back,
	// expired, aborted or rolled_back_after_promotion.
	State      string  `json:"state"`
	Step       int     `json:"step"`
	Steps      int     `json:"steps"`
	Weight     float64 `json:"weight"`
	Judgements int     `json:"judgements"`
	// Verdict is the latest verdict, empty before the first judgement.
	Verdict analysis.Verdict `json:"verdict,omitempty"`
	Reason  string           `json:"reason"`
}

// gateOf returns the gate view of r.
func gateOf(r *record.Record) GateView {
	g := GateView{
		AnalysisID: r.ID,
		Gate:       r.Gate(),
		State:      r.State(),
		Step:       r.Step(),
		Steps:      len(r.Plan.Steps),
		Weight:     r.Weight(),
		Judgements: r.Judgements(),
	}
	if v := r.Latest(); v != nil {
		g.Verdict, g.Reason = v.Verdict, v.Reason
	} else {
		g.Reason = "no judgement yet: the first is due at " + r.NextDue().UTC().Format(time.RFC3339)
	}
	return g
}

// getGate answers the gate of a known analysis; an unknown one is a 404,
// which a CD tool must read as an error, never as success.
func (a *API) getGate(w http.ResponseWriter, r *http.Request) {
	if rec := a.lookup(w, r); rec != nil {
		writeJSON(w, http.StatusOK, gateOf(rec))
	}
}

// postGate starts the analysis of the deploy event in the body under the
// path's id unless it exists, and answers its gate: what an Argo Rollouts
// web metric calls at every measurement, so that its first measurement
// starts the analysis and a retry starts nothing. An analysis stored under
// the id for another event (another revision, another service) is a 409:
// a gate never answers for an analysis it was not asked about.
func (a *API) postGate(w http.ResponseWriter, r *http.Request) {
	if !a.storeOrUnavailable(w) {
		return
	}
	id := r.PathValue("id")
	if !message.ValidID(id) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("analysis id %q must be a valid id (letters, digits, - and _, at most 128)", id))
		return
	}
	b, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	e, err := message.DecodeEvent(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if e.ID != "" && e.ID != id {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the event's id %q is not the path's %q", e.ID, id))
		return
	}
	e.ID = id
	rec, err := a.ensure(r, e)
	switch {
	case errors.Is(err, runner.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, errOtherEvent):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, gateOf(rec))
	}
}

// errOtherEvent is returned by ensure when the id holds another event's
// analysis.
var errOtherEvent = errors.New("analysis of another event")

// ensure returns the analysis of e, starting it unless its id is stored;
// errOtherEvent when the id holds an analysis of another event.
func (a *API) ensure(r *http.Request, e message.Event) (*record.Record, error) {
	if e.ID == "" {
		e.ID = nuid.Next()
	}
	rec, _, err := a.store().Get(r.Context(), e.ID)
	if errors.Is(err, record.ErrNotFound) {
		rec, err = a.opts.Runner().Create(r.Context(), e)
		if errors.Is(err, record.ErrDuplicate) {
			err = nil // started at the same time by another call
		}
	}
	if err != nil {
		return nil, err
	}
	if diff := eventDiff(&rec.Event, &e); diff != "" {
		return nil, fmt.Errorf("%w: analysis %s was started for another event (%s)", errOtherEvent, e.ID, diff)
	}
	return rec, nil
}

// eventDiff names the first field in which the events differ ("" when
// they are the same event but for their ids).
func eventDiff(stored, asked *message.Event) string {
	switch {
	case stored.Service != asked.Service || stored.Namespace != asked.Namespace:
		return fmt.Sprintf("%s/%s, asked %s/%s", stored.Namespace, stored.Service, asked.Namespace, asked.Service)
	case stored.Template != asked.Template:
		return fmt.Sprintf("template %s, asked %s", stored.Template, asked.Template)
	case stored.Baseline.Version != asked.Baseline.Version || !maps.Equal(stored.Baseline.Labels, asked.Baseline.Labels):
		return fmt.Sprintf("baseline %s, asked %s", stored.Baseline.Version, asked.Baseline.Version)
	case stored.Canary.Version != asked.Canary.Version || !maps.Equal(stored.Canary.Labels, asked.Canary.Labels):
		return fmt.Sprintf("canary %s, asked %s", stored.Canary.Version, asked.Canary.Version)
	case !maps.Equal(stored.Variables, asked.Variables):
		return "other variables"
	}
	return ""
}
