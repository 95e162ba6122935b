package api

import (
	"errors"
	"net/http"

	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// AnswerView is the answer to POST /api/v1/analyses/{id}/approve or
// /deny: the verdict the answer issued (or, Repeated, the one the same
// answer issued before) and the analysis after it.
type AnswerView struct {
	message.ApprovalReply
	Analysis AnalysisView `json:"analysis"`
}

// postAnswer answers an approval gate of an analysis: 200 with the
// verdict it issued, 200 with Repeated for the same answer again, 409 for
// an analysis that has ended or does not wait, 400 for a bad body.
func (a *API) postAnswer(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := a.lookup(w, r)
		if rec == nil {
			return
		}
		b, err := readBody(w, r)
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, err)
			return
		}
		req, err := message.DecodeApprovalRequest(b)
		if err == nil && (req.Action != "" || req.AnalysisID != "") {
			err = errors.New("approval request: action and analysis_id are given by the path over HTTP")
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		got, err := a.opts.Runner().Answer(r.Context(), rec.ID, rollout.Approval{Approved: approve, By: req.By, Reason: req.Reason, Step: req.Step})
		var answered *rollout.ErrAnswered
		switch {
		case err == nil || errors.As(err, &answered):
			writeJSON(w, http.StatusOK, AnswerView{ApprovalReply: runner.ReplyOf(got, err), Analysis: a.detailOf(got)})
		case errors.Is(err, rollout.ErrEnded), errors.Is(err, rollout.ErrNotAwaiting):
			writeError(w, http.StatusConflict, err)
		default:
			writeError(w, http.StatusServiceUnavailable, err)
		}
	}
}
