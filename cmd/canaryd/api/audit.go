package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// DefaultAuditPage is how many records GET /api/v1/analyses/{id}/audit
// returns without a limit.
const DefaultAuditPage = 100

// AuditPage is one page of an analysis' audit trail, oldest first.
type AuditPage struct {
	AnalysisID string                `json:"analysis_id"`
	Records    []message.AuditRecord `json:"records"`
	// Unreadable lists the records this canaryd cannot read (written by
	// a later version): reported, never dropped silently.
	Unreadable []UnreadableAudit `json:"unreadable,omitempty"`
	// Next is the after= of the next page; left out on the last.
	Next uint64 `json:"next,omitempty"`
}

// UnreadableAudit is a stored record this canaryd cannot read.
type UnreadableAudit struct {
	StreamSeq uint64          `json:"stream_seq"`
	Error     string          `json:"error"`
	Raw       json.RawMessage `json:"raw,omitempty"`
}

// getAudit serves GET /api/v1/analyses/{id}/audit?after=SEQ&limit=N: the
// records stored after stream sequence SEQ (0: from the first), at most N
// (default DefaultAuditPage, at most bus.MaxAuditPage). The trail outlives
// the analysis' record (the audit retention is longer), so an analysis no
// longer in the store is served from the trail alone.
func (a *API) getAudit(w http.ResponseWriter, r *http.Request) {
	if !a.storeOrUnavailable(w) {
		return
	}
	id := r.PathValue("id")
	if !message.ValidID(id) {
		writeError(w, http.StatusNotFound, fmt.Errorf("analysis %q not found", id))
		return
	}
	q := r.URL.Query()
	after, limit := uint64(0), DefaultAuditPage
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("after %q: want the next of a previous page (a stream sequence)", s))
			return
		}
		after = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > bus.MaxAuditPage {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to %d", s, bus.MaxAuditPage))
			return
		}
		limit = n
	}
	entries, more, err := a.opts.Audit().Page(r.Context(), id, after, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	if len(entries) == 0 && after == 0 {
		if _, _, err := a.store().Get(r.Context(), id); errors.Is(err, record.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Errorf("analysis %q not found", id))
			return
		}
	}
	writeJSON(w, http.StatusOK, AuditPageOf(id, entries, more))
}

// AuditPageOf returns the page of analysis id holding entries; more says
// others follow.
func AuditPageOf(id string, entries []bus.AuditEntry, more bool) AuditPage {
	p := AuditPage{AnalysisID: id, Records: []message.AuditRecord{}}
	for _, e := range entries {
		if e.Err != nil {
			u := UnreadableAudit{StreamSeq: e.StreamSeq, Error: e.Err.Error()}
			if json.Valid(e.Raw) {
				u.Raw = e.Raw
			}
			p.Unreadable = append(p.Unreadable, u)
			continue
		}
		p.Records = append(p.Records, e.Record)
	}
	if more && len(entries) > 0 {
		p.Next = entries[len(entries)-1].StreamSeq
	}
	return p
}
