package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The versioned JSON form, as WriteTo writes it (one interval per line):
//
//	{"version":2,"meta":{"analysis":"a1"},"intervals":[
//	{"index":0,"start":"2024-01-01T00:00:00Z","end":"2024-01-01T00:05:00Z","metrics":{
//	  "latency_p99":{"canary":{"query":"...","times":[1704067200000,...],"values":[0.25,"NaN",...],
//	                           "nan":1,"inf":0,"gaps":0,"warnings":["..."],
//	                           "sample_times":[1704067195000,...],"last_sample":1704067495000},"baseline":{...}}}}
//	]}
//
// Times are unix milliseconds. Values are JSON numbers, or the strings "NaN",
// "+Inf" and "-Inf", which JSON numbers cannot express. sample_times and
// last_sample are the freshness the provider learned (Samples.SampleTimes and
// LastSample, 0 for none); both are absent when it learned none, and
// sample_times also when there are no points. Version 1 is the same
// without them.
//
// The minimal form (the shared scenarios) has values only:
//
//	{"intervals":[{"metrics":{"latency_p99":{"baseline":[...],"canary":[...]}}}]}
//
// It carries no clock, so ReadRecording gives point i of interval k the time
// o_k + i seconds after the Unix epoch, where o_k is the number of points of
// the longest series in the intervals before k: points with the same index in
// baseline and canary share a time, and no time repeats across intervals.
// Interval k's window runs from its first to its last such time; its index
// is k. Gaps are 0: the form cannot say a point is missing.

// minimalStep is the time between the synthetic timestamps of points read
// from the minimal form.
const minimalStep = time.Second

type wireRecording struct {
	Version   int               `json:"version"`
	Meta      map[string]string `json:"meta,omitempty"`
	Intervals []json.RawMessage `json:"intervals"`
}

type wireInterval struct {
	Index   *int                                   `json:"index"`
	Start   time.Time                              `json:"start,omitzero"`
	End     time.Time                              `json:"end,omitzero"`
	Metrics map[string]map[string]*json.RawMessage `json:"metrics"`
}

type wireSamples struct {
	Query    string          `json:"query,omitempty"`
	Times    []int64         `json:"times"`
	Values   json.RawMessage `json:"values"`
	NaN      *int            `json:"nan,omitempty"`
	Inf      *int            `json:"inf,omitempty"`
	Gaps     int             `json:"gaps"`
	Warnings []string        `json:"warnings,omitempty"`
	// Version 2: freshness.
	SampleTimes []int64 `json:"sample_times,omitempty"`
	LastSample  *int64  `json:"last_sample,omitempty"`
}

// ReadRecording reads one recording: the versioned form WriteTo writes, the
// minimal scenario form, or a scenario line, an object that carries either
// under "recording" (its other fields are ignored). Unknown fields inside the
// recording are errors; errors give the line and column of a syntax error,
// or the path of the value at fault (intervals[2].metrics.cpu.canary[7]).
// A versioned recording's nan and inf counts, when present, must match its
// values.
func ReadRecording(r io.Reader) (*Recording, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("read recording: empty input")
		}
		return nil, fmt.Errorf("read recording: %w", positioned(data, err))
	}
	off := int(dec.InputOffset())
	for off < len(data) && isSpace(data[off]) {
		off++
	}
	if off < len(data) {
		line, col := lineCol(data, off)
		return nil, fmt.Errorf("read recording: more data after the recording at line %d, column %d (one recording per input: pass JSON Lines one line at a time)", line, col)
	}
	rec, err := decodeRecording(raw, "")
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	return rec, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// decodeRecording decodes the recording object raw found at path ("" for
// the top level).
func decodeRecording(raw json.RawMessage, path string) (*Recording, error) {
	if raw[0] != '{' {
		return nil, fmt.Errorf("%swant an object with \"intervals\", got %s", prefix(path), excerpt(raw))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%s%w", prefix(path), err)
	}
	if inner, ok := top["recording"]; ok && path == "" {
		if _, ok := top["intervals"]; !ok {
			return decodeRecording(inner, "recording")
		}
	}
	if _, ok := top["version"]; ok {
		return readVersioned(raw, path)
	}
	return readMinimal(top, path)
}

