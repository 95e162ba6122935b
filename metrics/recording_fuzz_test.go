package metrics

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadRecording feeds arbitrary bytes to ReadRecording. It must not
// panic, and must not take what it cannot give back: a recording it
// accepts is written by WriteTo, read again, and written again to the same
// bytes, and every series in it has one time per value, strictly
// increasing, with NaN and Inf counts that match its values, and sample
// times, when it has them, one per point and none after its last sample.
func FuzzReadRecording(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"meta":{"analysis":"a1"},"intervals":[
{"index":0,"start":"2024-01-01T00:00:00Z","end":"2024-01-01T00:05:00Z","metrics":{"latency":{"canary":{"query":"q","times":[1,2,3],"values":[0.25,"NaN","+Inf"],"nan":1,"inf":1,"gaps":0,"warnings":["w"]},"baseline":{"times":[1],"values":[-1e308],"gaps":2}}}}
]}`,
		`{"intervals":[{"metrics":{"latency":{"baseline":[1,2,3],"canary":[1,2,"-Inf"]}}},{"metrics":{}}]}`,
		`{"name":"scenario","recording":{"intervals":[{"metrics":{"m":{"baseline":[1],"canary":[2]}}}]}}`,
		`{"version":1,"intervals":[]}`,
		`{"version":2,"intervals":[{"index":3,"metrics":{"m":{"canary":{"times":[10,20,30],"values":[1,2,3],"gaps":0,"sample_times":[5,5,0],"last_sample":7},"baseline":{"times":[],"values":[],"gaps":3,"last_sample":0}}}}]}`,
		`{"version":2,"intervals":[{"index":0,"metrics":{"m":{"canary":{"times":[1],"values":[1],"sample_times":[2],"last_sample":1}}}}]}`,
		`{"version":2,"intervals":[]}`,
		`{"version":1,"intervals":[{"index":1},{"index":0}]}`,
		`{"version":1,"intervals":[{"index":0,"start":"2024-01-01T00:00:00+23:59","metrics":{}}]}`,
		`{"version":1,"intervals":[{"index":0,"metrics":{"m":{"canary":{"times":[2,1],"values":[1,2]}}}}]}`,
		`{"intervals":[{"metrics":{"m":{"pilot":[1]}}}]}`,
		`{"intervals":[]} {}`,
		`{"intervals":[{"metrics":{"m":{"canary":[1e999]}}}]}`,
		`[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	// A few lines of the shared scenarios, when the checkout has them.
	if b, err := os.ReadFile(sharedFileF(f, "scenarios/sample.jsonl")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 16<<20)
		for n := 0; n < 3 && sc.Scan(); n++ {
			f.Add(bytes.Clone(sc.Bytes()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ReadRecording(bytes.NewReader(b))
		if err != nil {
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "read recording") {
				t.Fatalf("error %q does not say what failed", err)
			}
			return
		}
		for _, iv := range rec.Intervals {
			for metric, roles := range iv.Metrics {
				for role, s := range roles {
					if !role.Valid() {
						t.Fatalf("interval %d %s: role %q", iv.Index, metric, role)
					}
					checkSeries(t, s)
				}
			}
		}
		var first bytes.Buffer
		if _, err := rec.WriteTo(&first); err != nil {
			t.Fatalf("write back an accepted recording: %v", err)
		}
		again, err := ReadRecording(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("read back what WriteTo wrote: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		if _, err := again.WriteTo(&second); err != nil {
			t.Fatalf("write the re-read recording: %v", err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("the round trip changed the recording:\n%s\n%s", first.Bytes(), second.Bytes())
		}
	})
}

func checkSeries(t *testing.T, s Samples) {
	t.Helper()
	if len(s.Times) != len(s.Values) {
		t.Fatalf("%d times and %d values", len(s.Times), len(s.Values))
	}
	for i := 1; i < len(s.Times); i++ {
		if s.Times[i] <= s.Times[i-1] {
			t.Fatalf("times not increasing at %d: %v", i, s.Times)
		}
	}
	if nan, inf := CountSpecial(s.Values); nan != s.NaN || inf != s.Inf || s.Gaps < 0 {
		t.Fatalf("counts nan %d inf %d gaps %d, values hold nan %d inf %d", s.NaN, s.Inf, s.Gaps, nan, inf)
	}
	if !s.FreshnessKnown {
		if s.SampleTimes != nil || s.LastSample != 0 {
			t.Fatalf("freshness unknown but sample times %v, last sample %d", s.SampleTimes, s.LastSample)
		}
		return
	}
	if len(s.SampleTimes) != len(s.Times) {
		t.Fatalf("%d sample times for %d points", len(s.SampleTimes), len(s.Times))
	}
	for _, st := range s.SampleTimes {
		if st < 0 || st > s.LastSample {
			t.Fatalf("sample time %d outside [0, last sample %d]", st, s.LastSample)
		}
	}
}

// sharedFileF is sharedFile for a fuzz target: the path of rel under
// ../shared next to the repository root, or rel when there is no go.mod.
func sharedFileF(f *testing.F, rel string) string {
	f.Helper()
	dir, err := os.Getwd()
	if err != nil {
		f.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}
