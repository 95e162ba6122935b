package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// flaggerPayload is what Flagger POSTs to its webhooks: the Canary's name
// and namespace, its phase, the checksum of the revision under analysis
// (its last applied spec and tracked configs) and the webhook's metadata.
// Fields Flagger may add later are ignored.
type flaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata"`
}

// Metadata keys of Flagger's pre-rollout webhook; every other key is a
// template variable ({{.Vars.KEY}}).
const (
	flaggerTemplate = "template"
	flaggerBaseline = "baseline_version"
	flaggerCanary   = "canary_version"
	// flaggerDefaultBaseline is the baseline's version when the metadata
	// names none: Flagger's primary.
	flaggerDefaultBaseline = "primary"
)

// flaggerID is the id of the analysis of a Canary's revision: its name
// (cut to 64 characters) and a hash of its namespace, name and checksum.
// The id binds an analysis to one revision: another checksum is another
// analysis, so no gate answers for a revision with another's verdicts.
func flaggerID(p *flaggerPayload) string {
	h := sha256.Sum256([]byte(p.Namespace + "\x00" + p.Name + "\x00" + p.Checksum))
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, p.Name)
	if len(name) > 64 {
		name = name[:64]
	}
	return "flagger-" + name + "-" + hex.EncodeToString(h[:10])
}

// flaggerDecode reads Flagger's payload; it needs name, namespace and
// checksum (Flagger sends them all).
func (a *API) flaggerDecode(w http.ResponseWriter, r *http.Request) *flaggerPayload {
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
	if p.Name == "" || p.Namespace == "" || p.Checksum == "" {
		writeError(w, http.StatusBadRequest, errors.New("flagger payload needs name, namespace and checksum (the revision under analysis)"))
		return nil
	}
	return &p
}

// flaggerAnalysis finds the analysis of the revision a Flagger webhook
// asks about (flaggerID); 404 when its pre-rollout webhook did not start
// one.
func (a *API) flaggerAnalysis(w http.ResponseWriter, r *http.Request) *record.Record {
	p := a.flaggerDecode(w, r)
	if p == nil {
		return nil
	}
	id := flaggerID(p)
	rec, _, err := a.store().Get(r.Context(), id)
	switch {
	case errors.Is(err, record.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Errorf("no analysis of %s/%s revision %s (analysis %s): Flagger's pre-rollout webhook starts it", p.Namespace, p.Name, p.Checksum, id))
		return nil
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
		return nil
	}
	return rec
}

// flaggerPreRollout starts the analysis of the Canary's revision (a
// pre-rollout webhook): service and namespace are the Canary's, the
// template and the versions come from the metadata (the canary's version
// defaults to the checksum, the baseline's to "primary"), every other
// metadata key is a variable. 200 with the gate whether it started now or
// earlier (Flagger calls the hook until its first traffic increase); 400
// for an event that cannot start, which Flagger counts as a failed check.
func (a *API) flaggerPreRollout(w http.ResponseWriter, r *http.Request) {
	p := a.flaggerDecode(w, r)
	if p == nil {
		return
	}
	e := message.Event{
		ID:        flaggerID(p),
		Service:   p.Name,
		Namespace: p.Namespace,
		Template:  p.Metadata[flaggerTemplate],
		Baseline:  analysis.Version{Version: flaggerDefaultBaseline},
		Canary:    analysis.Version{Version: p.Checksum},
	}
	for k, v := range p.Metadata {
		switch k {
		case flaggerTemplate:
		case flaggerBaseline:
			e.Baseline.Version = v
		case flaggerCanary:
			e.Canary.Version = v
		default:
			if e.Variables == nil {
				e.Variables = map[string]string{}
			}
			e.Variables[k] = v
		}
	}
	if e.Template == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("flagger pre-rollout webhook: metadata.%s names no template", flaggerTemplate))
		return
	}
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

// flaggerConfirmTrafficIncrease is a confirm-traffic-increase gate, asked
// before each weight increase: 200 for the first (to the first step) and
// then once for every step the analysis passed
// (rollout.Rollout.TrafficIncreases), and always once it succeeded; 403
// with the reason otherwise. Flagger's stepWeights are the template's
// steps, so Flagger's weight follows canaryd's.
func (a *API) flaggerConfirmTrafficIncrease(w http.ResponseWriter, r *http.Request) {
	rec := a.flaggerAnalysis(w, r)
	if rec == nil {
		return
	}
	g := gateOf(rec)
	switch g.Gate {
	case rollout.GateSucceeded:
		writeJSON(w, http.StatusOK, g)
		return
	case rollout.GateFailed:
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s ended %s: %s", rec.ID, g.State, g.Reason))
		return
	}
	n, ok, err := a.store().ConfirmIncrease(r.Context(), rec.ID, rec.TrafficIncreases())
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	case !ok:
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s: %d traffic increase(s) confirmed, the next when step %d of %d passes (%s)", rec.ID, n, g.Step, g.Steps, g.Reason))
	default:
		writeJSON(w, http.StatusOK, g)
	}
}

// flaggerConfirmPromotion is a confirm-promotion gate: 200 only when the
// analysis ended with its final promote, 403 with the reason otherwise
// (Flagger then holds the promotion).
func (a *API) flaggerConfirmPromotion(w http.ResponseWriter, r *http.Request) {
	rec := a.flaggerAnalysis(w, r)
	if rec == nil {
		return
	}
	g := gateOf(rec)
	if g.Gate != rollout.GateSucceeded {
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s is %s at step %d of %d: %s", rec.ID, g.State, g.Step, g.Steps, g.Reason))
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// flaggerRollback is a rollback webhook: 200 (roll back now) when the
// analysis ended without success (rolled back, aborted, expired), 403
// otherwise.
func (a *API) flaggerRollback(w http.ResponseWriter, r *http.Request) {
	rec := a.flaggerAnalysis(w, r)
	if rec == nil {
		return
	}
	g := gateOf(rec)
	if g.Gate != rollout.GateFailed {
		writeError(w, http.StatusForbidden, fmt.Errorf("analysis %s: no rollback: it is %s", rec.ID, g.State))
		return
	}
	writeJSON(w, http.StatusOK, g)
}
