package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// decodeRange turns the answer to a /api/v1/query_range request into what
// client_golang's v1.API.QueryRange would have returned for it: the value,
// warnings, infos and an error (a *v1.Error when the answer was no good).
//
// A 2xx answer in the shape Prometheus writes (see decodeMatrix) is decoded
// in one pass straight into a model.Matrix. Anything else, error answers
// and answers that stray from that shape, goes through client_golang
// itself, so that its errors and its quirks stay exactly as they were: that
// path is rare and its cost does not matter.
func decodeRange(resp *http.Response, body []byte) (model.Value, v1.Warnings, v1.Infos, error) {
	if resp.StatusCode/100 == 2 {
		if m, warnings, infos, ok := decodeMatrix(body); ok {
			return m, warnings, infos, nil
		}
	}
	v, warnings, infos, err := v1.NewAPI(replayClient{resp: resp, body: body}).QueryRange(context.Background(), "", v1.Range{})
	if err == nil {
		// client_golang takes a null series for a nil *SampleStream, on
		// which every reader of the matrix would panic.
		if m, ok := v.(model.Matrix); ok {
			for i, ss := range m {
				if ss == nil {
					return nil, warnings, infos, &v1.Error{Type: v1.ErrBadResponse, Msg: fmt.Sprintf("series %d of the result is null", i)}
				}
			}
		}
	}
	return v, warnings, infos, err
}

// replayClient is an api.Client that answers with a response already read.
type replayClient struct {
	resp *http.Response
	body []byte
}

func (c replayClient) URL(ep string, _ map[string]string) *url.URL { return &url.URL{Path: ep} }

func (c replayClient) Do(context.Context, *http.Request) (*http.Response, []byte, error) {
	return c.resp, c.body, nil
}

// maxSkipDepth bounds the nesting of the unknown values decodeMatrix skips;
// deeper ones are left to client_golang.
const maxSkipDepth = 64

// decodeMatrix decodes a successful range query answer in the shape
// Prometheus writes:
//
//	{"status":"success","data":{"resultType":"matrix","result":[
//	  {"metric":{"name":"value",...},"values":[[1700000000.123,"1.5"],...]},...]},
//	 "warnings":[...],"infos":[...]}
//
// with keys in any order (but resultType before result), other keys of the
// envelope and of data skipped, strings valid UTF-8 with any escapes but
// those of UTF-16 surrogates. It returns exactly what client_golang returns
// for such a body: timestamps are read by model.Time's UnmarshalJSON, values
// by strconv.ParseFloat, label names checked by model.LabelName's IsValid;
// an empty metric is an empty map, an empty values array nil.
//
// ok is false for any body outside that shape, valid or not; the caller
// then decodes it with client_golang, which knows what to make of it.
//
// The result's allocations are few: one []SampleStream and one []SamplePair
// for the whole answer (each series' Values a capacity-limited window of
// it), one map per series, and label strings interned per answer. A caller
// that keeps one series' Values keeps the whole answer's points.
func decodeMatrix(body []byte) (m model.Matrix, warnings v1.Warnings, infos v1.Infos, ok bool) {
	d := matrixDecoder{s: scanner{b: body}}
	if !d.envelope() {
		return nil, nil, nil, false
	}
	return d.matrix(), d.warnings, d.infos, true
}

// matrixDecoder holds decodeMatrix's state.
type matrixDecoder struct {
	s        scanner
	warnings v1.Warnings
	infos    v1.Infos
	result   bool // a result array was read

	intern  map[string]string // label names and values seen in this answer
	labels  []model.LabelPair // the current series' labels
	streams []model.SampleStream
	points  []model.SamplePair // every point, the series one after another
}

