package message

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/canaryd/canaryd/analysis"
)

// A verdict is encoded after every judgement, once: through encoding/json
// it was 7% of the daemon's CPU at 10,000 analyses. AppendJSON writes the
// same bytes without reflection; TestVerdictJSON holds it to
// encoding/json's output for every field, so a field added to Verdict or
// analysis.MetricResult and not here fails the test.

// AppendJSON appends v's JSON, byte for byte what json.Marshal writes.
func (v *Verdict) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"analysis_id":`...)
	b = AppendJSONString(b, v.AnalysisID)
	b = append(b, `,"service":`...)
	b = AppendJSONString(b, v.Service)
	b = append(b, `,"namespace":`...)
	b = AppendJSONString(b, v.Namespace)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(v.Seq), 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, int64(v.Step), 10)
	b = append(b, `,"weight":`...)
	b, err := AppendJSONFloat(b, v.Weight)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"next_weight":`...)
	if b, err = AppendJSONFloat(b, v.NextWeight); err != nil {
		return nil, err
	}
	b = append(b, `,"verdict":`...)
	b = AppendJSONString(b, string(v.Verdict))
	b = append(b, `,"final":`...)
	b = strconv.AppendBool(b, v.Final)
	if v.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = AppendJSONString(b, string(v.Outcome))
	}
	if v.AwaitingApproval {
		b = append(b, `,"awaiting_approval":true`...)
	}
	if v.Approval != nil {
		// Rare (an approval's own verdict): encoding/json is fine.
		a, err := json.Marshal(v.Approval)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"approval":`...)
		b = append(b, a...)
	}
	if v.Budget != nil {
		// Only at promotions: encoding/json is fine.
		a, err := json.Marshal(v.Budget)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"budget":`...)
		b = append(b, a...)
	}
	b = append(b, `,"score":`...)
	b = v.Score.AppendJSON(b)
	b = append(b, `,"reason":`...)
	b = AppendJSONString(b, v.Reason)
	b = append(b, `,"metrics":`...)
	if v.Metrics == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range v.Metrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMetricJSON(b, &v.Metrics[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"issued_at":`...)
	if b, err = appendJSONTime(b, v.IssuedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func appendMetricJSON(b []byte, m *analysis.MetricResult) []byte {
	b = append(b, `{"name":`...)
	b = AppendJSONString(b, m.Name)
	b = append(b, `,"classification":`...)
	b = AppendJSONString(b, string(m.Classification))
	b = append(b, `,"test":`...)
	b = AppendJSONString(b, m.Test)
	b = append(b, `,"direction":`...)
	b = AppendJSONString(b, m.Direction)
	b = append(b, `,"allowed_change":`...)
	b = m.AllowedChange.AppendJSON(b)
	b = append(b, `,"critical":`...)
	b = strconv.AppendBool(b, m.Critical)
	if m.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	b = append(b, `,"weight":`...)
	b = m.Weight.AppendJSON(b)
	b = append(b, `,"p_value":`...)
	b = m.PValue.AppendJSON(b)
	b = append(b, `,"alpha":`...)
	b = m.Alpha.AppendJSON(b)
	if m.Window != "" {
		b = append(b, `,"window":`...)
		b = AppendJSONString(b, m.Window)
	}
	b = append(b, `,"change":`...)
	b = m.Change.AppendJSON(b)
	b = append(b, `,"change_ci":`...)
	b = appendFloatPair(b, m.ChangeCI)
	b = append(b, `,"hl_shift":`...)
	b = m.HLShift.AppendJSON(b)
	b = append(b, `,"ci":`...)
	b = appendFloatPair(b, m.CI)
	b = append(b, `,"rel_shift":`...)
	b = m.RelShift.AppendJSON(b)
	b = append(b, `,"rel_ci":`...)
	b = appendFloatPair(b, m.RelCI)
	for _, f := range [...]struct {
		key string
		n   int
	}{{`,"n_baseline":`, m.NBaseline}, {`,"n_canary":`, m.NCanary}, {`,"n_pairs":`, m.NPairs}, {`,"total_pairs":`, m.TotalPairs}, {`,"dropped":`, m.Dropped}} {
		b = append(b, f.key...)
		b = strconv.AppendInt(b, int64(f.n), 10)
	}
	if m.BaselineFreshness.Known() {
		b = appendFreshness(append(b, `,"baseline_freshness":`...), m.BaselineFreshness)
	}
	if m.CanaryFreshness.Known() {
		b = appendFreshness(append(b, `,"canary_freshness":`...), m.CanaryFreshness)
	}
	if m.BaselineQuery != "" {
		b = append(b, `,"baseline_query":`...)
		b = AppendJSONString(b, m.BaselineQuery)
	}
	if m.CanaryQuery != "" {
		b = append(b, `,"canary_query":`...)
		b = AppendJSONString(b, m.CanaryQuery)
	}
	if len(m.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range m.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, w)
		}
		b = append(b, ']')
	}
	if m.Err != "" {
		b = append(b, `,"error":`...)
		b = AppendJSONString(b, m.Err)
	}
	b = append(b, `,"reason":`...)
	b = AppendJSONString(b, m.Reason)
	return append(b, '}')
}

func appendFreshness(b []byte, f analysis.Freshness) []byte {
	b = append(b, `{"fresh":`...)
	b = strconv.AppendInt(b, int64(f.Fresh), 10)
	b = append(b, `,"points":`...)
	b = strconv.AppendInt(b, int64(f.Points), 10)
	b = append(b, `,"last_sample_age":`...)
	b = f.LastSampleAge.AppendJSON(b)
	return append(b, '}')
}

func appendFloatPair(b []byte, p [2]analysis.Float) []byte {
	b = append(b, '[')
	b = p[0].AppendJSON(b)
	b = append(b, ',')
	b = p[1].AppendJSON(b)
	return append(b, ']')
}

// AppendJSONFloat appends f as encoding/json writes a float64: NaN and
// ±Inf are errors (analysis.Float is the type that encodes them).
func AppendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// AppendJSONString appends s quoted as encoding/json quotes it (HTML
// characters escaped): plain printable ASCII, quotes, backslashes, <, >,
// & and the common control characters are written here; anything else
// (other control characters, non-ASCII) goes through encoding/json.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		case '<':
			esc = `\u003c`
		case '>':
			esc = `\u003e`
		case '&':
			esc = `\u0026`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		j, err := t.MarshalJSON() // the error it reports
		return append(b, j...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
