package message

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// MaxSummaryBytes bounds a verdict summary's JSON: what canaryd publishes
// on canary.verdict.* after every judgement stays under 1 KB, so that a
// mesh following thousands of analyses reads decisions, not evidence. The
// reason gives way (TruncatedMark); the rest is kept whole. A summary
// whose other fields alone exceed the bound (names far beyond
// Kubernetes' 63 characters, dozens of metrics) is published anyway, its
// reason cut to the mark: a mesh needs its next_weight.
const MaxSummaryBytes = 1000

// TruncatedMark ends a summary's reason cut to fit MaxSummaryBytes; the
// whole reason is the verdict's, in the audit record and the API.
const TruncatedMark = "… [truncated]"

// VerdictSummary is what canaryd publishes on
// canary.verdict.<namespace>.<service> after every judgement, under
// message id <analysis_id>-<seq>: the decision (Seq, Step, Weight,
// NextWeight, Verdict, Final, Outcome, AwaitingApproval, Approval), the
// score, the reason and each metric's classification, at most
// MaxSummaryBytes of JSON. The verdict itself, with its evidence (each
// metric's test, p-value, shifts and intervals, sample counts, warnings,
// the error budget, the approval's reason), is where analysis_id and seq
// find it: the audit record <analysis_id>-v<seq> on
// canary.audit.<namespace>.<service>.<analysis_id> (GET
// /api/v1/analyses/{id}/audit, canaryctl audit), and, while the analysis
// is kept, GET /api/v1/analyses/{id} and its report.
//
// Its JSON names are the verdict's, so a consumer decoding a summary as a
// Verdict gets the decision, and a summary decodes the full verdicts
// canaryd published before it published summaries (UnmarshalJSON).
type VerdictSummary struct {
	AnalysisID string `json:"analysis_id"`
	Service    string `json:"service"`
	Namespace  string `json:"namespace"`
	// Seq numbers the analysis' verdicts from 1; the message id is
	// <analysis_id>-<seq>.
	Seq int `json:"seq"`
	// Step, Weight, NextWeight, Verdict, Final, Outcome and
	// AwaitingApproval: see Verdict.
	Step             int              `json:"step"`
	Weight           float64          `json:"weight"`
	NextWeight       float64          `json:"next_weight"`
	Verdict          analysis.Verdict `json:"verdict"`
	Final            bool             `json:"final"`
	Outcome          rollout.Outcome  `json:"outcome,omitempty"`
	AwaitingApproval bool             `json:"awaiting_approval,omitempty"`
	// Approval is the approval or denial this verdict carries out, without
	// its reason (the verdict's reason quotes it).
	Approval *rollout.Approval `json:"approval,omitempty"`
	// Score is the judgement's score (null when nothing was judged) and
	// Reason why it decided so, cut to fit (TruncatedMark).
	Score  analysis.Float `json:"score"`
	Reason string         `json:"reason"`
	// Classifications lists the metrics by classification, each list in
	// the template's order: {"high":["latency_p99"],"pass":["error_rate"]}
	// (half the bytes of a list of name and classification pairs).
	Classifications map[analysis.Classification][]string `json:"classifications"`
	IssuedAt        time.Time                            `json:"issued_at"`
}

// Summary returns v's summary, its reason whole: Encode cuts it to fit.
func (v *Verdict) Summary() VerdictSummary {
	s := VerdictSummary{
		AnalysisID:       v.AnalysisID,
		Service:          v.Service,
		Namespace:        v.Namespace,
		Seq:              v.Seq,
		Step:             v.Step,
		Weight:           v.Weight,
		NextWeight:       v.NextWeight,
		Verdict:          v.Verdict,
		Final:            v.Final,
		Outcome:          v.Outcome,
		AwaitingApproval: v.AwaitingApproval,
		Score:            v.Score,
		Reason:           v.Reason,
		Classifications:  map[analysis.Classification][]string{},
		IssuedAt:         v.IssuedAt,
	}
	if v.Approval != nil {
		a := *v.Approval
		a.Reason = ""
		s.Approval = &a
	}
	for i := range v.Metrics {
		m := &v.Metrics[i]
		s.Classifications[m.Classification] = append(s.Classifications[m.Classification], m.Name)
	}
	return s
}

// MsgID is the summary's Nats-Msg-Id, its verdict's: <analysis_id>-<seq>.
func (s *VerdictSummary) MsgID() string { return s.AnalysisID + "-" + strconv.Itoa(s.Seq) }

