package prometheus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canaryd/canaryd/metrics"
)

// What went wrong with a query, for errors.Is on a Fetch error. Only
// ErrTimeout, ErrServer and ErrRateLimited are retried.
var (
	// ErrUnreachable: no HTTP response at all (connection refused, DNS, TLS).
	ErrUnreachable = errors.New("prometheus unreachable")
	// ErrTimeout: an attempt took longer than the configured timeout.
	ErrTimeout = errors.New("timed out")
	// ErrBadQuery: Prometheus rejected the query (HTTP 400 or 422), or it
	// returns something canaryd cannot judge; the query must change.
	ErrBadQuery = errors.New("prometheus rejected the query")
	// ErrUnauthorized: HTTP 401, 403 or 407; the credentials must change.
	ErrUnauthorized = errors.New("prometheus refused the request")
	// ErrRateLimited: HTTP 429 on every attempt.
	ErrRateLimited = errors.New("prometheus rate limited the query")
	// ErrServer: HTTP 5xx on every attempt.
	ErrServer = errors.New("prometheus server error")
	// ErrBadResponse: an answer that is not a Prometheus API response (a
	// body that does not decode, an unexpected status or result type).
	ErrBadResponse = errors.New("bad response from prometheus")
)

// QueryError is the error Fetch returns for a query Prometheus did not
// answer usefully. errors.Is matches it against its Kind (one of the Err
// values above, or metrics.ErrMultipleSeries) and its cause.
type QueryError struct {
	Metric   string        // metric name from the config
	Role     metrics.Role  // baseline or canary
	Query    string        // the rendered PromQL
	URL      string        // the Prometheus server
	Kind     error         // what went wrong: ErrTimeout, ErrBadQuery, ...
	Status   int           // HTTP status of the last response; 0 if none came
	Attempts int           // requests made, retries included
	Timeout  time.Duration // the per-attempt timeout, for ErrTimeout
	Err      error         // the underlying error
}

// Error names the metric and role, says what happened and what to do, and
// shows the rendered query where the query is the likely culprit.
func (e *QueryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "query %s for %s: %v", e.Metric, e.Role, e.Kind)
	if e.Kind == ErrTimeout {
		fmt.Fprintf(&b, " after %s", e.Timeout)
	}
	var notes []string
	if e.Status != 0 {
		notes = append(notes, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.Attempts > 1 {
		notes = append(notes, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	}
	if e.Err != nil && e.Kind != ErrTimeout {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	switch e.Kind {
	case ErrUnreachable:
		fmt.Fprintf(&b, "; is Prometheus running at %s, and is global.prometheus.url right?", e.URL)
	case ErrTimeout:
		fmt.Fprintf(&b, "; raise global.prometheus.timeout or make the query cheaper; query: %s", e.Query)
	case ErrBadQuery, metrics.ErrMultipleSeries:
		fmt.Fprintf(&b, "; fix the metric's query: %s", e.Query)
	case ErrUnauthorized:
		b.WriteString("; check the credentials in global.prometheus (basic_auth, authorization, oauth2, tls_config)")
	case ErrRateLimited:
		b.WriteString("; lower global.prometheus.max_concurrency or raise the server's limits")
	case ErrServer:
		b.WriteString("; see the Prometheus server's logs")
	case ErrBadResponse:
		fmt.Fprintf(&b, "; is global.prometheus.url (%s) the Prometheus server's base URL, not a proxy or UI page?", e.URL)
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *QueryError) Unwrap() []error { return []error{e.Kind, e.Err} }

// retryable reports whether an attempt that failed with kind may be retried.
func retryable(kind error) bool {
	return kind == ErrTimeout || kind == ErrServer || kind == ErrRateLimited
}

// kindLabel is the value of the kind label of canaryd_prometheus_query_errors_total.
func kindLabel(kind error) string {
	switch kind {
	case ErrUnreachable:
		return "unreachable"
	case ErrTimeout:
		return "timeout"
	case ErrBadQuery:
		return "bad_query"
	case ErrUnauthorized:
		return "unauthorized"
	case ErrRateLimited:
		return "rate_limited"
	case ErrServer:
		return "server_error"
	case ErrBadResponse:
		return "bad_response"
	case metrics.ErrMultipleSeries:
		return "multiple_series"
	}
	return "canceled"
}

// errorKinds lists every kind label, so the counters exist from the start.
func errorKinds() []error {
	return []error{ErrUnreachable, ErrTimeout, ErrBadQuery, ErrUnauthorized, ErrRateLimited, ErrServer, ErrBadResponse, metrics.ErrMultipleSeries, context.Canceled}
}

// classify says what kind of failure err is, given the HTTP status of the
// last response (0 if none). It returns a cause fit for the error message
// that still unwraps to err.
func classify(err error, status int) (kind, cause error) {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		cause = apiError{apiErr}
		switch {
		case status == 400 || status == 422:
			return ErrBadQuery, cause
		case status == 401 || status == 403 || status == 407:
			return ErrUnauthorized, cause
		case status == 429:
			return ErrRateLimited, cause
		case status >= 500:
			return ErrServer, cause
		case apiErr.Type == v1.ErrTimeout:
			return ErrTimeout, cause
		case status/100 == 2 && (apiErr.Type == v1.ErrBadData || apiErr.Type == v1.ErrExec):
			return ErrBadQuery, cause
		}
		return ErrBadResponse, cause
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return ErrTimeout, err
	}
	return ErrUnreachable, err
}

// apiError shows client_golang's error with the start of the body when the
// body was not an API response (a proxy's error page, say).
type apiError struct{ err *v1.Error }

func (e apiError) Error() string {
	// Detail is set when the body was not an API response; then Type and Msg
	// only restate the HTTP status.
	if d := strings.Join(strings.Fields(e.err.Detail), " "); d != "" {
		const n = 200
		if len(d) > n {
			d = d[:n] + "..."
		}
		return fmt.Sprintf("body %q", d)
	}
	if e.err.Type == v1.ErrBadResponse {
		return e.err.Msg
	}
	return fmt.Sprintf("%s: %s", e.err.Type, e.err.Msg)
}

func (e apiError) Unwrap() error { return e.err }