// prefix turns a path into the start of an error message.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// join appends a field or index to a path.
func join(path, field string) string {
	if path == "" || strings.HasPrefix(field, "[") {
		return path + field
	}
	return path + "." + field
}

func readVersioned(raw json.RawMessage, path string) (*Recording, error) {
	var w wireRecording
	if err := strictUnmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%s%w", prefix(path), err)
	}
	if w.Version != RecordingVersion && w.Version != 1 {
		return nil, fmt.Errorf("%s: unsupported recording version %d (this canaryd reads versions 1 to %d and the minimal form)", join(path, "version"), w.Version, RecordingVersion)
	}
	if w.Intervals == nil {
		return nil, fmt.Errorf("%s: missing (want an array of intervals)", join(path, "intervals"))
	}
	rec := &Recording{Version: w.Version, Meta: w.Meta, Intervals: make([]RecordedInterval, 0, len(w.Intervals))}
	for i, raw := range w.Intervals {
		at := join(path, fmt.Sprintf("intervals[%d]", i))
		var wi wireInterval
		if err := strictUnmarshal(raw, &wi); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if wi.Index == nil {
			return nil, fmt.Errorf("%s: missing \"index\"", at)
		}
		if n := len(rec.Intervals); n > 0 && rec.Intervals[n-1].Index >= *wi.Index {
			return nil, fmt.Errorf("%s: index %d after index %d (want strictly increasing)", at, *wi.Index, rec.Intervals[n-1].Index)
		}
		iv := RecordedInterval{Index: *wi.Index, Start: wi.Start, End: wi.End, Metrics: make(map[string]map[Role]Samples, len(wi.Metrics))}
		for metric, roles := range wi.Metrics {
			iv.Metrics[metric] = make(map[Role]Samples, len(roles))
			for role, raw := range roles {
				at := fmt.Sprintf("%s.metrics.%s.%s", at, metric, role)
				if !Role(role).Valid() {
					return nil, fmt.Errorf("%s: unknown role %q (want baseline, canary or service)", at, role)
				}
				if raw == nil {
					return nil, fmt.Errorf("%s: want an object, got null", at)
				}
				s, err := readSamples(*raw, at, w.Version)
				if err != nil {
					return nil, err
				}
				iv.Metrics[metric][Role(role)] = s
			}
		}
		rec.Intervals = append(rec.Intervals, iv)
	}
	return rec, nil
}

func readSamples(raw json.RawMessage, at string, version int) (Samples, error) {
	var ws wireSamples
	if err := strictUnmarshal(raw, &ws); err != nil {
		return Samples{}, fmt.Errorf("%s: %w", at, err)
	}
	values, err := parseValues(ws.Values, at+".values")
	if err != nil {
		return Samples{}, err
	}
	if len(ws.Times) != len(values) {
		return Samples{}, fmt.Errorf("%s: %d times and %d values (want one time per value)", at, len(ws.Times), len(values))
	}
	for j := 1; j < len(ws.Times); j++ {
		if ws.Times[j] <= ws.Times[j-1] {
			return Samples{}, fmt.Errorf("%s.times[%d]: %d does not follow %d (want strictly increasing)", at, j, ws.Times[j], ws.Times[j-1])
		}
	}
	if ws.Gaps < 0 {
		return Samples{}, fmt.Errorf("%s.gaps: %d is negative", at, ws.Gaps)
	}
	s := Samples{Query: ws.Query, Times: ws.Times, Values: values, Gaps: ws.Gaps, Warnings: ws.Warnings}
	s.NaN, s.Inf = CountSpecial(values)
	if ws.NaN != nil && *ws.NaN != s.NaN {
		return Samples{}, fmt.Errorf("%s.nan: says %d but the values hold %d NaN", at, *ws.NaN, s.NaN)
	}
	if ws.Inf != nil && *ws.Inf != s.Inf {
		return Samples{}, fmt.Errorf("%s.inf: says %d but the values hold %d ±Inf", at, *ws.Inf, s.Inf)
	}
	if err := readFreshness(&s, ws, at, version); err != nil {
		return Samples{}, err
	}
	return s, nil
}

