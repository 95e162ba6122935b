package prometheus

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// rangeQuerier is the one Prometheus call Source makes. It is our own rather
// than client_golang's v1.API so that an upstream signature change (v1.25
// added Infos to QueryRange's results) touches apiQuerier alone.
type rangeQuerier interface {
	// queryRange runs expr over r. warnings holds Prometheus's warnings and
	// infos; status is the HTTP status of the last response, 0 if none came.
	queryRange(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (v model.Value, warnings []string, status int, err error)
}

// apiQuerier runs range queries over client_golang's HTTP client (so its
// transport, authentication and TLS are used unchanged) and decodes the
// answers itself (decodeRange): client_golang's decoding reads every answer
// twice, and was a tenth of the daemon's CPU in a fleet benchmark.
type apiQuerier struct {
	client api.Client
}

// newAPIQuerier wraps an HTTP client so that the status of every response
// is seen (client_golang reports some statuses only inside error text).
func newAPIQuerier(address string, hc *http.Client) (*apiQuerier, error) {
	c := *hc
	c.Transport = statusRecorder{next: transportOrDefault(hc.Transport)}
	client, err := api.NewClient(api.Config{Address: address, Client: &c})
	if err != nil {
		return nil, err
	}
	return &apiQuerier{client: client}, nil
}

func (q *apiQuerier) queryRange(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (model.Value, []string, int, error) {
	var status atomic.Int32
	ctx = context.WithValue(ctx, statusKey{}, &status)
	resp, body, err := q.send(ctx, expr, r, timeout)
	if err != nil {
		return nil, nil, int(status.Load()), err
	}
	v, warnings, infos, err := decodeRange(resp, body)
	var notes []string
	if len(warnings)+len(infos) > 0 {
		notes = make([]string, 0, len(warnings)+len(infos))
		notes = append(notes, warnings...)
		for _, info := range infos {
			notes = append(notes, "info: "+info)
		}
	}
	return v, notes, int(status.Load()), err
}

// queryRangePath is the API endpoint of range queries.
const queryRangePath = "/api/v1/query_range"

// send makes the request client_golang's QueryRange makes: a form POST,
// repeated as a GET when the server refuses POSTs (403, 405 or 501). The
// timeout also goes to the server, which then stops evaluating a query
// nobody is waiting for.
func (q *apiQuerier) send(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (*http.Response, []byte, error) {
	u := q.client.URL(queryRangePath, nil)
	args := u.Query()
	if timeout > 0 {
		args.Set("timeout", timeout.String())
	}
	args.Set("query", expr)
	args.Set("start", formatTime(r.Start))
	args.Set("end", formatTime(r.End))
	args.Set("step", strconv.FormatFloat(r.Step.Seconds(), 'f', -1, 64))
	form := args.Encode()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Marks the POST idempotent, so that the transport may retry it on a
	// dropped connection as it would a GET; a nil value is not sent.
	req.Header["Idempotency-Key"] = nil
	resp, body, err := q.client.Do(ctx, req)
	if resp != nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		u.RawQuery = form
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, nil, err
		}
		return q.client.Do(ctx, req)
	}
	return resp, body, err
}

// formatTime writes t as Prometheus reads it: Unix seconds, with a fraction
// if any.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
}

type statusKey struct{}

// statusRecorder stores each response's status code where the request's
// context asks for it.
type statusRecorder struct {
	next http.RoundTripper
}

func (t statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		if p, ok := req.Context().Value(statusKey{}).(*atomic.Int32); ok {
			p.Store(int32(resp.StatusCode))
		}
	}
	return resp, err
}

func transportOrDefault(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}
