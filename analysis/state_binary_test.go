package analysis

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/canaryd/canaryd/stats"
)

func randomSerial(r *rand.Rand) stats.Serial {
	f := func() float64 {
		switch r.IntN(10) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1 - 2*r.IntN(2))
		default:
			return r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))
		}
	}
	return stats.Serial{N: r.IntN(1e6), Sum: f(), SumSq: f(), SumLag: f(), First: f(), Last: f(), Blocks: r.IntN(100),
		WithinSS: f(), WithinLag: f(), WithinDF: r.IntN(1e5), BlockLen: r.IntN(600), LastN: r.IntN(600), LastMean: f()}
}

func randomState(r *rand.Rand) *State {
	st := &State{Looks: r.IntN(1000), Metrics: make([]MetricState, r.IntN(12)), CanaryStale: r.IntN(3) * r.IntN(200)}
	for i := range st.Metrics {
		m := &st.Metrics[i]
		m.Name = string(rune('a'+i)) + "_metric"
		m.LogBroken = r.IntN(2) == 0
		m.Log, m.Up, m.Down = randomSerial(r), randomSerial(r), randomSerial(r)
		m.SumC, m.SumB = r.Float64(), r.Float64()
		m.C, m.B = randomSerial(r), randomSerial(r)
		m.Tail, m.TailLow = randomSerial(r), randomSerial(r)
		m.FirstN, m.FirstLog, m.FirstSumC, m.FirstSumB = r.IntN(100), r.NormFloat64(), r.Float64(), r.Float64()
		if r.IntN(2) == 0 {
			for range r.IntN(40) + 1 {
				m.BlocksC = append(m.BlocksC, r.NormFloat64())
				m.BlocksB = append(m.BlocksB, r.NormFloat64())
			}
		}
	}
	return st
}

// TestStateBinaryRoundTrip checks that every field, NaN and ±Inf
// included, survives the binary form bit for bit.
func TestStateBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var reused State // decoded into again and again, as the daemon does
	for i := range 200 {
		st := randomState(r)
		b, err := st.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		again, _ := got.AppendBinary(nil)
		if !bytes.Equal(b, again) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
		if err := reused.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d, reused: %v", i, err)
		}
		if again, _ := reused.AppendBinary(nil); !bytes.Equal(b, again) {
			t.Fatalf("case %d: decoding into a used State differs", i)
		}
		// Field by field, NaN-blind: the bytes above compare NaN bits.
		if got.Looks != st.Looks || len(got.Metrics) != len(st.Metrics) || got.CanaryStale != st.CanaryStale {
			t.Fatalf("case %d: looks/metrics differ", i)
		}
		for j := range st.Metrics {
			w, g := st.Metrics[j], got.Metrics[j]
			if w.Name != g.Name || w.LogBroken != g.LogBroken || w.Log.N != g.Log.N || w.Down.WithinDF != g.Down.WithinDF ||
				!reflect.DeepEqual(w.BlocksC, g.BlocksC) || !reflect.DeepEqual(w.BlocksB, g.BlocksB) {
				t.Fatalf("case %d metric %d: %+v != %+v", i, j, g, w)
			}
		}
	}
}

// TestStateBinaryMatchesJudge checks the binary form of a state the judge
// built resumes to the same judgements as the state itself.
func TestStateBinaryMatchesJudge(t *testing.T) {
	st := randomState(rand.New(rand.NewPCG(3, 4)))
	for i := range st.Metrics {
		st.Metrics[i].Log.LastMean = 1.5 // JSON cannot carry NaN in a Serial
		st.Metrics[i].Up, st.Metrics[i].Down, st.Metrics[i].Log = stats.Serial{N: i}, stats.Serial{Sum: float64(i)}, stats.Serial{}
		st.Metrics[i].C, st.Metrics[i].B = stats.Serial{N: 2 * i}, stats.Serial{Sum: 0.5}
		st.Metrics[i].Tail, st.Metrics[i].TailLow = stats.Serial{N: 3 * i}, stats.Serial{Sum: -1}
	}
	b, _ := st.AppendBinary(nil)
	var got State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	j1, err1 := json.Marshal(st)
	j2, err2 := json.Marshal(&got)
	if err1 != nil || err2 != nil || !bytes.Equal(j1, j2) {
		t.Fatalf("JSON of the decoded state differs:\n%s\n%s\n%v %v", j1, j2, err1, err2)
	}
}

