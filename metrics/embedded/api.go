package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

// maxPoints is Prometheus's limit on the points per series of a range query.
const maxPoints = 11000

// maxAnnotations is how many warnings, and how many infos, an answer lists;
// the rest are summed up in one more line, as Prometheus does.
const maxAnnotations = 10

// Error types of the Prometheus HTTP API, and the status codes it answers
// them with.
const (
	errBadData     = "bad_data"    // 400: a parameter or the query does not parse
	errExec        = "execution"   // 422: the query failed while running
	errTimeout     = "timeout"     // 503: the query took longer than its timeout
	errCanceled    = "canceled"    // 499: the client went away
	errInternal    = "internal"    // 500: the storage failed
	errUnavailable = "unavailable" // 503: the source is closed
)

// apiError is an error answer of the HTTP API.
type apiError struct {
	typ string
	err error
}

func (e *apiError) status() int {
	switch e.typ {
	case errBadData:
		return http.StatusBadRequest
	case errExec:
		return http.StatusUnprocessableEntity
	case errTimeout, errUnavailable:
		return http.StatusServiceUnavailable
	case errCanceled:
		return 499 // nginx's "client closed request", as Prometheus answers
	}
	return http.StatusInternalServerError
}

func badParam(name string, err error) *apiError {
	return &apiError{errBadData, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

// Handler serves the part of the Prometheus HTTP API that canaryd's
// Prometheus provider and client_golang's api/prometheus/v1 range and
// instant queries use:
//
//	GET|POST /api/v1/query_range  query, start, end, step, timeout, lookback_delta
//	GET|POST /api/v1/query        query, time, timeout, lookback_delta
//	GET      /-/ready, /-/healthy
//
// Parameters and answers are Prometheus's: times as Unix seconds or RFC
// 3339, durations as seconds or 5m-style; {"status":"success","data":
// {"resultType":...,"result":...},"warnings":[...],"infos":[...]} on
// success, {"status":"error","errorType":...,"error":...} otherwise, with
// 400 for bad_data (a parameter or the query does not parse), 422 for
// execution errors, 503 for timeouts, 499 when the client went away, 500
// for storage failures. An instant query without time is evaluated at
// Options.Now, or at the newest sample.
func (s *Source) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/query_range", s.serveQueryRange)
	mux.HandleFunc("POST /api/v1/query_range", s.serveQueryRange)
	mux.HandleFunc("GET /api/v1/query", s.serveQuery)
	mux.HandleFunc("POST /api/v1/query", s.serveQuery)
	mux.HandleFunc("GET /-/ready", s.serveProbe)
	mux.HandleFunc("GET /-/healthy", s.serveProbe)
	return mux
}

func (s *Source) serveProbe(w http.ResponseWriter, _ *http.Request) {
	s.life.RLock()
	closed := s.closed
	s.life.RUnlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if closed {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("Service Unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("OK\n"))
}

func (s *Source) serveQueryRange(w http.ResponseWriter, r *http.Request) {
	s.respond(w, r, "query_range", func(ctx context.Context, emit emitFunc) *apiError {
		if err := r.ParseForm(); err != nil {
			return &apiError{errBadData, fmt.Errorf("parse form: %w", err)}
		}
		start, err := parseTime(r.FormValue("start"))
		if err != nil {
			return badParam("start", err)
		}
		end, err := parseTime(r.FormValue("end"))
		if err != nil {
			return badParam("end", err)
		}
		if end.Before(start) {
			return badParam("end", errors.New("end timestamp must not be before start time"))
		}
		step, err := parseDuration(r.FormValue("step"))
		if err != nil {
			return badParam("step", err)
		}
		if step <= 0 {
			return badParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
		}
		if end.Sub(start)/step > maxPoints {
			return &apiError{errBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")}
		}
		opts, aerr := queryOpts(r)
		if aerr != nil {
			return aerr
		}
		ctx, cancel, aerr := withTimeout(ctx, r)
		if aerr != nil {
			return aerr
		}
		defer cancel()
		qs := r.FormValue("query")
		q, err := s.engine.NewRangeQuery(ctx, queryable{s}, opts, qs, start, end, step)
		if err != nil {
			return badParam("query", err)
		}
		// The result's memory goes back to the engine's pools at Close:
		// encode it first.
		defer q.Close()
		return emit(q.Exec(ctx), qs)
	})
}

func (s *Source) serveQuery(w http.ResponseWriter, r *http.Request) {
	s.respond(w, r, "query", func(ctx context.Context, emit emitFunc) *apiError {
		if err := r.ParseForm(); err != nil {
			return &apiError{errBadData, fmt.Errorf("parse form: %w", err)}
		}
		ts := s.defaultQueryTime()
		if v := r.FormValue("time"); v != "" {
			t, err := parseTime(v)
			if err != nil {
				return badParam("time", err)
			}
			ts = t
		}
		opts, aerr := queryOpts(r)
		if aerr != nil {
			return aerr
		}
		ctx, cancel, aerr := withTimeout(ctx, r)
		if aerr != nil {
			return aerr
		}
		defer cancel()
		qs := r.FormValue("query")
		q, err := s.engine.NewInstantQuery(ctx, queryable{s}, opts, qs, ts)
		if err != nil {
			return badParam("query", err)
		}
		// The result's memory goes back to the engine's pools at Close:
		// encode it first.
		defer q.Close()
		return emit(q.Exec(ctx), qs)
	})
}

// emitFunc encodes a query's result; qs is the query text, for annotations.
type emitFunc func(res *promql.Result, qs string) *apiError

// queryFunc prepares and runs a query, passes its result to emit before
// releasing it, and returns emit's error or its own.
type queryFunc func(ctx context.Context, emit emitFunc) *apiError

// respond runs query under the life lock and writes its answer.
func (s *Source) respond(w http.ResponseWriter, r *http.Request, endpoint string, query queryFunc) {
	buf := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 8<<20 { // keep buffers of ordinary answers, not of huge ones
			bufPool.Put(buf)
		}
	}()
	b, aerr := s.answer(r.Context(), endpoint, query, (*buf)[:0])
	if aerr != nil {
		b = appendError((*buf)[:0], aerr)
	}
	*buf = b
	w.Header().Set("Content-Type", "application/json")
	if aerr != nil {
		w.WriteHeader(aerr.status())
	}
	if _, err := w.Write(b); err != nil {
		s.logger.Debug("embedded: writing answer failed", "endpoint", endpoint, "err", err)
	}
}

func (s *Source) answer(ctx context.Context, endpoint string, query queryFunc, b []byte) ([]byte, *apiError) {
	s.life.RLock()
	defer s.life.RUnlock()
	result := "success"
	defer func() { s.m.queries.WithLabelValues(endpoint, result).Inc() }()
	if s.closed {
		result = errUnavailable
		return nil, &apiError{errUnavailable, ErrClosed}
	}
	aerr := query(ctx, func(res *promql.Result, qs string) *apiError {
		if res.Err != nil {
			return execError(res.Err)
		}
		var err error
		if b, err = appendSuccess(b, res, qs); err != nil {
			return &apiError{errInternal, err}
		}
		return nil
	})
	if aerr != nil {
		result = aerr.typ
		return nil, aerr
	}
	return b, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// execError classifies an error from running a query, as Prometheus does.
func execError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{errCanceled, err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errTimeout, err}
	case errors.As(err, &storage):
		return &apiError{errInternal, err}
	}
	return &apiError{errExec, err}
}

// defaultQueryTime is the evaluation time of an instant query that names
// none: Options.Now, else the newest sample's time.
func (s *Source) defaultQueryTime() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	if _, newest, ok := s.Span(); ok {
		return newest
	}
	return time.Unix(0, 0).UTC()
}

func queryOpts(r *http.Request) (promql.QueryOpts, *apiError) {
	var lookback time.Duration
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, badParam("lookback_delta", err)
		}
		if d < 0 {
			return nil, badParam("lookback_delta", errors.New("must not be negative"))
		}
		lookback = d
	}
	// 0 means the engine's own lookback delta.
	return promql.NewPrometheusQueryOpts(false, lookback, nil), nil
}

