package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics/companion"
)

// clientGolangQuerier is the querier canaryd had before decodeRange:
// client_golang's QueryRange, decoding included. Benchmarks compare it with
// apiQuerier.
type clientGolangQuerier struct{ api v1.API }

func (q clientGolangQuerier) queryRange(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (model.Value, []string, int, error) {
	v, warnings, infos, err := q.api.QueryRange(ctx, expr, r, v1.WithTimeout(timeout))
	var notes []string
	if len(warnings)+len(infos) > 0 {
		notes = make([]string, 0, len(warnings)+len(infos))
		notes = append(notes, warnings...)
		for _, info := range infos {
			notes = append(notes, "info: "+info)
		}
	}
	return v, notes, http.StatusOK, err
}

// decoded is what a range query answer decodes to.
type decoded struct {
	v        model.Value
	warnings []string
	infos    []string
	err      error
}

// clientGolangDecode is the oracle: client_golang's own reading of an answer.
func clientGolangDecode(status int, body []byte) decoded {
	c := replayClient{resp: &http.Response{StatusCode: status}, body: body}
	v, w, i, err := v1.NewAPI(c).QueryRange(context.Background(), "x", v1.Range{})
	return decoded{v, w, i, err}
}

func ourDecode(status int, body []byte) decoded {
	v, w, i, err := decodeRange(&http.Response{StatusCode: status}, body)
	return decoded{v, w, i, err}
}

// nullSeries reports whether v is a matrix holding a nil series, which
// client_golang returns for a null in the result and decodeRange refuses.
func nullSeries(v model.Value) bool {
	m, ok := v.(model.Matrix)
	return ok && slices.Contains(m, nil)
}

// diff returns how got and want differ, "" if in nothing: values (NaN equal
// to NaN bit for bit; nil and empty told apart, as callers could), warnings
// and infos, and the errors' types and messages.
func diff(got, want decoded) string {
	switch {
	case (got.err == nil) != (want.err == nil):
		return "error " + errString(got.err) + ", want " + errString(want.err)
	case got.err != nil:
		var g, w *v1.Error
		if errors.As(got.err, &g) != errors.As(want.err, &w) || g != nil && *g != *w || g == nil && got.err.Error() != want.err.Error() {
			return "error " + errString(got.err) + ", want " + errString(want.err)
		}
		return ""
	case !slices.Equal(got.warnings, want.warnings) || !slices.Equal(got.infos, want.infos):
		return "notes differ"
	}
	return diffValue(got.v, want.v)
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func diffValue(got, want model.Value) string {
	gm, gok := got.(model.Matrix)
	wm, wok := want.(model.Matrix)
	if !gok || !wok {
		if gok != wok || got == nil != (want == nil) || got != nil && (got.Type() != want.Type() || got.String() != want.String()) {
			return "value " + valueString(got) + ", want " + valueString(want)
		}
		return ""
	}
	if (gm == nil) != (wm == nil) || len(gm) != len(wm) {
		return "matrix " + gm.String() + ", want " + wm.String()
	}
	for i := range gm {
		g, w := gm[i], wm[i]
		if g == nil || w == nil {
			if g != w {
				return "series nil-ness differs"
			}
			continue
		}
		if (g.Metric == nil) != (w.Metric == nil) || !g.Metric.Equal(w.Metric) {
			return "metric " + g.Metric.String() + ", want " + w.Metric.String()
		}
		if (g.Values == nil) != (w.Values == nil) || len(g.Values) != len(w.Values) {
			return "values of " + w.Metric.String() + " differ in number"
		}
		for j := range g.Values {
			if g.Values[j].Timestamp != w.Values[j].Timestamp ||
				math.Float64bits(float64(g.Values[j].Value)) != math.Float64bits(float64(w.Values[j].Value)) {
				return "point " + g.Values[j].String() + ", want " + w.Values[j].String()
			}
		}
		gh, _ := json.Marshal(g.Histograms)
		wh, _ := json.Marshal(w.Histograms)
		if (g.Histograms == nil) != (w.Histograms == nil) || string(gh) != string(wh) {
			return "histograms differ"
		}
	}
	return ""
}

func valueString(v model.Value) string {
	if v == nil {
		return "<nil>"
	}
	return v.Type().String() + " " + v.String()
}

// checkDecode decodes body both ways and fails t where they differ; the one
// difference allowed is a null series, which decodeRange refuses.
func checkDecode(t *testing.T, status int, body []byte) decoded {
	t.Helper()
	got, want := ourDecode(status, body), clientGolangDecode(status, body)
	if want.err == nil && nullSeries(want.v) {
		if got.err == nil || !strings.Contains(got.err.Error(), "is null") {
			t.Fatalf("a null series: got %v, want an error", errString(got.err))
		}
		return got
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("status %d, body %q:\n%s", status, body, d)
	}
	return got
}

func TestDecodeRange(t *testing.T) {
	const pre = `{"status":"success","data":{"resultType":"matrix","result":[`
	const post = `]}}`
	series := func(metric, values string) string {
		return `{"metric":` + metric + `,"values":` + values + `}`
	}
	point := func(ts int64, v float64) model.SamplePair {
		return model.SamplePair{Timestamp: model.Time(ts), Value: model.SampleValue(v)}
	}
	tests := []struct {
		name    string
		status  int
		body    string
		fast    bool         // decoded without client_golang
		want    model.Matrix // nil: not checked beyond the oracle
		notes   []string     // warnings then infos
		wantErr string
	}{
		{name: "empty result", body: pre + post, fast: true, want: model.Matrix{}},
		{name: "series with no values", fast: true,
			body: pre + series(`{"job":"a"}`, `[]`) + `,{}` + post,
			want: model.Matrix{{Metric: model.Metric{"job": "a"}}, {}}},
		{name: "empty metric", fast: true,
			body: pre + series(`{}`, `[[1,"1"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(1000, 1)}}}},
		{name: "escaped label strings", fast: true,
			body: pre + series(`{"__name__":"up","path":"/a\"b\\c\/d\u00e9\u4E2D\n\t","quote":"\"\""}`, `[[1700000000,"1"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{"__name__": "up", "path": "/a\"b\\c/dé中\n\t", "quote": `""`},
				Values: []model.SamplePair{point(1700000000000, 1)}}}},
		{name: "escaped label name", fast: true,
			body: pre + series(`{"\u006aob":"x","la\u00e9bel":"y"}`, `[]`) + post,
			want: model.Matrix{{Metric: model.Metric{"job": "x", "laébel": "y"}}}},
		{name: "utf-8 label values unescaped", fast: true,
			body: pre + series(`{"city":"Zürich 東京 😀"}`, `[]`) + post,
			want: model.Matrix{{Metric: model.Metric{"city": "Zürich 東京 😀"}}}},
		{name: "repeated label name, last wins",
			fast: true, body: pre + series(`{"a":"1","a":"2"}`, `[]`) + post,
			want: model.Matrix{{Metric: model.Metric{"a": "2"}}}},
		{name: "escaped surrogate pair (left to client_golang)",
			body: pre + series(`{"e":"\ud83d\ude00"}`, `[]`) + post,
			want: model.Matrix{{Metric: model.Metric{"e": "😀"}}}},
		{name: "lone surrogate (left to client_golang)",
			body: pre + series(`{"e":"\ud800"}`, `[]`) + post},
		{name: "empty label name", body: pre + series(`{"":"x"}`, `[]`) + post, wantErr: "not a valid label name"},
		{name: "NaN and infinities", fast: true,
			body: pre + series(`{}`, `[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"Inf"],[5,"-0"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(1000, math.NaN()),
				point(2000, math.Inf(1)), point(3000, math.Inf(-1)), point(4000, math.Inf(1)), point(5000, math.Copysign(0, -1))}}}},
		{name: "huge and tiny values", fast: true,
			body: pre + series(`{}`, `[[1,"1.7976931348623157e308"],[2,"4.9e-324"],[3,"1e-400"],[4,"123456789012345678901234567890"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(1000, math.MaxFloat64),
				point(2000, 5e-324), point(3000, 0), point(4000, 123456789012345678901234567890)}}}},
		{name: "value out of range", body: pre + series(`{}`, `[[1,"1e309"]]`) + post, wantErr: "value out of range"},
		{name: "value not a number", body: pre + series(`{}`, `[[1,"x"]]`) + post, wantErr: "invalid syntax"},
		{name: "value as a JSON number", body: pre + series(`{}`, `[[1,1]]`) + post, wantErr: "ReadString"},
		{name: "timestamps with 1 to 3 decimals", fast: true,
			body: pre + series(`{}`, `[[1700000000.1,"1"],[1700000000.12,"2"],[1700000000.123,"3"],[1700000000.1239,"4"],[-0.5,"5"],[-1.25,"6"],[0.001,"7"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(1700000000100, 1), point(1700000000120, 2),
				point(1700000000123, 3), point(1700000000123, 4), point(-500, 5), point(-1250, 6), point(1, 7)}}}},
		// common's Time.UnmarshalJSON reads base.frac with frac cut to 3
		// digits: an exponent after 3 digits is dropped, a shorter one refused.
		{name: "timestamp exponent after 3 decimals is dropped", fast: true,
			body: pre + series(`{}`, `[[1.700e9,"1"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(1700, 1)}}}},
		{name: "timestamp with exponent", body: pre + series(`{}`, `[[1.7e9,"1"]]`) + post, wantErr: "invalid syntax"},
		{name: "timestamp with exponent, no fraction", body: pre + series(`{}`, `[[17E8,"1"]]`) + post, wantErr: "invalid syntax"},
		{name: "timestamp overflowing int64 milliseconds wraps as in common", fast: true,
			body: pre + series(`{}`, `[[9223372036854775807,"1"]]`) + post,
			want: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{point(-1000, 1)}}}},
		{name: "timestamp overflowing int64", body: pre + series(`{}`, `[[9223372036854775808,"1"]]`) + post, wantErr: "out of range"},
		{name: "point with three elements", body: pre + series(`{}`, `[[1,"1","2"]]`) + post, wantErr: "too many values"},
		{name: "warnings and infos", fast: true,
			body: `{"status":"success","warnings":["w1","w\"2"],"infos":["i"],"data":{"resultType":"matrix","result":[]}}`,
			want: model.Matrix{}, notes: []string{"w1", `w"2`, "i"}},
		{name: "keys in another order, unknown keys skipped", fast: true,
			body: ` { "data" : { "resultType" : "matrix" , "stats":{"timings":[1,2.5e3,-0,true,false,null,{"a":[]}]}, "result" : [ { "values" : [ [ 1 , "1" ] ] , "metric" : { "a" : "b" } } ] } , "extra":"x", "status" : "success" } ` + "\n",
			want: model.Matrix{{Metric: model.Metric{"a": "b"}, Values: []model.SamplePair{point(1000, 1)}}}},
		{name: "keys differing in case (left to client_golang)",
			body: `{"Status":"success","DATA":{"resultType":"matrix","result":[]}}`, want: model.Matrix{}},
		{name: "result before resultType (left to client_golang)",
			body: `{"status":"success","data":{"result":[],"resultType":"matrix"}}`, want: model.Matrix{}},
		{name: "null result (left to client_golang)",
			body: `{"status":"success","data":{"resultType":"matrix","result":null}}`},
		{name: "null series", body: pre + `null` + post, wantErr: "series 0 of the result is null"},
		{name: "native histograms (left to client_golang)",
			body: pre + `{"metric":{},"histograms":[[1,{"count":"2","sum":"0.3","buckets":[[0,"0.1","0.2","2"]]}]]}` + post},
		{name: "a vector", body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`},
		{name: "unknown result type", body: `{"status":"success","data":{"resultType":"table","result":[]}}`, wantErr: "unknown value type"},
		{name: "no data", body: `{"status":"success"}`},
		{name: "error answer on 200", body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, wantErr: "parse error"},
		{name: "error answer on 400", status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error","warnings":["w"]}`, wantErr: "parse error"},
		{name: "success on 422", status: 422, body: pre + post, wantErr: "inconsistent body"},
		{name: "proxy page on 502", status: 502, body: `<html>bad gateway</html>`, wantErr: "server error: 502"},
		{name: "not JSON", body: `<html>Welcome</html>`, wantErr: "invalid character '<'"},
		{name: "truncated", body: pre + `{"metric":{"a":"b"},"values":[[1,"1"],[2,`, wantErr: "unexpected end of JSON input"},
		{name: "trailing garbage", body: pre + post + `x`, wantErr: "invalid character 'x' after top-level value"},
		{name: "empty body", body: ``, wantErr: "unexpected end of JSON input"},
		{name: "no content", status: 204, body: ``, wantErr: "unexpected end of JSON input"},
		{name: "raw control character in a label", body: pre + series("{\"a\":\"x\x01\"}", `[]`) + post, wantErr: "invalid character"},
		{name: "leading zero in a timestamp", body: pre + series(`{}`, `[[01,"1"]]`) + post, wantErr: "invalid character '1'"},
		{name: "unknown series key", body: pre + `{"metric":{},"value":[1,"1"]}` + post, wantErr: "unexpected key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			got := checkDecode(t, status, []byte(tt.body))
			_, _, _, ok := decodeMatrix([]byte(tt.body))
			if fast := ok && status/100 == 2; fast != tt.fast {
				t.Errorf("decoded in one pass: %v, want %v", fast, tt.fast)
			}
			if tt.wantErr != "" {
				if got.err == nil || !strings.Contains(got.err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", got.err, tt.wantErr)
				}
				return
			}
			if got.err != nil {
				t.Fatalf("error %v", got.err)
			}
			if tt.want != nil {
				if d := diffValue(got.v, tt.want); d != "" {
					t.Errorf("%s", d)
				}
			}
			if notes := append(slices.Clone(got.warnings), got.infos...); !slices.Equal(notes, tt.notes) {
				t.Errorf("notes %q, want %q", notes, tt.notes)
			}
		})
	}
}