// TestStateBinaryOlderVersions reads states written before the first
// interval's sums (version 4), before the tail test's serials (version 3)
// and before CanaryStale (version 2): the same layouts without them, read
// with them empty.
func TestStateBinaryOlderVersions(t *testing.T) {
	st := randomState(rand.New(rand.NewPCG(7, 8)))
	for _, v := range []byte{2, 3, 4} {
		old := st.appendBinary(nil, v)
		got := State{CanaryStale: 5}
		if err := got.UnmarshalBinary(old); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		want := *st
		want.Metrics = slices.Clone(st.Metrics)
		for i := range want.Metrics {
			m := &want.Metrics[i]
			m.FirstN, m.FirstLog, m.FirstSumC, m.FirstSumB = 0, 0, 0, 0
			if v < 4 {
				m.Tail, m.TailLow = stats.Serial{}, stats.Serial{}
			}
		}
		if v < 3 {
			want.CanaryStale = 0
		}
		if again, _ := got.AppendBinary(nil); !bytes.Equal(again, want.appendBinary(nil, stateBinaryVersion)) {
			t.Fatalf("a version %d state reads differently from its current form", v)
		}
	}
}

func TestStateBinaryMalformed(t *testing.T) {
	st := randomState(rand.New(rand.NewPCG(5, 6)))
	st.Metrics = st.Metrics[:max(1, len(st.Metrics))]
	if len(st.Metrics) == 0 {
		st.Metrics = []MetricState{{Name: "x"}}
	}
	b, _ := st.AppendBinary(nil)
	for n := range len(b) {
		var got State
		if err := got.UnmarshalBinary(b[:n]); !errors.Is(err, errStateBinary) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want errStateBinary", n, len(b), err)
		}
	}
	var got State
	if err := got.UnmarshalBinary(append(bytes.Clone(b), 0)); !errors.Is(err, errStateBinary) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	bad := bytes.Clone(b)
	bad[0] = 99
	if err := got.UnmarshalBinary(bad); !errors.Is(err, errStateBinary) {
		t.Fatalf("unknown version: err = %v", err)
	}
}

func FuzzStateBinary(f *testing.F) {
	for i := range 4 {
		b, _ := randomState(rand.New(rand.NewPCG(uint64(i), 9))).AppendBinary(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		b, _ := st.AppendBinary(nil)
		var again State
		if err := again.UnmarshalBinary(b); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if b2, _ := again.AppendBinary(nil); !bytes.Equal(b, b2) {
			t.Fatalf("decoding is not stable")
		}
	})
}

func BenchmarkStateEncoding(b *testing.B) {
	st := randomState(rand.New(rand.NewPCG(7, 8)))
	st.Metrics = st.Metrics[:0]
	for i := range 10 {
		st.Metrics = append(st.Metrics, MetricState{Name: "metric_" + string(rune('a'+i)), Log: stats.Serial{N: 300, Sum: 1.25, LastMean: 0.5}})
	}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = st.AppendBinary(buf[:0])
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			j, _ := json.Marshal(st)
			n = len(j)
		}
		b.ReportMetric(float64(n), "bytes")
	})
}

// TestStateBinaryVersion1 checks that a state written before the count
// test (version 1, without the C and B serials) is still read, with them
// empty.
func TestStateBinaryVersion1(t *testing.T) {
	st := &State{Looks: 3, Metrics: []MetricState{{Name: "error_rate", Up: stats.Serial{N: 90, Sum: -0.5}, SumC: 0.25, SumB: 0.5}}}
	v1 := st.appendBinary(nil, 1)
	var got State
	got.Metrics = []MetricState{{Name: "error_rate", C: stats.Serial{N: 7}}}
	if err := got.UnmarshalBinary(v1); err != nil {
		t.Fatalf("version 1: %v", err)
	}
	if got.Looks != 3 || got.Metrics[0].Up.N != 90 || got.Metrics[0].SumB != 0.5 || got.Metrics[0].C.N != 0 {
		t.Errorf("version 1 decoded as %+v", got)
	}
}