// envelope reads the whole body.
func (d *matrixDecoder) envelope() bool {
	s := &d.s
	var seen struct{ status, data, warnings, infos, errType, err bool }
	success := false
	if !s.next('{') || s.next('}') {
		return false
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		switch string(key) {
		case "status":
			v, ok := s.str()
			if !ok || seen.status {
				return false
			}
			seen.status, success = true, string(v) == "success"
		case "data":
			if seen.data || !d.data() {
				return false
			}
			seen.data = true
		case "warnings":
			if seen.warnings || !d.strings((*[]string)(&d.warnings)) {
				return false
			}
			seen.warnings = true
		case "infos":
			if seen.infos || !d.strings((*[]string)(&d.infos)) {
				return false
			}
			seen.infos = true
		case "errorType", "error":
			// Read but not used when the status is success.
			p := &seen.errType
			if string(key) == "error" {
				p = &seen.err
			}
			if _, ok := s.str(); !ok || *p {
				return false
			}
			*p = true
		default:
			// encoding/json, which client_golang reads the envelope with,
			// matches keys without regard to case.
			if foldsTo(key, "status", "data", "warnings", "infos", "errorType", "error") || !s.skip(0) {
				return false
			}
		}
		if !s.next(',') {
			break
		}
	}
	return s.next('}') && s.end() && success && d.result
}

// data reads the data object.
func (d *matrixDecoder) data() bool {
	s := &d.s
	var seenType bool
	if !s.next('{') || s.next('}') {
		return false
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') {
			return false
		}
		switch string(key) {
		case "resultType":
			v, ok := s.str()
			if !ok || seenType || string(v) != "matrix" {
				return false
			}
			seenType = true
		case "result":
			if !seenType || d.result || !d.series() {
				return false
			}
			d.result = true
		default:
			if foldsTo(key, "resultType", "result") || !s.skip(0) {
				return false
			}
		}
		if !s.next(',') {
			break
		}
	}
	return s.next('}')
}

// series reads the result array.
func (d *matrixDecoder) series() bool {
	s := &d.s
	if !s.next('[') {
		return false
	}
	// Every point opens a bracket and every series (but one without a
	// metric) two braces, so these bound the answer from the body alone.
	rest := s.b[s.i:]
	d.points = make([]model.SamplePair, 0, bytes.Count(rest, []byte{'['}))
	d.streams = make([]model.SampleStream, 0, bytes.Count(rest, []byte{'{'})/2)
	d.intern = make(map[string]string)
	if s.next(']') {
		return true
	}
	for {
		if !d.stream() {
			return false
		}
		if !s.next(',') {
			break
		}
	}
	return s.next(']')
}

// stream reads one series.
func (d *matrixDecoder) stream() bool {
	s := &d.s
	if !s.next('{') {
		return false
	}
	var ss model.SampleStream
	if !s.next('}') {
		var seenMetric, seenValues bool
		for {
			key, ok := s.str()
			if !ok || !s.next(':') {
				return false
			}
			// client_golang's decoder matches these keys exactly and
			// refuses others; histograms are left to it.
			switch string(key) {
			case "metric":
				if seenMetric || !d.metric(&ss) {
					return false
				}
				seenMetric = true
			case "values":
				if seenValues || !d.values(&ss) {
					return false
				}
				seenValues = true
			default:
				return false
			}
			if !s.next(',') {
				break
			}
		}
		if !s.next('}') {
			return false
		}
	}
	d.streams = append(d.streams, ss)
	return true
}

// metric reads a series' labels.
func (d *matrixDecoder) metric(ss *model.SampleStream) bool {
	s := &d.s
	if !s.next('{') {
		return false
	}
	d.labels = d.labels[:0]
	if !s.next('}') {
		for {
			name, ok := s.str()
			// The check client_golang's decoder makes (LabelName's
			// UnmarshalJSON), so that both refuse the same names.
			//lint:ignore SA1019 deprecated, but it is what client_golang uses.
			if !ok || !model.LabelName(name).IsValid() || !s.next(':') {
				return false
			}
			n := model.LabelName(d.internString(name))
			value, ok := s.str()
			if !ok {
				return false
			}
			d.labels = append(d.labels, model.LabelPair{Name: n, Value: model.LabelValue(d.internString(value))})
			if !s.next(',') {
				break
			}
		}
		if !s.next('}') {
			return false
		}
	}
	m := make(model.Metric, len(d.labels))
	for _, l := range d.labels {
		m[l.Name] = l.Value // a repeated name: the last wins, as in client_golang
	}
	ss.Metric = m
	return true
}

// internString returns b as a string, the same one for equal bytes within
// an answer.
func (d *matrixDecoder) internString(b []byte) string {
	if v, ok := d.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	d.intern[v] = v
	return v
}

