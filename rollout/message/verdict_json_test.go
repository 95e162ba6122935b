package message

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
)

// fillRandom sets every exported field of the struct v points to from r,
// by kind, so that a field added later is covered without editing this.
func fillRandom(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	strs := []string{"", "promote", "web", `quote " backslash \ slash /`, "<b> & </b>", "tab\tnew\nline\rret",
		"bell\x07 nul\x00", "é ± × 99.9%", "\u2028\u2029", "bad \xff utf8", "emoji 🐤"}
	floats := []float64{0, 1, -0.5, 100, 1e-7, 3.0487804878048808e-06, 1e21, -2.5e-300, math.NaN(), math.Inf(1), math.Inf(-1)}
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(strs[r.IntN(len(strs))])
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Int:
			f.SetInt(int64(r.IntN(1e6)) - 100)
		case reflect.Float64:
			x := floats[r.IntN(len(floats))]
			if f.Type() == reflect.TypeOf(float64(0)) && (math.IsNaN(x) || math.IsInf(x, 0)) {
				x = 42.125 // a plain float64 cannot be NaN in JSON
			}
			f.SetFloat(x)
		case reflect.Array:
			for j := range f.Len() {
				f.Index(j).SetFloat(floats[r.IntN(len(floats))])
			}
		case reflect.Slice:
			switch f.Type().Elem().Kind() {
			case reflect.String:
				if n := r.IntN(3); n > 0 || r.IntN(2) == 0 {
					s := reflect.MakeSlice(f.Type(), n, n)
					for j := range n {
						s.Index(j).SetString(strs[r.IntN(len(strs))])
					}
					f.Set(s)
				}
			case reflect.Struct: // Verdict.Metrics
				n := r.IntN(4)
				s := reflect.MakeSlice(f.Type(), n, n)
				for j := range n {
					fillRandom(t, r, s.Index(j))
				}
				if n > 0 || r.IntN(2) == 0 {
					f.Set(s)
				}
			default:
				t.Fatalf("field %s: no random values for %s", sf.Name, f.Type())
			}
		case reflect.Pointer:
			if r.IntN(2) == 0 {
				p := reflect.New(f.Type().Elem())
				fillRandom(t, r, p.Elem())
				f.Set(p)
			}
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				if r.IntN(2) == 0 { // MetricResult's freshness: left zero (unknown) or filled
					fillRandom(t, r, f)
				}
				continue
			}
			f.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()))
		default:
			t.Fatalf("field %s: no random values for %s", sf.Name, f.Type())
		}
	}
}

// TestVerdictJSON holds the hand-written verdict encoder to
// encoding/json's output, byte for byte, over every field.
func TestVerdictJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 2000 {
		var v Verdict
		fillRandom(t, r, reflect.ValueOf(&v).Elem())
		want, err := json.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkVerdictJSON(b *testing.B) {
	v := Verdict{AnalysisID: "checkout-v2", Service: "checkout", Namespace: "shop", Seq: 12, Step: 2, Weight: 25,
		NextWeight: 50, Verdict: analysis.Promote, Score: 100, Reason: "promote: every metric within its allowed change; score 100",
		IssuedAt: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)}
	for i := range 10 {
		v.Metrics = append(v.Metrics, analysis.MetricResult{Name: "latency_p99_" + string(rune('a'+i)), Classification: analysis.Pass,
			Test: "paired", Direction: "increase", AllowedChange: 0.1, Critical: true, Weight: 1, PValue: 0.9731, Alpha: 3.0487804878048808e-06,
			Window: "cumulative", Change: -0.0017852730617382967, ChangeCI: [2]analysis.Float{-0.007130651404110689, 0.0035888835581219763},
			HLShift: -0.25039999999999196, CI: [2]analysis.Float{-1.9432699999999983, 1.3328100000000092}, NBaseline: 30, NCanary: 30,
			NPairs: 30, TotalPairs: 1200, Reason: "within the allowed 10.0%: canary -0.2% vs baseline (>99.99% CI -0.7% to +0.4%) over 1200 paired points; p = 1.0000"})
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = v.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