// readFreshness checks and keeps a samples object's freshness: sample
// times one per point, none negative or newer than last_sample.
func readFreshness(s *Samples, ws wireSamples, at string, version int) error {
	switch {
	case ws.LastSample == nil && ws.SampleTimes == nil:
		return nil
	case version < 2:
		return fmt.Errorf("%s: sample_times and last_sample need version 2 (version %d has no freshness)", at, version)
	case ws.LastSample == nil:
		return fmt.Errorf("%s.sample_times: without last_sample", at)
	case *ws.LastSample < 0:
		return fmt.Errorf("%s.last_sample: %d is negative", at, *ws.LastSample)
	case len(ws.SampleTimes) != len(s.Times):
		return fmt.Errorf("%s.sample_times: %d for %d points (want one per point)", at, len(ws.SampleTimes), len(s.Times))
	}
	for i, st := range ws.SampleTimes {
		if st < 0 || st > *ws.LastSample {
			return fmt.Errorf("%s.sample_times[%d]: %d is not in [0, last_sample %d]", at, i, st, *ws.LastSample)
		}
	}
	s.FreshnessKnown, s.LastSample = true, *ws.LastSample
	s.SampleTimes = ws.SampleTimes
	if s.SampleTimes == nil {
		s.SampleTimes = []int64{}
	}
	return nil
}

func readMinimal(top map[string]json.RawMessage, path string) (*Recording, error) {
	for k := range top {
		if k != "intervals" {
			return nil, fmt.Errorf("%s: unknown field (a recording without \"version\" is the minimal form, which has only \"intervals\")", join(path, k))
		}
	}
	var intervals []json.RawMessage
	if err := json.Unmarshal(top["intervals"], &intervals); err != nil || intervals == nil {
		return nil, fmt.Errorf("%s: want an array of intervals", join(path, "intervals"))
	}
	rec := &Recording{Intervals: make([]RecordedInterval, 0, len(intervals))}
	var offset int64 // o_k, in points
	for k, raw := range intervals {
		at := join(path, fmt.Sprintf("intervals[%d]", k))
		var wi struct {
			Metrics map[string]map[string]json.RawMessage `json:"metrics"`
		}
		if err := strictUnmarshal(raw, &wi); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		iv := RecordedInterval{Index: k, Metrics: make(map[string]map[Role]Samples, len(wi.Metrics))}
		longest := 0
		for metric, roles := range wi.Metrics {
			iv.Metrics[metric] = make(map[Role]Samples, len(roles))
			for role, raw := range roles {
				at := fmt.Sprintf("%s.metrics.%s.%s", at, metric, role)
				if !Role(role).Valid() {
					return nil, fmt.Errorf("%s: unknown role %q (want baseline, canary or service)", at, role)
				}
				if len(raw) > 0 && raw[0] == '{' {
					return nil, fmt.Errorf("%s: want an array of values, got an object (samples objects belong to the versioned form, which starts with \"version\": %d)", at, RecordingVersion)
				}
				values, err := parseValues(raw, at)
				if err != nil {
					return nil, err
				}
				s := Samples{Times: make([]int64, len(values)), Values: values}
				for i := range values {
					s.Times[i] = (offset + int64(i)) * minimalStep.Milliseconds()
				}
				s.NaN, s.Inf = CountSpecial(values)
				iv.Metrics[metric][Role(role)] = s
				longest = max(longest, len(values))
			}
		}
		iv.Start = time.UnixMilli(offset * minimalStep.Milliseconds()).UTC()
		iv.End = time.UnixMilli((offset + int64(max(longest, 1)) - 1) * minimalStep.Milliseconds()).UTC()
		offset += int64(longest)
		rec.Intervals = append(rec.Intervals, iv)
	}
	return rec, nil
}

// parseValues reads a JSON array of values: numbers, or "NaN", "+Inf",
// "-Inf" (and "Inf").
func parseValues(raw json.RawMessage, at string) ([]float64, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, fmt.Errorf("%s: want an array of values, got %s", at, excerpt(raw))
	}
	values := make([]float64, len(elems))
	for i, e := range elems {
		v, err := parseValue(e)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", at, i, err)
		}
		values[i] = v
	}
	return values, nil
}

