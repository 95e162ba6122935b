package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/canaryd/canaryd/metrics/companion"
)

// source is a Prometheus-compatible metrics source that makes series up:
// it answers /api/v1/query_range for the fleet template's queries with
// deterministic values computed from the metric, service, track and
// timestamp, so that no storage or PromQL evaluation stands between the
// daemon and its answers. It does not evaluate PromQL: it reads the
// selectors' metric name, service and track matchers and returns one
// series per service, labelled with the service when the query asks for
// several (a batched query) and unlabelled otherwise, as the template's
// aggregations would.
type source struct {
	requests atomic.Int64
	series   atomic.Int64
	errors   atomic.Int64
}

// sourceStats is what the source reports at /stats.
type sourceStats struct {
	Requests   int64   `json:"requests"`
	Series     int64   `json:"series"`
	Errors     int64   `json:"errors"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

func (s *source) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query_range", s.queryRange)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(sourceStats{
			Requests: s.requests.Load(), Series: s.series.Load(), Errors: s.errors.Load(), CPUSeconds: cpuSeconds(syscall.RUSAGE_SELF),
		})
	})
	return mux
}

// serveSource runs the source on a free loopback port and prints its URL.
func serveSource() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	s := &source{}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

func (s *source) fail(w http.ResponseWriter, code int, format string, args ...any) {
	s.errors.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": fmt.Sprintf(format, args...)})
}

func (s *source) queryRange(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	start, err1 := parseTime(r.Form.Get("start"))
	end, err2 := parseTime(r.Form.Get("end"))
	step, err3 := strconv.ParseFloat(r.Form.Get("step"), 64)
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 {
		s.fail(w, http.StatusBadRequest, "bad start, end or step")
		return
	}
	q, fresh, err := readJoined(r.Form.Get("query"))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	stepMs := int64(math.Round(step * 1000))
	n := len(q.services)
	if fresh != nil {
		n += len(fresh.services)
	}
	b := make([]byte, 0, 64+n*(48+int((end-start)/stepMs+1)*32))
	b = append(b, `{"status":"success","data":{"resultType":"matrix","result":[`...)
	b = q.appendSeries(b, start, end, stepMs, "")
	if fresh != nil {
		b = append(b, ',')
		b = fresh.appendSeries(b, start, end, stepMs, `"`+companion.Label+`":"`+companion.Value+`"`)
	}
	b = append(b, "]}}"...)
	s.series.Add(int64(n))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// appendSeries writes q's series over [start, end] (unix ms) to b, each
// labelled with extra (JSON members) besides its service.
func (q query) appendSeries(b []byte, start, end, stepMs int64, extra string) []byte {
	mh := hash(q.metric)
	th := hash(q.track)
	for i, svc := range q.services {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"metric":{`...)
		b = append(b, extra...)
		if q.batched {
			if extra != "" {
				b = append(b, ',')
			}
			b = append(b, `"service":`...)
			b = strconv.AppendQuote(b, svc)
		}
		b = append(b, `},"values":[`...)
		sh := hash(svc)
		for t := start; t <= end; t += stepMs {
			if t != start {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendFloat(b, float64(t)/1000, 'f', -1, 64)
			b = append(b, `,"`...)
			if q.timestamps {
				// A freshness companion: every step has a sample of its own.
				b = strconv.AppendFloat(b, float64(t)/1000, 'f', -1, 64)
			} else {
				b = strconv.AppendFloat(b, value(mh, sh, th, t), 'g', 8, 64)
			}
			b = append(b, `"]`...)
		}
		b = append(b, "]}"...)
	}
	return b
}

// value is the synthetic point of one series at t (unix ms): a level per
// metric and service, a slow wave shared by both tracks, and 1% noise of
// each track's own.
func value(metric, service, track uint64, t int64) float64 {
	level := 1 + float64((metric^service)%1000)/100
	wave := 1 + 0.2*math.Sin(float64(t)/60000+float64(service%628)/100)
	noise := float64(mix(metric^service^track^uint64(t))%20001)/1e6 - 0.01
	return level * wave * (1 + noise)
}

func hash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return mix(h.Sum64())
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func parseTime(s string) (int64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(math.Round(f * 1000)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// query is what the source reads from a query: the first selector's
// metric, and the services and track its matchers ask for.
type query struct {
	metric   string
	track    string
	services []string
	batched  bool
	// timestamps: the query asks for sample times (a freshness
	// companion, max(timestamp(...))), answered with each step's own time.
	timestamps bool
}

// readJoined reads a query, or a query joined with its freshness
// companion (companion.Join: Q or label_replace(C, ...)), which it
// returns as fresh.
func readJoined(text string) (q query, fresh *query, err error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return query{}, nil, err
	}
	if be, ok := expr.(*parser.BinaryExpr); ok && be.Op == parser.LOR {
		if c, ok := be.RHS.(*parser.Call); ok && c.Func.Name == "label_replace" && len(c.Args) == 5 {
			if l, ok := c.Args[1].(*parser.StringLiteral); ok && l.Val == companion.Label {
				if q, err = readExpr(be.LHS, text); err != nil {
					return query{}, nil, err
				}
				f, err := readExpr(c.Args[0], text)
				if err != nil {
					return query{}, nil, err
				}
				return q, &f, nil
			}
		}
	}
	q, err = readExpr(expr, text)
	return q, nil, err
}

// readExpr reads the first selector of expr (text, for errors).
func readExpr(expr parser.Node, text string) (query, error) {
	var q query
	var walkErr error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if c, ok := n.(*parser.Call); ok && c.Func.Name == "timestamp" {
			q.timestamps = true
		}
		vs, ok := n.(*parser.VectorSelector)
		if !ok || q.metric != "" {
			return nil
		}
		q.metric = vs.Name
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name == "track" && m.Type == labels.MatchEqual:
				q.track = m.Value
			case m.Name == "service" && m.Type == labels.MatchEqual:
				q.services = []string{m.Value}
			case m.Name == "service" && m.Type == labels.MatchRegexp:
				q.services, walkErr = alternatives(m.Value)
				q.batched = true
			}
		}
		return walkErr
	})
	if walkErr != nil {
		return query{}, walkErr
	}
	if q.metric == "" || len(q.services) == 0 {
		return query{}, fmt.Errorf("query %q: want a selector with a service matcher", text)
	}
	return q, nil
}

// alternatives returns the values of an alternation of regex-quoted
// literals, as the batching provider writes them: a|b\.c is a and b.c.
func alternatives(re string) ([]string, error) {
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(re); i++ {
		switch c := re[i]; c {
		case '\\':
			if i+1 == len(re) {
				return nil, fmt.Errorf("regex %q ends in a backslash", re)
			}
			i++
			cur.WriteByte(re[i])
		case '|':
			out = append(out, cur.String())
			cur.Reset()
		case '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$':
			return nil, fmt.Errorf("regex %q is not an alternation of literals", re)
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String()), nil
}