// TestDecodeRangeSharesArrays checks the allocation layout: every series'
// Values a capacity-limited window of one array, label strings interned.
func TestDecodeRangeSharesArrays(t *testing.T) {
	body := rangeBody(50, 7)
	m, _, _, ok := decodeMatrix(body)
	if !ok || len(m) != 50 {
		t.Fatalf("decodeMatrix: %d series, ok %v", len(m), ok)
	}
	checkDecode(t, http.StatusOK, body)
	size := unsafe.Sizeof(model.SamplePair{})
	for i, ss := range m {
		if len(ss.Values) != 7 || cap(ss.Values) != 7 {
			t.Fatalf("series %d: %d values, capacity %d; want 7 and 7", i, len(ss.Values), cap(ss.Values))
		}
		if i > 0 && uintptr(unsafe.Pointer(&ss.Values[0])) != uintptr(unsafe.Pointer(&m[i-1].Values[6]))+size {
			t.Fatalf("series %d does not follow series %d in one array", i, i-1)
		}
	}
	a, b := string(m[0].Metric["service"]), string(m[1].Metric["service"])
	if a != "checkout" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("label values %q and %q of two series are separate strings; want them interned", a, b)
	}
}

// FuzzDecodeRange decodes arbitrary answers with decodeRange and with
// client_golang. decodeRange must not panic, and must return what
// client_golang returns (value, warnings, infos, error), but for a null
// series, which it refuses.
func FuzzDecodeRange(f *testing.F) {
	for _, body := range []string{
		string(rangeBody(3, 4)),
		`{"status":"success","warnings":["w"],"infos":["i"],"data":{"resultType":"matrix","result":[{"metric":{"a":"\u00e9\"","b":""},"values":[[1.5,"NaN"],[2.25,"+Inf"],[3.125,"-1e-3"]]},{}]}}`,
		`{"status":"success","data":{"resultType":"matrix","stats":{"x":[true,null,1e3]},"result":[{"values":[],"metric":{}}]},"error":"","errorType":""}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"histograms":[[1,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"Status":"success","data":{"resultType":"matrix","result":[null]}}`,
		`<html>proxy</html>`,
		``,
	} {
		for _, st := range []byte{0, 1, 2} {
			f.Add(st, []byte(body))
		}
	}
	statuses := []int{200, 400, 422, 204, 403, 500, 503, 404}
	f.Fuzz(func(t *testing.T, st byte, body []byte) {
		status := statuses[int(st)%len(statuses)]
		checkDecode(t, status, body)
		// The one-pass decoder alone: whatever it accepts, client_golang
		// accepts with the same result.
		if m, w, i, ok := decodeMatrix(body); ok {
			if d := diff(decoded{m, w, i, nil}, clientGolangDecode(http.StatusOK, body)); d != "" {
				t.Fatalf("decodeMatrix accepted %q: %s", body, d)
			}
		}
	})
}