func parseValue(e json.RawMessage) (float64, error) {
	if len(e) > 0 && e[0] == '"' {
		var s string
		if err := json.Unmarshal(e, &s); err == nil {
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "+Inf", "Inf":
				return math.Inf(1), nil
			case "-Inf":
				return math.Inf(-1), nil
			}
		}
		return 0, fmt.Errorf("%s is not a value (want a JSON number, \"NaN\", \"+Inf\" or \"-Inf\")", excerpt(e))
	}
	v, err := strconv.ParseFloat(string(e), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range for a float64", excerpt(e))
		}
		return 0, fmt.Errorf("%s is not a value (want a JSON number, \"NaN\", \"+Inf\" or \"-Inf\")", excerpt(e))
	}
	return v, nil
}

// WriteTo writes r in the versioned JSON form, one interval per line, and
// returns the number of bytes written. It is safe for concurrent use with
// Record.
func (r *Recording) WriteTo(w io.Writer) (int64, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	head := struct {
		Version int               `json:"version"`
		Meta    map[string]string `json:"meta,omitempty"`
	}{RecordingVersion, r.Meta}
	b, err := json.Marshal(head)
	if err != nil {
		return cw.n, fmt.Errorf("write recording: %w", err)
	}
	bw.Write(b[:len(b)-1]) // reopen the object to add the intervals
	bw.WriteString(`,"intervals":[`)
	var buf []byte
	for i, iv := range r.Intervals {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		buf, err = appendInterval(buf[:0], iv)
		if err != nil {
			return cw.n, fmt.Errorf("write recording: interval %d: %w", iv.Index, err)
		}
		bw.Write(buf)
	}
	bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("write recording: %w", err)
	}
	return cw.n, nil
}

func appendInterval(b []byte, iv RecordedInterval) ([]byte, error) {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(iv.Index), 10)
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"start", iv.Start}, {"end", iv.End}} {
		if f.t.IsZero() {
			continue
		}
		tb, err := f.t.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, `,"`...)
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = append(b, tb...)
	}
	b = append(b, `,"metrics":{`...)
	for i, metric := range slices.Sorted(maps.Keys(iv.Metrics)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, metric)
		b = append(b, ":{"...)
		roles := iv.Metrics[metric]
		for j, role := range slices.Sorted(maps.Keys(roles)) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, string(role))
			b = append(b, ':')
			b = appendSamples(b, roles[role])
		}
		b = append(b, '}')
	}
	return append(b, "}}"...), nil
}

func appendSamples(b []byte, s Samples) []byte {
	b = append(b, '{')
	if s.Query != "" {
		b = append(b, `"query":`...)
		b = appendJSONString(b, s.Query)
		b = append(b, ',')
	}
	b = append(b, `"times":[`...)
	for i, t := range s.Times {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	b = append(b, `],"values":[`...)
	for i, v := range s.Values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, v)
	}
	nan, inf := CountSpecial(s.Values)
	b = append(b, `],"nan":`...)
	b = strconv.AppendInt(b, int64(nan), 10)
	b = append(b, `,"inf":`...)
	b = strconv.AppendInt(b, int64(inf), 10)
	b = append(b, `,"gaps":`...)
	b = strconv.AppendInt(b, int64(s.Gaps), 10)
	if len(s.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range s.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, w)
		}
		b = append(b, ']')
	}
	if s.FreshnessKnown {
		if len(s.SampleTimes) > 0 {
			b = append(b, `,"sample_times":[`...)
			for i, t := range s.SampleTimes {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, t, 10)
			}
			b = append(b, ']')
		}
		b = append(b, `,"last_sample":`...)
		b = strconv.AppendInt(b, s.LastSample, 10)
	}
	return append(b, '}')
}

// appendValue writes v as a JSON number, or as "NaN", "+Inf", "-Inf". The
// shortest decimal that parses back to the same float64 is used, so values
// survive the round trip bit for bit (NaN payloads aside).
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// strictUnmarshal decodes data into v, rejecting unknown fields.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Errorf("%s: unexpected JSON %s", typ.Field, typ.Value)
	}
	return err
}

// positioned adds the line and column of a JSON syntax or type error.
func positioned(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the offending byte.
		line, col := lineCol(data, int(syn.Offset)-1)
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	case errors.As(err, &typ):
		line, col := lineCol(data, int(typ.Offset))
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := lineCol(data, len(data))
		return fmt.Errorf("line %d, column %d: unexpected end of input: %w", line, col, err)
	}
	return err
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// excerpt shows at most 40 bytes of a JSON value in an error.
func excerpt(b []byte) string {
	const n = 40
	if len(b) == 0 {
		return "nothing"
	}
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