// PublishedOn is the subject s is published on.
func (s *VerdictSummary) PublishedOn() string { return VerdictSubject(s.Namespace, s.Service) }

// AuditID is the message id of the audit record holding s's verdict with
// its evidence.
func (s *VerdictSummary) AuditID() string { return VerdictAuditID(s.AnalysisID, s.Seq) }

// Encode returns s's JSON, at most MaxSummaryBytes: a longer one has its
// Reason cut, on a character boundary, and ended with TruncatedMark (s is
// changed to match what was written). Only the reason gives way: if the
// rest alone is longer, the JSON is too.
func (s *VerdictSummary) Encode() ([]byte, error) {
	b, err := s.AppendJSON(nil)
	if err != nil || len(b) <= MaxSummaryBytes {
		return b, err
	}
	full := s.Reason
	// What the reason may take: the bound less the rest. Each byte of a
	// reason encodes to one byte or more, so the longest prefix that fits
	// is within the first budget bytes: search it there.
	budget := MaxSummaryBytes - (len(b) - len(AppendJSONString(nil, full)))
	fits := func(keep int) bool {
		return len(AppendJSONString(nil, cut(full, keep))) <= budget
	}
	lo, hi := 0, min(len(full), max(budget, 0)) // fits(lo) or lo == 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	s.Reason = cut(full, lo)
	return s.AppendJSON(b[:0])
}

// cut returns reason's first keep bytes, back to a character boundary and
// without trailing spaces, ended with TruncatedMark.
func cut(reason string, keep int) string {
	for keep > 0 && keep < len(reason) && !utf8.RuneStart(reason[keep]) {
		keep--
	}
	return strings.TrimRight(reason[:keep], " ") + TruncatedMark
}

// AppendJSON appends s's JSON, byte for byte what json.Marshal writes
// (TestVerdictSummaryJSON), without reflection: it is written after every
// judgement.
func (s *VerdictSummary) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"analysis_id":`...)
	b = AppendJSONString(b, s.AnalysisID)
	b = append(b, `,"service":`...)
	b = AppendJSONString(b, s.Service)
	b = append(b, `,"namespace":`...)
	b = AppendJSONString(b, s.Namespace)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(s.Seq), 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, int64(s.Step), 10)
	b = append(b, `,"weight":`...)
	b, err := AppendJSONFloat(b, s.Weight)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"next_weight":`...)
	if b, err = AppendJSONFloat(b, s.NextWeight); err != nil {
		return nil, err
	}
	b = append(b, `,"verdict":`...)
	b = AppendJSONString(b, string(s.Verdict))
	b = append(b, `,"final":`...)
	b = strconv.AppendBool(b, s.Final)
	if s.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = AppendJSONString(b, string(s.Outcome))
	}
	if s.AwaitingApproval {
		b = append(b, `,"awaiting_approval":true`...)
	}
	if s.Approval != nil {
		// Rare (an approval's own verdict): encoding/json is fine.
		a, err := json.Marshal(s.Approval)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"approval":`...)
		b = append(b, a...)
	}
	b = append(b, `,"score":`...)
	b = s.Score.AppendJSON(b)
	b = append(b, `,"reason":`...)
	b = AppendJSONString(b, s.Reason)
	b = append(b, `,"classifications":`...)
	b = appendClassifications(b, s.Classifications)
	b = append(b, `,"issued_at":`...)
	if b, err = appendJSONTime(b, s.IssuedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendClassifications appends c as encoding/json writes it: keys
// sorted.
func appendClassifications(b []byte, c map[analysis.Classification][]string) []byte {
	if c == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(c)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, string(k))
		b = append(b, ':')
		if c[k] == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, name := range c[k] {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, name)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// UnmarshalJSON decodes a summary, or a full verdict as canaryd published
// on canary.verdict.* before it published summaries: its metrics' names
// and classifications become Classifications (a stream keeps them, and a
// follower restarting reads them).
func (s *VerdictSummary) UnmarshalJSON(b []byte) error {
	type plain VerdictSummary
	var v struct {
		plain
		Metrics []struct {
			Name           string                  `json:"name"`
			Classification analysis.Classification `json:"classification"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = VerdictSummary(v.plain)
	if s.Classifications == nil && v.Metrics != nil {
		s.Classifications = map[analysis.Classification][]string{}
		for _, m := range v.Metrics {
			s.Classifications[m.Classification] = append(s.Classifications[m.Classification], m.Name)
		}
	}
	return nil
}
