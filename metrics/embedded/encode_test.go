package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
)

func TestAppendTimestamp(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "0"},
		{1, "0.001"},
		{10, "0.01"},
		{500, "0.5"},
		{1772366400000, "1772366400"},
		{1772366400123, "1772366400.123"},
		{1772366400120, "1772366400.12"},
		{-1500, "-1.5"},
	} {
		got := string(appendTimestamp(nil, tc.ms))
		if got != tc.want {
			t.Errorf("%d: got %s, want %s", tc.ms, got, tc.want)
		}
		// client_golang reads it back exactly.
		var mt model.Time
		if err := json.Unmarshal([]byte(got), &mt); err != nil || (tc.ms >= 0 && int64(mt) != tc.ms) {
			t.Errorf("%d: read back %d, %v", tc.ms, mt, err)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{0.1, "0.1"},
		{-2.5, "-2.5"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1e-7, "1e-07"},
		{0.000001, "0.000001"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := string(appendFloat(nil, tc.v)); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnewline\n", "ünïcödé", "<html>&"} {
		var back string
		b := appendString(nil, s)
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%q: wrote %s, read back %q, %v", s, b, back, err)
		}
	}
}

func TestExecErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		typ    string
		status int
	}{
		{promql.ErrQueryTimeout("query execution"), "timeout", http.StatusServiceUnavailable},
		{context.DeadlineExceeded, "timeout", http.StatusServiceUnavailable},
		{promql.ErrQueryCanceled("query execution"), "canceled", 499},
		{context.Canceled, "canceled", 499},
		{promql.ErrStorage{Err: errors.New("disk")}, "internal", http.StatusInternalServerError},
		{errors.New("many-to-many matching not allowed"), "execution", http.StatusUnprocessableEntity},
	} {
		e := execError(tc.err)
		if e.typ != tc.typ || e.status() != tc.status {
			t.Errorf("%v: got %s %d, want %s %d", tc.err, e.typ, e.status(), tc.typ, tc.status)
		}
	}
	if s := badParam("x", errors.New("y")).status(); s != http.StatusBadRequest {
		t.Errorf("bad_data: %d", s)
	}
}

func TestParseTimeAndDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1772366400", time.Unix(1772366400, 0), true},
		{"1772366400.123", time.UnixMilli(1772366400123), true},
		{"0", time.Unix(0, 0), true},
		{"2026-03-01T12:00:00Z", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), true},
		{"2026-03-01T12:00:00.5+01:00", time.Date(2026, 3, 1, 11, 0, 0, 5e8, time.UTC), true},
		{"", time.Time{}, false},
		{"NaN", time.Time{}, false},
		{"1e300", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	} {
		got, err := parseTime(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("parseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"15", 15 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"5m", 5 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"", 0, false},
		{"1e300", 0, false},
		{"soon", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
