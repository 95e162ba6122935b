package prometheus

import (
	"context"
	"net/http"
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

// apiQuerier runs range queries through client_golang's HTTP API client.
type apiQuerier struct {
	api v1.API
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
	return &apiQuerier{api: v1.NewAPI(client)}, nil
}

func (q *apiQuerier) queryRange(ctx context.Context, expr string, r v1.Range, timeout time.Duration) (model.Value, []string, int, error) {
	var status atomic.Int32
	ctx = context.WithValue(ctx, statusKey{}, &status)
	// The timeout also goes to the server, which then stops evaluating a
	// query nobody is waiting for.
	v, warnings, infos, err := q.api.QueryRange(ctx, expr, r, v1.WithTimeout(timeout))
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