// BenchmarkDecodeRange compares client_golang's decoding of a range query
// answer with decodeRange's, alone (no HTTP, no conversion to Samples).
func BenchmarkDecodeRange(b *testing.B) {
	for _, size := range []struct {
		name           string
		series, points int
	}{
		{"1000x10", 1000, 10},
		{"1x10000", 1, 10000},
		{"1000x10+companion", 1000, 10},
		{"2000x10", 2000, 10},
	} {
		body := rangeBody(size.series, size.points)
		want := size.series
		if strings.HasSuffix(size.name, "+companion") {
			// A joined answer (companion.Join): as many series again, the
			// companion's, valued with sample times.
			body, want = withCompanion(body, size.series, size.points), 2*size.series
		}
		ok := &http.Response{StatusCode: http.StatusOK}
		decoders := []struct {
			name   string
			decode func() (model.Value, error)
		}{
			{"client_golang", func() (model.Value, error) {
				v, _, _, err := v1.NewAPI(cannedClient{body}).QueryRange(context.Background(), "x", v1.Range{})
				return v, err
			}},
			{"decodeRange", func() (model.Value, error) {
				v, _, _, err := decodeRange(ok, body)
				return v, err
			}},
		}
		for _, dec := range decoders {
			b.Run(size.name+"/"+dec.name, func(b *testing.B) {
				v, err := dec.decode()
				if m, _ := v.(model.Matrix); err != nil || len(m) != want {
					b.Fatalf("decode: %v, %v", v, err)
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := dec.decode(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var _ api.Client = replayClient{}

// withCompanion appends to body, an answer of rangeBody, the series of
// its companion query: one per series, labelled companion.Label, each
// point valued with the time of a sample taken 2.5 s before it, in Unix
// seconds with milliseconds as Prometheus writes them.
func withCompanion(body []byte, series, points int) []byte {
	var b bytes.Buffer
	b.Write(body[:len(body)-len("]}}")])
	for s := range series {
		fmt.Fprintf(&b, `,{"metric":{"pod":"pod-%d","service":"checkout",%q:%q},"values":[`, s, companion.Label, companion.Value)
		for p := range points {
			if p > 0 {
				b.WriteByte(',')
			}
			t := 1704067200 + 10*p
			fmt.Fprintf(&b, `[%d,"%d.5"]`, t, t-3)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}