// values reads a series' points into d.points.
func (d *matrixDecoder) values(ss *model.SampleStream) bool {
	s := &d.s
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true // client_golang leaves Values nil
	}
	start := len(d.points)
	for {
		if !s.next('[') {
			return false
		}
		num, ok := s.number()
		if !ok || !s.next(',') {
			return false
		}
		var p model.SamplePair
		if p.Timestamp.UnmarshalJSON(num) != nil {
			return false
		}
		v, ok := s.str()
		if !ok || !s.next(']') {
			return false
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return false
		}
		p.Value = model.SampleValue(f)
		if len(d.points) == cap(d.points) {
			return false // the bound in series failed: not a shape we know
		}
		d.points = append(d.points, p)
		if !s.next(',') {
			break
		}
	}
	if !s.next(']') {
		return false
	}
	ss.Values = d.points[start:len(d.points):len(d.points)]
	return true
}

// strings reads an array of strings into *dst.
func (d *matrixDecoder) strings(dst *[]string) bool {
	s := &d.s
	if !s.next('[') {
		return false
	}
	out := []string{} // as encoding/json: [] is empty, not nil
	if !s.next(']') {
		for {
			v, ok := s.str()
			if !ok {
				return false
			}
			out = append(out, string(v))
			if !s.next(',') {
				break
			}
		}
		if !s.next(']') {
			return false
		}
	}
	*dst = out
	return true
}

// matrix returns the series read, their points in one array sized to fit.
func (d *matrixDecoder) matrix() model.Matrix {
	if n := len(d.points); cap(d.points)-n > n/4 {
		// The bound was loose (many short series, or brackets in
		// labels): do not keep the slack alive with the answer.
		exact := make([]model.SamplePair, n)
		copy(exact, d.points)
		off := 0
		for i := range d.streams {
			if k := len(d.streams[i].Values); k > 0 {
				d.streams[i].Values = exact[off : off+k : off+k]
				off += k
			}
		}
	}
	m := make(model.Matrix, len(d.streams))
	for i := range d.streams {
		m[i] = &d.streams[i]
	}
	return m
}

// foldsTo reports whether key equals one of names under encoding/json's
// case folding (that of bytes.EqualFold).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// scanner reads JSON tokens from b, strictly: every method reports false
// on anything it does not accept, and never reads past b.
type scanner struct {
	b   []byte
	i   int
	buf []byte // unescaped strings
}

// next skips white space and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// ws skips white space.
func (s *scanner) ws() {
	for ; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// str reads a string and returns its contents, valid until the next call.
// It refuses invalid UTF-8 and escaped UTF-16 surrogates, which decoders
// differ on.
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// escaped finishes a string holding escapes, from s.i at the first one.
func (s *scanner) escaped(start int) ([]byte, bool) {
	s.buf = append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.buf, utf8.Valid(s.buf)
		case c < 0x20:
			return nil, false
		case c != '\\':
			s.buf = append(s.buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, false
		}
		switch e := s.b[s.i+1]; e {
		case '"', '\\', '/':
			s.buf = append(s.buf, e)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			if s.i+6 > len(s.b) {
				return nil, false
			}
			r, ok := hex4(s.b[s.i+2 : s.i+6])
			if !ok || utf16Surrogate(r) {
				return nil, false
			}
			s.buf = utf8.AppendRune(s.buf, r)
			s.i += 4
		default:
			return nil, false
		}
		s.i += 2
	}
	return nil, false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func utf16Surrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

// number reads a number per JSON's grammar and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.at('-') {
		s.i++
	}
	switch {
	case s.at('0'):
		s.i++
	case s.digits() == 0:
		return nil, false
	}
	if s.at('.') {
		s.i++
		if s.digits() == 0 {
			return nil, false
		}
	}
	if s.at('e') || s.at('E') {
		s.i++
		if s.at('+') || s.at('-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// digits consumes decimal digits and returns how many.
func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// skip reads and discards any JSON value nested at most maxSkipDepth deep.
func (s *scanner) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		s.i++
		if s.next('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok || !s.next(':') || !s.skip(depth+1) {
				return false
			}
			if !s.next(',') {
				return s.next('}')
			}
		}
	case c == '[':
		s.i++
		if s.next(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if !s.next(',') {
				return s.next(']')
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		_, ok := s.number()
		return ok
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			s.i += len(lit)
			return true
		}
	}
	return false
}
