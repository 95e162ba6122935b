package embedded

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// The answers are written by hand rather than with encoding/json: a range
// query over a thousand series has tens of thousands of points, and the
// API's shape (points as [seconds, "value"] pairs, values as strings so that
// NaN and ±Inf survive) needs custom encoding anyway.

// errHistograms is returned for a result holding native histograms, which
// the source never stores.
var errHistograms = errors.New("result holds native histograms, which the embedded source does not serve")

// appendMatrix writes [{"metric":{...},"values":[[t,"v"],...]},...].
func appendMatrix(b []byte, m promql.Matrix) ([]byte, error) {
	// Size the buffer once: growing a multi-megabyte answer by append
	// copies it over and over.
	points, labelBytes := 0, 0
	for _, s := range m {
		points += len(s.Floats)
		labelBytes += int(s.Metric.ByteSize())
	}
	b = slices.Grow(b, points*pointSize+len(m)*32+labelBytes*2)
	b = append(b, '[')
	for i, s := range m {
		if len(s.Histograms) > 0 {
			return nil, errHistograms
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"metric":`...)
		b = appendLabels(b, s.Metric)
		b = append(b, `,"values":[`...)
		for j, p := range s.Floats {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendPoint(b, p.T, p.F)
		}
		b = append(b, "]}"...)
	}
	return append(b, ']'), nil
}

// appendVector writes [{"metric":{...},"value":[t,"v"]},...].
func appendVector(b []byte, v promql.Vector) ([]byte, error) {
	labelBytes := 0
	for _, s := range v {
		labelBytes += int(s.Metric.ByteSize())
	}
	b = slices.Grow(b, len(v)*(pointSize+32)+labelBytes*2)
	b = append(b, '[')
	for i, s := range v {
		if s.H != nil {
			return nil, errHistograms
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"metric":`...)
		b = appendLabels(b, s.Metric)
		b = append(b, `,"value":`...)
		b = appendPoint(b, s.T, s.F)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendLabels writes {"name":"value",...} in label order.
func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, l.Name)
		b = append(b, ':')
		b = appendString(b, l.Value)
	})
	return append(b, '}')
}

// pointSize is the usual length of a point, [1772366400.123,"12.345678"],
// for sizing buffers.
const pointSize = 32

// appendPoint writes [t,"v"].
func appendPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',', '"')
	b = appendFloat(b, v)
	return append(b, '"', ']')
}

// appendTimestamp writes Unix milliseconds t as seconds with up to three
// decimals, exactly (no float conversion): 1700000000.5 for ...500 ms.
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		if t == math.MinInt64 {
			return append(b, "9223372036854775.808"...)
		}
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	ms := t % 1000
	if ms == 0 {
		return b
	}
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b
}

// appendFloat writes v as Prometheus does: the shortest decimal that reads
// back exactly, in exponent form below 1e-6 and from 1e21, and NaN, +Inf,
// -Inf spelt so.
func appendFloat(b []byte, v float64) []byte {
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, v, format, -1, 64)
}

// appendString writes s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendStringSlow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendStringSlow escapes s with encoding/json, for the rare label value
// that needs it.
func appendStringSlow(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(b, `""`...)
	}
	return append(b, q...)
}

// appendStrings writes ,"key":[...] when ss is not empty.
func appendStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, ',')
	b = appendString(b, key)
	b = append(b, ":["...)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}