// withTimeout applies the request's timeout parameter, if any, to ctx. The
// engine's QueryTimeout applies as well, whichever is shorter.
func withTimeout(ctx context.Context, r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	v := r.FormValue("timeout")
	if v == "" {
		return ctx, func() {}, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return nil, nil, badParam("timeout", err)
	}
	if d <= 0 {
		return nil, nil, badParam("timeout", errors.New("must be positive"))
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, nil
}

// parseTime reads a time as the Prometheus API writes it: Unix seconds with
// up to millisecond decimals, or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/1e3 {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		}
		sec, frac := math.Modf(f)
		ms := math.Round(frac * 1000)
		return time.Unix(int64(sec), int64(ms)*int64(time.Millisecond)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration reads a duration as seconds (possibly fractional) or in
// Prometheus's notation (5m, 1h30m).
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Second)
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
			return 0, fmt.Errorf("cannot parse %q to a valid duration: it overflows int64", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// appendSuccess writes a success answer for res.
func appendSuccess(b []byte, res *promql.Result, qs string) ([]byte, error) {
	b = append(b, `{"status":"success","data":{"resultType":`...)
	var err error
	switch v := res.Value.(type) {
	case promql.Matrix:
		b = appendString(b, string(parser.ValueTypeMatrix))
		b = append(b, `,"result":`...)
		b, err = appendMatrix(b, v)
	case promql.Vector:
		b = appendString(b, string(parser.ValueTypeVector))
		b = append(b, `,"result":`...)
		b, err = appendVector(b, v)
	case promql.Scalar:
		b = appendString(b, string(parser.ValueTypeScalar))
		b = append(b, `,"result":`...)
		b = appendPoint(b, v.T, v.V)
	case promql.String:
		b = appendString(b, string(parser.ValueTypeString))
		b = append(b, `,"result":[`...)
		b = appendTimestamp(b, v.T)
		b = append(b, ',')
		b = appendString(b, v.V)
		b = append(b, ']')
	default:
		return nil, fmt.Errorf("unexpected result type %T", res.Value)
	}
	if err != nil {
		return nil, err
	}
	b = append(b, '}')
	warnings, infos := annotations.Annotations(res.Warnings).AsStrings(qs, maxAnnotations, maxAnnotations)
	b = appendStrings(b, "warnings", warnings)
	b = appendStrings(b, "infos", infos)
	return append(b, '}'), nil
}

func appendError(b []byte, e *apiError) []byte {
	b = append(b, `{"status":"error","errorType":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"error":`...)
	b = appendString(b, e.err.Error())
	return append(b, '}')
}
